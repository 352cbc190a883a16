//! [`NetworkTransport`]: calls to a HERO over gRPC, on the HTTP/2 connection this process shares
//! with every other stub of the same server.

use std::sync::Arc;

use http::uri::PathAndQuery;
use tokio_stream::StreamExt;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::client::handles::ClientSession;
use crate::client::transport::{
    Addressee, BoxFuture, Decode, Decoded, EncodedValues, OpenStream, OpenStreaming, OperationCall, Outgoing,
    OutgoingMessage, SessionKey, Transport,
};
use crate::error::{Error, Result};
use crate::interface::{AnyMessage, ItemStream, RequestItems};
use crate::limits::DEFAULT_MAX_MESSAGE_SIZE;
use crate::net::connection::Connection;
use crate::proto::attributes_client::AttributesClient;
use crate::proto::callbacks_client::CallbacksClient;
use crate::proto::operations_client::OperationsClient;
use crate::proto::registry_client::RegistryClient;
use crate::proto::{
    CallbackId, CallbackInfo, ConnectCallbackRequest, HandleStats, HandleStatsRequest, Operation, OperationId,
    WatchRequest,
};
use crate::wire::metadata::{NAME, REALM, SESSION};

/// Calls over one shared gRPC connection to the HERO's server.
pub(crate) struct NetworkTransport {
    pub(crate) endpoint: String,
    pub(crate) connection: Connection,
}

impl NetworkTransport {
    /// A gRPC client that takes and sends HERO-sized messages (tonic's default is 4 MiB).
    fn grpc(&self) -> tonic::client::Grpc<Connection> {
        self.connection
            .grpc()
            .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
            .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
    }

    fn callbacks(&self) -> CallbacksClient<Connection> {
        CallbacksClient::with_origin(self.connection.clone(), self.connection.origin())
    }
}

/// A request for a framework service about `hero` (named by the usual headers).
fn named<T>(hero: &Addressee, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let headers = request.metadata_mut().as_mut();
    headers.insert(NAME, hero.name_header.clone());
    headers.insert(REALM, hero.realm_header.clone());
    request
}

/// The gRPC request of one HERO call: its headers, session and deadline.
fn request_of<T>(call: &Outgoing<'_>, message: T) -> tonic::Request<T> {
    let mut request = named(call.hero, message);
    if let Some(session) = &call.session {
        request.metadata_mut().as_mut().insert(SESSION, session.clone());
    }
    if let Some(timeout) = call.timeout {
        request.set_timeout(timeout);
    }
    request
}

fn failed(status: tonic::Status) -> Error {
    Error::from_status(&status)
}

impl Transport for NetworkTransport {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn is_in_process(&self) -> bool {
        false
    }

    fn unary<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        decode: Decode,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        let (path, timeout) = (call.path, call.timeout);
        let request = request_of(&call, request);
        let mut grpc = self.grpc();
        Box::pin(async move {
            let reply = async move {
                grpc.ready().await?;
                grpc.unary(request, PathAndQuery::from_static(path), ErasedCodec { decode }).await
            };
            let reply = match timeout {
                None => reply.await,
                // The server enforces the deadline too (grpc-timeout); this covers a server that
                // stopped answering altogether.
                Some(timeout) => match tokio::time::timeout(timeout, reply).await {
                    Ok(reply) => reply,
                    Err(_) => return Err(Error::Timeout { message: format!("{path} took longer than {timeout:?}") }),
                },
            };
            reply.map(|reply| reply.into_inner() as AnyMessage).map_err(failed)
        })
    }

    fn server_stream<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        open: OpenStream,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        let request = request_of(&call, request);
        open(self.grpc(), request, call.path)
    }

    fn streaming<'a>(
        &'a self,
        call: Outgoing<'a>,
        requests: AnyMessage,
        open: OpenStreaming,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        let request = request_of(&call, requests);
        open(self.grpc(), request, call.path)
    }

    fn watch<'a>(
        &'a self,
        hero: &'a Addressee,
        interface: &str,
        attribute: &str,
    ) -> BoxFuture<'a, Result<EncodedValues>> {
        let request = named(hero, WatchRequest { interface: interface.to_owned(), attribute: attribute.to_owned() });
        let mut attributes = AttributesClient::with_origin(self.connection.clone(), self.connection.origin())
            .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE);
        Box::pin(async move {
            let values = attributes.watch(request).await.map_err(failed)?.into_inner();
            Ok(Box::pin(values.map(|value| value.map(|value| value.message).map_err(failed))) as EncodedValues)
        })
    }

    fn connect_callback<'a>(
        &'a self,
        hero: &'a Addressee,
        request: ConnectCallbackRequest,
    ) -> BoxFuture<'a, Result<CallbackInfo>> {
        Box::pin(async move {
            Ok(self.callbacks().connect_callback(named(hero, request)).await.map_err(failed)?.into_inner())
        })
    }

    fn list_callbacks<'a>(&'a self, hero: &'a Addressee) -> BoxFuture<'a, Result<Vec<CallbackInfo>>> {
        Box::pin(async move {
            Ok(self.callbacks().list_callbacks(named(hero, ())).await.map_err(failed)?.into_inner().callbacks)
        })
    }

    fn disconnect_callback<'a>(&'a self, hero: &'a Addressee, id: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.callbacks().disconnect_callback(named(hero, CallbackId { id })).await.map(drop).map_err(failed)
        })
    }

    fn operation<'a>(&'a self, hero: &'a Addressee, call: OperationCall) -> BoxFuture<'a, Result<Operation>> {
        let mut operations = OperationsClient::with_origin(self.connection.clone(), self.connection.origin())
            .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
            .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE);
        Box::pin(async move {
            let reply = match call {
                OperationCall::Start(request) => operations.start(named(hero, request)).await,
                OperationCall::Get(id) => operations.get(named(hero, OperationId { id })).await,
                OperationCall::Wait(id) => operations.wait(named(hero, OperationId { id })).await,
                OperationCall::Cancel(id) => operations.cancel(named(hero, OperationId { id })).await,
            };
            Ok(reply.map_err(failed)?.into_inner())
        })
    }

    fn watch_operation<'a>(&'a self, hero: &'a Addressee, id: String) -> BoxFuture<'a, Result<ItemStream<Operation>>> {
        let mut operations = OperationsClient::with_origin(self.connection.clone(), self.connection.origin())
            .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE);
        Box::pin(async move {
            let states = operations.watch(named(hero, OperationId { id })).await.map_err(failed)?.into_inner();
            Ok(Box::pin(states.map(|state| state.map_err(failed))) as ItemStream<Operation>)
        })
    }

    fn session_key(&self) -> SessionKey {
        (Some(tokio::runtime::Handle::current().id()), self.endpoint.clone())
    }

    fn open_session(&self) -> BoxFuture<'_, Result<Arc<ClientSession>>> {
        Box::pin(ClientSession::open_remote(&self.connection))
    }

    fn handle_stats(&self) -> BoxFuture<'_, Result<HandleStats>> {
        Box::pin(async move {
            let mut registry = RegistryClient::with_origin(self.connection.clone(), self.connection.origin());
            Ok(registry.get_handle_stats(HandleStatsRequest {}).await?.into_inner())
        })
    }
}

/// Opens an event subscription over gRPC, its frames decoded as `(missed, Option<M>)` (an
/// [`OpenStream`], chosen by the typed caller).
pub(crate) fn open_frames<M: prost::Message + Default + Send + Sync + 'static>(
    mut grpc: tonic::client::Grpc<Connection>,
    request: tonic::Request<Box<dyn OutgoingMessage>>,
    path: &'static str,
) -> BoxFuture<'static, Result<AnyMessage>> {
    Box::pin(async move {
        grpc.ready().await.map_err(failed)?;
        let frames = grpc.server_streaming(request, PathAndQuery::from_static(path), FramesCodec::<M>::default());
        let frames = frames.await.map_err(failed)?.into_inner();
        let frames = Box::pin(frames.map(|frame| frame.map_err(failed))) as ItemStream<(u64, Option<M>)>;
        Ok(Box::new(frames) as AnyMessage)
    })
}

/// Opens a server-streaming method's call over gRPC, its replies decoded as `M` (an
/// [`OpenStream`], chosen by the typed caller).
pub(crate) fn open_replies<M: prost::Message + Default + Send + Sync + 'static>(
    mut grpc: tonic::client::Grpc<Connection>,
    request: tonic::Request<Box<dyn OutgoingMessage>>,
    path: &'static str,
) -> BoxFuture<'static, Result<AnyMessage>> {
    Box::pin(async move {
        grpc.ready().await.map_err(failed)?;
        let codec = TypedCodec::<ErasedEncoder, M>::default();
        let replies = grpc.server_streaming(request, PathAndQuery::from_static(path), codec);
        let replies = replies.await.map_err(failed)?.into_inner();
        Ok(Box::new(Box::pin(replies.map(|reply| reply.map_err(failed))) as ItemStream<M>) as AnyMessage)
    })
}

/// Opens a client-streaming method's call over gRPC: the requests `Req` encoded as the caller's
/// stream yields them (HTTP/2 flow control holds the stream back when the server reads slowly),
/// the one reply decoded as `Rep` (an [`OpenStreaming`], chosen by the typed caller).
pub(crate) fn open_upload<Req, Rep>(
    mut grpc: tonic::client::Grpc<Connection>,
    request: tonic::Request<AnyMessage>,
    path: &'static str,
) -> BoxFuture<'static, Result<AnyMessage>>
where
    Req: prost::Message + Send + 'static,
    Rep: prost::Message + Default + Send + Sync + 'static,
{
    Box::pin(async move {
        let request = typed_requests::<Req>(request, path)?;
        grpc.ready().await.map_err(failed)?;
        let codec = TypedCodec::<crate::wire::codec::StreamEncoder<Req>, Rep>::default();
        let reply = grpc.client_streaming(request, PathAndQuery::from_static(path), codec).await;
        Ok(Box::new(reply.map_err(failed)?.into_inner()) as AnyMessage)
    })
}

/// Opens a bidirectional method's call over gRPC: requests `Req` out as the caller's stream
/// yields them, replies decoded as `Rep` as they come (an [`OpenStreaming`]).
pub(crate) fn open_bidi<Req, Rep>(
    mut grpc: tonic::client::Grpc<Connection>,
    request: tonic::Request<AnyMessage>,
    path: &'static str,
) -> BoxFuture<'static, Result<AnyMessage>>
where
    Req: prost::Message + Send + 'static,
    Rep: prost::Message + Default + Send + Sync + 'static,
{
    Box::pin(async move {
        let request = typed_requests::<Req>(request, path)?;
        grpc.ready().await.map_err(failed)?;
        let codec = TypedCodec::<crate::wire::codec::StreamEncoder<Req>, Rep>::default();
        let replies = grpc.streaming(request, PathAndQuery::from_static(path), codec).await;
        let replies = replies.map_err(failed)?.into_inner();
        Ok(Box::new(Box::pin(replies.map(|reply| reply.map_err(failed))) as ItemStream<Rep>) as AnyMessage)
    })
}

/// The typed caller's stream of requests, back out of the erased request.
fn typed_requests<Req: 'static>(
    request: tonic::Request<AnyMessage>,
    path: &str,
) -> Result<tonic::Request<RequestItems<Req>>> {
    let (metadata, extensions, requests) = request.into_parts();
    let requests = crate::client::transport::message_of::<RequestItems<Req>>(requests, path)?;
    Ok(tonic::Request::from_parts(metadata, extensions, requests))
}

/// Encodes requests with `Enc`, decodes replies `Rep`: the codec of streaming methods.
struct TypedCodec<Enc, Rep>(std::marker::PhantomData<fn(Enc) -> Rep>);

impl<Enc, Rep> Default for TypedCodec<Enc, Rep> {
    fn default() -> Self {
        TypedCodec(std::marker::PhantomData)
    }
}

impl<Enc, Rep> Codec for TypedCodec<Enc, Rep>
where
    Enc: Encoder<Error = tonic::Status> + Default + Send + 'static,
    Enc::Item: Send + 'static,
    Rep: prost::Message + Default + Send + Sync + 'static,
{
    type Encode = Enc::Item;
    type Decode = Rep;
    type Encoder = Enc;
    type Decoder = crate::wire::codec::StreamDecoder<Rep>;

    fn encoder(&mut self) -> Self::Encoder {
        Enc::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        crate::wire::codec::StreamDecoder::default()
    }
}

/// Encodes an erased request, decodes event frames of `M`.
struct FramesCodec<M>(std::marker::PhantomData<fn() -> M>);

impl<M> Default for FramesCodec<M> {
    fn default() -> Self {
        FramesCodec(std::marker::PhantomData)
    }
}

impl<M: prost::Message + Default + Send + Sync + 'static> Codec for FramesCodec<M> {
    type Encode = Box<dyn OutgoingMessage>;
    type Decode = (u64, Option<M>);
    type Encoder = ErasedEncoder;
    type Decoder = crate::wire::codec::FrameDecoder<M>;

    fn encoder(&mut self) -> Self::Encoder {
        ErasedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        crate::wire::codec::FrameDecoder::default()
    }
}

/// Encodes an erased request, decodes a unary reply with the typed caller's [`Decode`].
struct ErasedCodec {
    decode: Decode,
}

impl Codec for ErasedCodec {
    type Encode = Box<dyn OutgoingMessage>;
    type Decode = Decoded;
    type Encoder = ErasedEncoder;
    type Decoder = ErasedDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ErasedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ErasedDecoder { decode: self.decode }
    }
}

#[derive(Default)]
struct ErasedEncoder;

impl Encoder for ErasedEncoder {
    type Item = Box<dyn OutgoingMessage>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode_into(buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        crate::wire::codec::unary_buffers()
    }
}

struct ErasedDecoder {
    decode: Decode,
}

impl Decoder for ErasedDecoder {
    type Item = Decoded;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Decoded>, tonic::Status> {
        (self.decode)(buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        crate::wire::codec::unary_buffers()
    }
}
