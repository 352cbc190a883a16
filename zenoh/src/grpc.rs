//! Calls into the HERO's own gRPC server, with messages known only at run time: the face sends
//! each zenoh call as the gRPC call a Rust client would make (`heros-name`, `heros-realm`), so
//! routing, errors, limits and events are the server's own and nothing is done twice.
//!
//! Why not in process: the runtime's in-process transport hands generated message types across
//! (`AnyMessage`), which a `DynamicMessage` is not; going through the server's port costs one
//! loopback hop (~0.1 ms) and needs no change to the runtime.

use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes};
use heros_runtime::wire::{encode_header, MissedPrefix, NAME_HEADER, REALM_HEADER};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::Status;

use crate::error::{Error, Result};

/// One HERO on its server, reached over loopback.
#[derive(Clone)]
pub(crate) struct HeroChannel {
    channel: Channel,
    name: String,
    realm: String,
}

impl HeroChannel {
    pub(crate) async fn connect(address: SocketAddr, name: &str, realm: &str) -> Result<Self> {
        let uri = format!("http://{address}");
        let channel = tonic::transport::Endpoint::from_shared(uri.clone())
            .map_err(|e| Error::Zenoh(format!("bad server address {uri}: {e}")))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| Error::Hero(heros_runtime::Error::Unavailable { message: format!("{uri}: {e}") }))?;
        Ok(HeroChannel { channel, name: name.to_owned(), realm: realm.to_owned() })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(NAME_HEADER, ascii(&self.name));
        request.metadata_mut().insert(REALM_HEADER, ascii(&self.realm));
        request
    }

    fn grpc(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(heros_runtime::DEFAULT_MAX_MESSAGE_SIZE)
            .max_encoding_message_size(heros_runtime::DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// Calls the unary rpc at `path` with `request`; the reply decoded as `reply`.
    pub(crate) async fn unary(
        &self,
        path: &str,
        request: DynamicMessage,
        reply: &MessageDescriptor,
    ) -> Result<DynamicMessage> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| unavailable(&e))?;
        let path = path.parse().map_err(|e| Error::Protocol(format!("bad rpc path {path}: {e}")))?;
        let bytes = grpc
            .unary(self.request(request.encode_to_vec().into()), path, RawCodec)
            .await
            .map_err(|status| Error::Hero(heros_runtime::Error::from_status(&status)))?
            .into_inner();
        DynamicMessage::decode(reply.clone(), bytes)
            .map_err(|e| Error::Protocol(format!("the reply does not decode as {}: {e}", reply.full_name())))
    }

    /// Subscribes to the event at `path`: its messages, undecoded, with any missed-events
    /// notice already taken off (docs/PROTOCOL.md, Events).
    pub(crate) async fn subscribe(&self, path: &str, request: &MessageDescriptor) -> Result<tonic::Streaming<Bytes>> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| unavailable(&e))?;
        let path = path.parse().map_err(|e| Error::Protocol(format!("bad rpc path {path}: {e}")))?;
        let empty = DynamicMessage::new(request.clone()).encode_to_vec();
        let stream = grpc
            .server_streaming(self.request(empty.into()), path, RawCodec)
            .await
            .map_err(|status| Error::Hero(heros_runtime::Error::from_status(&status)))?
            .into_inner();
        Ok(stream)
    }
}

/// A name or realm as header value: percent-encoded by the runtime, so always visible ASCII.
fn ascii(value: &str) -> AsciiMetadataValue {
    AsciiMetadataValue::try_from(encode_header(value).as_bytes()).expect("percent-encoding leaves visible ASCII")
}

fn unavailable(error: &dyn std::fmt::Display) -> Error {
    Error::Hero(heros_runtime::Error::Unavailable { message: error.to_string() })
}

/// The event message in `bytes`, or `None` for a notice that only counts dropped events.
pub(crate) fn event_message(mut bytes: &[u8], message: &MessageDescriptor) -> Result<Option<DynamicMessage>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::Protocol(format!("an event does not decode as {}: {e}", message.full_name()))
    };
    match heros_runtime::wire::read_missed_prefix(&mut bytes).map_err(|e| bad(&e))? {
        MissedPrefix::Only(_) => return Ok(None),
        MissedPrefix::Before(_) | MissedPrefix::None => {}
    }
    DynamicMessage::decode(message.clone(), bytes).map(Some).map_err(|e| bad(&e))
}

/// Messages as bytes both ways: the face encodes and decodes with prost-reflect itself.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
