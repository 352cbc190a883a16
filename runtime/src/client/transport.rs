//! `Transport`: how a [`crate::Target`] reaches its HERO. Three implementations: over gRPC
//! ([`super::network::NetworkTransport`], one HTTP/2 connection shared per server), within the
//! process ([`super::in_process::InProcessTransport`], the HERO's server called directly, no
//! bytes, no socket), and through a [`super::foreign::ForeignTransport`] that another crate gives
//! (a HERO that is not a HEROS for Rust server; `super::foreign::Foreign`). `Target` holds one
//! as `Arc<dyn Transport>` and never asks which.
//!
//! The trait is object-safe, so messages cross it erased: a request as an
//! [`OutgoingMessage`] (which the network encodes and the process hands over as it is), a reply
//! as an [`AnyMessage`] that the typed caller takes back with [`message_of`] (or, from a foreign
//! transport, decodes: `foreign::reply_of`). The network side
//! decodes with a [`Decode`] function the typed caller picks, so no type is guessed there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use tonic::codec::{DecodeBuf, EncodeBuf};

use crate::client::handles::ClientSession;
use crate::error::{Error, Result};
use crate::interface::AnyMessage;
use crate::net::connection::Connection;
use crate::proto::{CallbackInfo, ConnectCallbackRequest, HandleStats, Operation, StartOperationRequest};

/// A future a transport returns (boxed: the trait is used as `dyn`).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens a server stream over gRPC and returns its typed `ItemStream` inside an [`AnyMessage`]:
/// a function the typed caller picks (`network::open_frames::<M>`), so that items are decoded
/// straight into their type, without a box per item.
pub(crate) type OpenStream = fn(
    tonic::client::Grpc<Connection>,
    tonic::Request<Box<dyn OutgoingMessage>>,
    &'static str,
) -> BoxFuture<'static, Result<AnyMessage>>;

/// Opens a call whose requests are a stream (a client-streaming or bidirectional method) over
/// gRPC: the request carries the typed caller's [`crate::interface::RequestItems`] inside an
/// [`AnyMessage`], and the reply (a message, or an `ItemStream` of them) comes back inside one;
/// a function the typed caller picks (`network::open_upload::<Req, Rep>`, `open_bidi`).
pub(crate) type OpenStreaming = fn(
    tonic::client::Grpc<Connection>,
    tonic::Request<AnyMessage>,
    &'static str,
) -> BoxFuture<'static, Result<AnyMessage>>;

/// A message decoded off the network, boxed (tonic wants what it hands over to be `Sync`).
pub(crate) type Decoded = Box<dyn std::any::Any + Send + Sync>;

/// Decodes one message of the type the typed caller expects (the network side).
pub(crate) type Decode = fn(&mut DecodeBuf<'_>) -> Result<Option<Decoded>, tonic::Status>;

/// The encoded value messages of a watched attribute; an `Err` when the server goes away.
pub(crate) type EncodedValues = Pin<Box<dyn tokio_stream::Stream<Item = Result<bytes::Bytes>> + Send>>;

/// The HERO a call is for: its name and realm, as strings and as the request headers that
/// carry them (encoded once per `Target`, not per call).
pub(crate) struct Addressee {
    pub(crate) name: String,
    pub(crate) realm: String,
    pub(crate) name_header: HeaderValue,
    pub(crate) realm_header: HeaderValue,
}

/// One call's particulars besides its message.
pub(crate) struct Outgoing<'a> {
    pub(crate) hero: &'a Addressee,
    /// The gRPC path, `/package.Service/Method`.
    pub(crate) path: &'static str,
    /// The caller's session with the server, for calls that pass or return handles.
    pub(crate) session: Option<HeaderValue>,
    /// How long the caller waits (sent as `grpc-timeout`, enforced on both sides).
    pub(crate) timeout: Option<Duration>,
}

/// A request message of some generated type, erased: encoded for the network, handed over as
/// it is within the process.
pub(crate) trait OutgoingMessage: Send + Sync + 'static {
    /// Encodes the message into `buf`, reserving its whole length first (see `wire::codec`).
    fn encode_into(&self, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status>;
    /// The message itself, for a HERO of this process.
    fn into_any(self: Box<Self>) -> AnyMessage;
    /// The message encoded, for a foreign transport (`client::foreign`).
    fn to_bytes(&self) -> bytes::Bytes;
}

impl<M: prost::Message + Send + Sync + 'static> OutgoingMessage for M {
    fn encode_into(&self, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.reserve(self.encoded_len());
        self.encode(buf).map_err(|error| tonic::Status::internal(format!("encoding: {error}")))
    }

    fn into_any(self: Box<Self>) -> AnyMessage {
        self
    }

    fn to_bytes(&self) -> bytes::Bytes {
        self.encode_to_vec().into()
    }
}

/// The key of a session cache slot: the tokio runtime of a network connection (a connection
/// lives on one runtime) or none in process, and the server's endpoint.
pub(crate) type SessionKey = (Option<tokio::runtime::Id>, String);

/// How calls reach one server, and the HERO on it.
pub(crate) trait Transport: Send + Sync + 'static {
    /// The endpoint of the server (`http://host:port`).
    fn endpoint(&self) -> &str;

    /// Whether calls stay within this process.
    fn is_in_process(&self) -> bool;

    /// One request, one reply; `decode` decodes the reply off the network.
    fn unary<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        decode: Decode,
    ) -> BoxFuture<'a, Result<AnyMessage>>;

    /// One request, a stream of replies (event subscriptions, server-streaming methods): an [`crate::interface::ItemStream`]
    /// inside an [`AnyMessage`]; `open` opens it over gRPC, typed for the caller's items.
    fn server_stream<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        open: OpenStream,
    ) -> BoxFuture<'a, Result<AnyMessage>>;

    /// A stream of requests (the typed caller's `RequestItems` inside `requests`), one reply or a
    /// stream of replies: client-streaming and bidirectional methods; `open` opens it over gRPC.
    fn streaming<'a>(
        &'a self,
        call: Outgoing<'a>,
        requests: AnyMessage,
        open: OpenStreaming,
    ) -> BoxFuture<'a, Result<AnyMessage>>;

    /// The encoded values of an attribute, from now on.
    fn watch<'a>(
        &'a self,
        hero: &'a Addressee,
        interface: &str,
        attribute: &str,
    ) -> BoxFuture<'a, Result<EncodedValues>>;

    /// Makes the HERO call a method of another HERO with each message of one of its events.
    fn connect_callback<'a>(
        &'a self,
        hero: &'a Addressee,
        request: ConnectCallbackRequest,
    ) -> BoxFuture<'a, Result<CallbackInfo>>;

    /// The HERO's callbacks.
    fn list_callbacks<'a>(&'a self, hero: &'a Addressee) -> BoxFuture<'a, Result<Vec<CallbackInfo>>>;

    /// Stops one of the HERO's callbacks.
    fn disconnect_callback<'a>(&'a self, hero: &'a Addressee, id: u64) -> BoxFuture<'a, Result<()>>;

    /// One call of `heros.v1.Operations` about the HERO's long-running operations.
    fn operation<'a>(&'a self, hero: &'a Addressee, call: OperationCall) -> BoxFuture<'a, Result<Operation>>;

    /// The operation `id` now, then at every change until it has ended.
    fn watch_operation<'a>(
        &'a self,
        hero: &'a Addressee,
        id: String,
    ) -> BoxFuture<'a, Result<crate::interface::ItemStream<Operation>>>;

    /// Where this process's session with the server is cached.
    fn session_key(&self) -> SessionKey;

    /// Opens a session with the server (held until the process or the server goes).
    fn open_session(&self) -> BoxFuture<'_, Result<Arc<ClientSession>>>;

    /// The server's handle table, as its registry reports it.
    fn handle_stats(&self) -> BoxFuture<'_, Result<HandleStats>>;
}

/// A call of `heros.v1.Operations` (but `Watch` and `List`).
pub(crate) enum OperationCall {
    Start(StartOperationRequest),
    Get(String),
    Wait(String),
    Cancel(String),
}

/// A reply or stream item of the type the typed caller expects. Over the network the caller's
/// own [`Decode`] made it; within the process the HERO's server did, and a server generated
/// from another version of the `.proto` (two crates in one process) can answer another type.
pub(crate) fn message_of<T: 'static>(message: AnyMessage, path: &str) -> Result<T> {
    message.downcast::<T>().map(|message| *message).map_err(|_| Error::Rpc {
        code: tonic::Code::Internal,
        message: format!(
            "the HERO's server in this process answers {path} with another message type than the stub's \
             (they were generated from different versions of the .proto)"
        ),
    })
}

/// [`Decode`] for a unary reply `M`.
pub(crate) fn decode_reply<M: prost::Message + Default + Send + Sync + 'static>(
    buf: &mut DecodeBuf<'_>,
) -> Result<Option<Decoded>, tonic::Status> {
    use tonic::codec::Decoder;
    let reply = crate::wire::codec::ReplyDecoder::<M>::default().decode(buf)?;
    Ok(reply.map(|reply| Box::new(reply) as Decoded))
}
