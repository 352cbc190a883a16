//! Codecs: prost, with three changes. A request whose bytes do not decode is the caller's fault
//! (INVALID_ARGUMENT naming the expected message), not the server's (tonic says INTERNAL), for
//! HERO methods and the framework's own services alike ([`FrameworkCodec`]). The
//! encoder reserves the message's whole length first: tonic's buffer starts at 8 KiB and
//! doubles, so a 16 MiB payload was copied about twice before it left. And the buffers of
//! unary calls start small ([`UNARY_BUFFER`]) instead of at tonic's 8 KiB.

use std::fmt;
use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use crate::error::Error;

/// Where a unary call's encode and decode buffers start (tonic: 8 KiB, allocated for every call
/// on both ends). That is above glibc's per-thread cache (1 KiB), so each took malloc's slower
/// path, for messages that are mostly a few dozen bytes (about 700 instructions per call on the
/// stub's side at 128 in flight; BENCHMARKS.md). Larger messages lose nothing: the encoder
/// reserves the message's length, and tonic's decoder reserves the length the message's header
/// announces.
const UNARY_BUFFER: usize = 256;

/// Buffer settings of unary calls: [`UNARY_BUFFER`], and tonic's yield threshold (which only
/// matters for streams of many messages).
pub(crate) fn unary_buffers() -> BufferSettings {
    BufferSettings::new(UNARY_BUFFER, 32 * 1024)
}

/// Encodes replies with `Enc`, decodes requests `D`, whose full protobuf name `N` gives (as
/// generated HERO code spells it, [`GivenName`], or as `prost::Name` does, [`FullName`]). Unary
/// methods encode with [`ReservingEncoder`], events with [`FrameEncoder`].
pub(crate) struct ServerCodec<Enc, D, N = GivenName> {
    request_type: N,
    _types: PhantomData<fn(Enc) -> D>,
}

impl<Enc, D> ServerCodec<Enc, D> {
    pub(crate) fn new(request_type: &'static str) -> Self {
        ServerCodec { request_type: GivenName(request_type), _types: PhantomData }
    }
}

/// A full protobuf name as generated code gives it. (A type of its own rather than `&'static
/// str`: a lifetime in the codec's type parameter trips the `Send` check of the call's future.)
#[derive(Clone, Copy)]
pub(crate) struct GivenName(&'static str);

impl fmt::Display for GivenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The codec of the framework's services (Registry, Sessions, Handles, Callbacks, Attributes),
/// which tonic's generated servers build with `default()` (runtime/build.rs, `codec_path`):
/// replies `T`, requests `U`, named by their `prost::Name`.
pub(crate) type FrameworkCodec<T, U> = ServerCodec<ReservingEncoder<T>, U, FullName<U>>;

impl<Enc, D> Default for ServerCodec<Enc, D, FullName<D>> {
    fn default() -> Self {
        ServerCodec { request_type: FullName(PhantomData), _types: PhantomData }
    }
}

/// The full protobuf name of `M`, written out only when an error needs it.
pub(crate) struct FullName<M>(PhantomData<fn() -> M>);

impl<M> Clone for FullName<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for FullName<M> {}

impl<M: prost::Name> fmt::Display for FullName<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", M::PACKAGE, M::NAME)
    }
}

impl<Enc, D, N> Codec for ServerCodec<Enc, D, N>
where
    Enc: Encoder<Error = Status> + Default + Send + 'static,
    Enc::Item: Send + 'static,
    D: Message + Default + Send + 'static,
    N: fmt::Display + Copy + Send + 'static,
{
    type Encode = Enc::Item;
    type Decode = D;
    type Encoder = Enc;
    type Decoder = RequestDecoder<D, N>;

    fn encoder(&mut self) -> Self::Encoder {
        Enc::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { request_type: self.request_type, _type: PhantomData }
    }
}

pub(crate) struct RequestDecoder<D, N> {
    request_type: N,
    _type: PhantomData<fn() -> D>,
}

impl<D: Message + Default, N: fmt::Display> Decoder for RequestDecoder<D, N> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(buf).map(Some).map_err(|error| {
            Error::invalid_argument(format!("request bytes do not decode as {}: {error}", self.request_type))
                .to_status()
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        unary_buffers()
    }
}

/// prost's decoding of a reply, with a small buffer ([`UNARY_BUFFER`]).
pub(crate) struct ReplyDecoder<D>(PhantomData<fn() -> D>);

impl<D> Default for ReplyDecoder<D> {
    fn default() -> Self {
        ReplyDecoder(PhantomData)
    }
}

impl<D: Message + Default> Decoder for ReplyDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        // INTERNAL, as tonic says: the server sent what it should not have.
        D::decode(buf).map(Some).map_err(|error| Status::internal(error.to_string()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        unary_buffers()
    }
}

/// prost's decoding of a stream's replies: [`ReplyDecoder`] with tonic's default buffer (8 KiB,
/// as a raw tonic client has) instead of [`UNARY_BUFFER`], which a stream of many small
/// messages outgrows at once.
#[derive(Default)]
pub(crate) struct StreamDecoder<D>(ReplyDecoder<D>);

impl<D: Message + Default> Decoder for StreamDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        self.0.decode(buf)
    }
}

/// prost's encoding into a buffer grown once to the message's length.
pub(crate) struct ReservingEncoder<E>(PhantomData<fn(E)>);

impl<E> Default for ReservingEncoder<E> {
    fn default() -> Self {
        ReservingEncoder(PhantomData)
    }
}

impl<E: Message> Encoder for ReservingEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode(buf).map_err(|error| Status::internal(format!("encoding: {error}")))
    }

    fn buffer_settings(&self) -> BufferSettings {
        unary_buffers()
    }
}

/// prost's encoding of the messages of a stream (streaming methods' replies, client streams'
/// requests): tonic's default buffers, which gather small messages into one HTTP/2 data frame
/// until 32 KiB, where [`ReservingEncoder`] sizes for one message.
pub(crate) struct StreamEncoder<E>(PhantomData<fn(E)>);

impl<E> Default for StreamEncoder<E> {
    fn default() -> Self {
        StreamEncoder(PhantomData)
    }
}

impl<E: Message> Encoder for StreamEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode(buf).map_err(|error| Status::internal(format!("encoding: {error}")))
    }
}

/// Field number of the missed-events count that a best-effort event message may carry ahead of
/// its own fields (docs/PROTOCOL.md, "Events"): the highest protobuf allows, so that no
/// interface's own field can be it, and other-language clients see it as an unknown field.
#[cfg_attr(not(test), allow(dead_code))] // spelled out for readers; MISSED_KEY is what is used
pub(crate) const MISSED_FIELD: u32 = 536_870_911;

/// The encoded key of [`MISSED_FIELD`] (varint wire type).
const MISSED_KEY: [u8; 5] = [0xF8, 0xFF, 0xFF, 0xFF, 0x0F];

/// Field number of a missed-events count sent on its own: the message holds nothing else and is
/// not an event (the subscriber caught up after losing some, and nothing new came since).
#[cfg_attr(not(test), allow(dead_code))] // spelled out for readers; MISSED_ONLY_KEY is what is used
pub(crate) const MISSED_ONLY_FIELD: u32 = 536_870_910;

/// The encoded key of [`MISSED_ONLY_FIELD`] (varint wire type).
const MISSED_ONLY_KEY: [u8; 5] = [0xF0, 0xFF, 0xFF, 0xFF, 0x0F];

/// What a best-effort event frame says about loss before its own fields (docs/PROTOCOL.md,
/// "Events").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedPrefix {
    /// Nothing lost: the bytes are the message.
    None,
    /// This many messages were dropped just before the message that follows.
    Before(u64),
    /// This many messages were dropped, and no message follows: the frame is only this notice.
    Only(u64),
}

/// Reads the missed count that may lead an event frame and leaves `bytes` at the message's own
/// fields. For clients that decode event frames themselves, such as the `heros` CLI.
pub fn read_missed_prefix(bytes: &mut &[u8]) -> Result<MissedPrefix, prost::DecodeError> {
    let only = bytes.starts_with(&MISSED_ONLY_KEY);
    if !only && !bytes.starts_with(&MISSED_KEY) {
        return Ok(MissedPrefix::None);
    }
    *bytes = &bytes[MISSED_KEY.len()..];
    let count = prost::encoding::decode_varint(bytes)?;
    Ok(if only { MissedPrefix::Only(count) } else { MissedPrefix::Before(count) })
}

/// Encodes event frames: the missed count first, when there is one.
pub(crate) struct FrameEncoder<M>(PhantomData<fn(M)>);

impl<M> Default for FrameEncoder<M> {
    fn default() -> Self {
        FrameEncoder(PhantomData)
    }
}

impl<M: Message> Encoder for FrameEncoder<M> {
    type Item = super::frame::Frame<M>;
    type Error = Status;

    fn encode(&mut self, frame: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let Some(message) = frame.message else {
            bytes::BufMut::put_slice(buf, &MISSED_ONLY_KEY);
            prost::encoding::encode_varint(frame.missed, buf);
            return Ok(());
        };
        buf.reserve(message.encoded_len() + 15);
        if frame.missed > 0 {
            bytes::BufMut::put_slice(buf, &MISSED_KEY);
            prost::encoding::encode_varint(frame.missed, buf);
        }
        message.encode(buf).map_err(|error| Status::internal(format!("encoding: {error}")))
    }
}

/// Decodes event messages `M` with their missed count (the subscriber's side).
pub(crate) struct FrameDecoder<M>(PhantomData<fn() -> M>);

impl<M> Default for FrameDecoder<M> {
    fn default() -> Self {
        FrameDecoder(PhantomData)
    }
}

impl<M: Message + Default> Decoder for FrameDecoder<M> {
    type Item = (u64, Option<M>);
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<(u64, Option<M>)>, Status> {
        use bytes::Buf;
        let frame = buf.copy_to_bytes(buf.remaining());
        let mut rest: &[u8] = &frame;
        let missed = match read_missed_prefix(&mut rest)
            .map_err(|e| Status::internal(format!("bad missed-events count: {e}")))?
        {
            MissedPrefix::Only(missed) => return Ok(Some((missed, None))),
            MissedPrefix::Before(missed) => missed,
            MissedPrefix::None => 0,
        };
        // Sliced out of the frame, so that `bytes` fields share it instead of being copied.
        let message = M::decode(frame.slice(frame.len() - rest.len()..))
            .map_err(|e| Status::internal(format!("event does not decode: {e}")))?;
        Ok(Some((missed, Some(message))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missed_key_is_the_missed_field_as_a_varint() {
        let mut key = Vec::new();
        prost::encoding::encode_key(MISSED_FIELD, prost::encoding::WireType::Varint, &mut key);
        assert_eq!(key, MISSED_KEY);
        key.clear();
        prost::encoding::encode_key(MISSED_ONLY_FIELD, prost::encoding::WireType::Varint, &mut key);
        assert_eq!(key, MISSED_ONLY_KEY);
    }
}

/// Sends a message that is already encoded and ignores the reply's content: event callbacks
/// forward an event's bytes to a method whose request type is the event's message type.
#[derive(Clone, Copy, Default)]
pub(crate) struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = bytes::Bytes;
    type Decode = ();
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = bytes::Bytes;
    type Error = Status;

    fn encode(&mut self, item: bytes::Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put(buf, item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        bytes::Buf::advance(buf, bytes::Buf::remaining(buf));
        Ok(Some(()))
    }
}
