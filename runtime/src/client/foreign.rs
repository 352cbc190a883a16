//! [`ForeignTransport`]: how a generated typed stub reaches a HERO that is not served by HEROS for
//! Rust (heros-zenoh's transport reaches a Python HERO over zenoh with it). A foreign transport
//! sees each call as its gRPC path and its encoded request, and answers with the encoded reply:
//! the typed stub and [`crate::Target`] work over it unchanged ([`crate::Target::foreign`]).
//!
//! The internal `Transport` trait stays private: it speaks tonic and the server's in-process
//! types. This file adapts one to the other, and answers what only a HEROS server has (handles,
//! callbacks, operations, attribute watches, client streams) with `Unimplemented`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_stream::StreamExt;

use crate::client::handles::ClientSession;
use crate::client::transport::{
    message_of, Addressee, BoxFuture, Decode, EncodedValues, OpenStream, OpenStreaming, OperationCall, Outgoing,
    OutgoingMessage, SessionKey, Transport,
};
use crate::error::{Error, Result};
use crate::interface::{AnyMessage, ItemStream};
use crate::proto::{CallbackInfo, ConnectCallbackRequest, HandleStats, Operation};

/// A future a foreign transport returns.
pub type ForeignFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The encoded messages of an event, in the order they come; an `Err` ends the subscription.
pub type EncodedMessages = Pin<Box<dyn tokio_stream::Stream<Item = Result<Bytes>> + Send>>;

/// A way to reach a HERO that is not a HEROS for Rust server, for a [`crate::Target`] (see
/// [`crate::Target::foreign`]) and so for any generated `<Service>Remote` stub.
pub trait ForeignTransport: Send + Sync + 'static {
    /// Where calls go, for people (what [`crate::Target::endpoint`] shows), e.g.
    /// `zenoh:@object/heros/oven`.
    fn endpoint(&self) -> &str;

    /// One unary rpc (a method, or an attribute's get or set): `path` is
    /// `/package.Service/Method`, `request` the encoded request message; the answer is the
    /// encoded reply message.
    fn unary<'a>(&'a self, path: &'static str, request: Bytes, timeout: Option<Duration>) -> ForeignFuture<'a, Bytes>;

    /// Subscribes to the event `path`: the messages the HERO emits from now on, encoded.
    fn subscribe<'a>(&'a self, path: &'static str) -> ForeignFuture<'a, EncodedMessages>;
}

/// A reply still encoded, as a foreign transport gives it; [`reply_of`] decodes it.
struct Encoded(Bytes);

/// An event's messages still encoded; [`frames_of`] decodes them.
struct EncodedFrames(EncodedMessages);

/// The reply of a unary call, from any transport: decoded here when a foreign transport gave it
/// encoded, else the message the network or the process made.
pub(crate) fn reply_of<M: prost::Message + Default + 'static>(reply: AnyMessage, path: &str) -> Result<M> {
    match reply.downcast::<Encoded>() {
        Ok(encoded) => decode(encoded.0, path),
        Err(reply) => message_of::<M>(reply, path),
    }
}

/// The frames `(missed, message)` of an event subscription, from any transport.
pub(crate) fn frames_of<M>(frames: AnyMessage, path: &'static str) -> Result<ItemStream<(u64, Option<M>)>>
where
    M: prost::Message + Default + Send + 'static,
{
    match frames.downcast::<EncodedFrames>() {
        // A foreign HERO's event drops nothing it knows of: nothing missed per frame.
        Ok(encoded) => Ok(Box::pin(encoded.0.map(move |item| Ok((0, Some(decode::<M>(item?, path)?)))))),
        Err(frames) => message_of::<ItemStream<(u64, Option<M>)>>(frames, path),
    }
}

fn decode<M: prost::Message + Default>(bytes: Bytes, path: &str) -> Result<M> {
    M::decode(bytes).map_err(|error| Error::Rpc {
        code: tonic::Code::Internal,
        message: format!("the reply to {path} from a foreign transport is not the stub's message: {error}"),
    })
}

fn unimplemented<T: Send + 'static>(endpoint: &str, what: &str) -> BoxFuture<'static, Result<T>> {
    let message = format!("{what} needs a HEROS for Rust server; {endpoint} is reached by a foreign transport");
    Box::pin(std::future::ready(Err(Error::Rpc { code: tonic::Code::Unimplemented, message })))
}

/// The internal transport of a [`crate::Target`] over a [`ForeignTransport`].
pub(crate) struct Foreign(pub(crate) Arc<dyn ForeignTransport>);

impl Transport for Foreign {
    fn endpoint(&self) -> &str {
        self.0.endpoint()
    }

    fn is_in_process(&self) -> bool {
        false
    }

    fn unary<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        _decode: Decode,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        if call.session.is_some() {
            return unimplemented(self.endpoint(), &format!("{} (it passes or returns handles)", call.path));
        }
        let reply = self.0.unary(call.path, request.to_bytes(), call.timeout);
        Box::pin(async move { Ok(Box::new(Encoded(reply.await?)) as AnyMessage) })
    }

    fn server_stream<'a>(
        &'a self,
        call: Outgoing<'a>,
        _request: Box<dyn OutgoingMessage>,
        _open: OpenStream,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        // Events come here; a server-streaming method too, which the foreign side refuses.
        let messages = self.0.subscribe(call.path);
        Box::pin(async move { Ok(Box::new(EncodedFrames(messages.await?)) as AnyMessage) })
    }

    fn streaming<'a>(
        &'a self,
        call: Outgoing<'a>,
        _requests: AnyMessage,
        _open: OpenStreaming,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        unimplemented(self.endpoint(), &format!("{} (a stream of requests)", call.path))
    }

    fn watch<'a>(
        &'a self,
        _hero: &'a Addressee,
        _interface: &str,
        attribute: &str,
    ) -> BoxFuture<'a, Result<EncodedValues>> {
        unimplemented(self.endpoint(), &format!("watching the attribute {attribute}"))
    }

    fn connect_callback<'a>(
        &'a self,
        _hero: &'a Addressee,
        _request: ConnectCallbackRequest,
    ) -> BoxFuture<'a, Result<CallbackInfo>> {
        unimplemented(self.endpoint(), "a callback")
    }

    fn list_callbacks<'a>(&'a self, _hero: &'a Addressee) -> BoxFuture<'a, Result<Vec<CallbackInfo>>> {
        unimplemented(self.endpoint(), "a callback")
    }

    fn disconnect_callback<'a>(&'a self, _hero: &'a Addressee, _id: u64) -> BoxFuture<'a, Result<()>> {
        unimplemented(self.endpoint(), "a callback")
    }

    fn operation<'a>(&'a self, _hero: &'a Addressee, _call: OperationCall) -> BoxFuture<'a, Result<Operation>> {
        unimplemented(self.endpoint(), "a long-running operation")
    }

    fn watch_operation<'a>(
        &'a self,
        _hero: &'a Addressee,
        _id: String,
    ) -> BoxFuture<'a, Result<ItemStream<Operation>>> {
        unimplemented(self.endpoint(), "a long-running operation")
    }

    fn session_key(&self) -> SessionKey {
        (None, self.endpoint().to_owned())
    }

    fn open_session(&self) -> BoxFuture<'_, Result<Arc<ClientSession>>> {
        unimplemented(self.endpoint(), "a handle")
    }

    fn handle_stats(&self) -> BoxFuture<'_, Result<HandleStats>> {
        unimplemented(self.endpoint(), "a handle")
    }
}
