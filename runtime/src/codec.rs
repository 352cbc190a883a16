//! Codecs: prost, with two changes. A request whose bytes do not decode is the caller's fault
//! (INVALID_ARGUMENT naming the expected message), not the server's (tonic says INTERNAL). And
//! the encoder reserves the message's whole length first: tonic's buffer starts at 8 KiB and
//! doubles, so a 16 MiB payload was copied about twice before it left.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder};

use crate::error::Error;

/// Encodes replies `E`, decodes requests `D` (full protobuf name `request_type`).
pub(crate) struct ServerCodec<E, D> {
    request_type: &'static str,
    _types: PhantomData<fn(E) -> D>,
}

impl<E, D> ServerCodec<E, D> {
    pub(crate) fn new(request_type: &'static str) -> Self {
        ServerCodec { request_type, _types: PhantomData }
    }
}

impl<E, D> Codec for ServerCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ReservingEncoder<E>;
    type Decoder = RequestDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        ReservingEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { request_type: self.request_type, _type: PhantomData }
    }
}

pub(crate) struct RequestDecoder<D> {
    request_type: &'static str,
    _type: PhantomData<fn() -> D>,
}

impl<D: Message + Default> Decoder for RequestDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(buf).map(Some).map_err(|error| {
            Error::invalid_argument(format!("request bytes do not decode as {}: {error}", self.request_type))
                .to_status()
        })
    }
}

/// Encodes requests `E`, decodes replies `D` (the stubs' side).
pub(crate) struct ClientCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> Default for ClientCodec<E, D> {
    fn default() -> Self {
        ClientCodec(PhantomData)
    }
}

impl<E, D> Codec for ClientCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ReservingEncoder<E>;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        ReservingEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<E, D>::default().decoder()
    }
}

/// prost's encoding into a buffer grown once to the message's length.
pub(crate) struct ReservingEncoder<E>(PhantomData<fn(E)>);

impl<E: Message> Encoder for ReservingEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode(buf).map_err(|error| Status::internal(format!("encoding: {error}")))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
