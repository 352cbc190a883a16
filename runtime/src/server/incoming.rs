//! How a call reaches a HERO's server: [`OverNetwork`] (a gRPC request to decode, its reply
//! encoded) or [`InProcess`] (a stub of this process hands over its request message; the reply
//! message goes back as it is). Generated code is written once, generic over [`Incoming`]; the
//! compiler makes one copy per kind, so neither path pays for the other and no state of one can
//! reach the other.

use std::future::Future;
use std::pin::Pin;

use http::HeaderValue;

use std::time::Instant;

use tokio_stream::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::events::event::Frame;
use crate::interface::{AnyMessage, ItemStream, RequestItems, Streaming};
use crate::server::call_context::{CallContext, CallScope, Scoped};
use crate::wire::codec::{FrameEncoder, ReservingEncoder, ServerCodec, StreamEncoder};
use crate::wire::metadata::SESSION;

/// The future of one call's reply, in the form its [`Incoming`] kind answers.
pub type ReplyFuture<R> = Pin<Box<dyn Future<Output = R> + Send>>;

/// The items of a server stream, as a HERO's server produces them.
pub trait FrameStream<M>: tokio_stream::Stream<Item = Result<Frame<M>, tonic::Status>> + Send + 'static {}

impl<M, S: tokio_stream::Stream<Item = Result<Frame<M>, tonic::Status>> + Send + 'static> FrameStream<M> for S {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::OverNetwork {}
    impl Sealed for super::InProcess {}
    impl Sealed for super::AsOperation {}
}

/// The way a call came in; implemented by [`OverNetwork`] and [`InProcess`] only.
pub trait Incoming: sealed::Sealed + Send + Sized + 'static {
    /// What the caller gets back.
    type Reply: Send + 'static;

    /// The caller's session header, if it sent one.
    #[doc(hidden)]
    fn session(&self) -> Option<&HeaderValue>;

    /// Serves a unary rpc: the request in, `method`'s reply or error out.
    #[doc(hidden)]
    fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static;

    /// Serves a server-streaming method: one request in, the stream `method` returns out.
    #[doc(hidden)]
    fn server_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static;

    /// Serves a client-streaming method: the caller's stream of requests in, one reply out.
    #[doc(hidden)]
    fn client_streaming<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static;

    /// Serves a bidirectional-streaming method: the caller's stream in, `method`'s stream out.
    #[doc(hidden)]
    fn bidi_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static;

    /// Serves a server stream of event frames (the request is read and dropped).
    #[doc(hidden)]
    fn frames<Req, M, S>(self, request_type: &'static str, frames: S) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Clone + Send + Sync + 'static,
        S: FrameStream<M>;

    /// The answer to a call that failed before it reached the HERO.
    #[doc(hidden)]
    fn refuse(error: Error) -> Self::Reply;
}

/// A call over gRPC: the HTTP request, and the largest message the server takes.
pub struct OverNetwork {
    pub(crate) request: http::Request<tonic::body::Body>,
    pub(crate) max_message_size: usize,
}

impl Incoming for OverNetwork {
    type Reply = http::Response<tonic::body::Body>;

    fn session(&self) -> Option<&HeaderValue> {
        self.request.headers().get(SESSION)
    }

    fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        let OverNetwork { request, max_message_size: size } = self;
        let scope = CallScope::new(deadline_of(&request), None);
        Box::pin(Scoped::new(scope, async move {
            let codec = ServerCodec::<ReservingEncoder<Rep>, Req>::new(request_type);
            let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
            // A request above `size` never gets here: the server's receiving body refuses its
            // prefix first (RESOURCE_EXHAUSTED, LIMIT_REACHED), so tonic's own check is a backstop.
            grpc.unary(UnaryFn(Some(method)), request).await
        }))
    }

    fn server_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let OverNetwork { request, max_message_size: size } = self;
        let context = CallContext::new(deadline_of(&request), None);
        Box::pin(async move {
            let codec = ServerCodec::<StreamEncoder<Rep>, Req>::new(request_type);
            let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
            let method = move |request: Req| method(request);
            grpc.server_streaming(StreamingFn { method: Some(method), context }, request).await
        })
    }

    fn client_streaming<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        let OverNetwork { request, max_message_size: size } = self;
        let scope = CallScope::new(deadline_of(&request), None);
        Box::pin(Scoped::new(scope, async move {
            let codec = ServerCodec::<ReservingEncoder<Rep>, Req>::new(request_type);
            let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
            grpc.client_streaming(UnaryFn(Some(move |requests| method(requests_of(requests)))), request).await
        }))
    }

    fn bidi_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let OverNetwork { request, max_message_size: size } = self;
        let context = CallContext::new(deadline_of(&request), None);
        Box::pin(async move {
            let codec = ServerCodec::<StreamEncoder<Rep>, Req>::new(request_type);
            let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
            let method = move |requests: tonic::Streaming<Req>| method(requests_of(requests));
            grpc.streaming(StreamingFn { method: Some(method), context }, request).await
        })
    }

    fn frames<Req, M, S>(self, request_type: &'static str, frames: S) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Clone + Send + Sync + 'static,
        S: FrameStream<M>,
    {
        let OverNetwork { request, max_message_size: size } = self;
        Box::pin(async move {
            let codec = ServerCodec::<FrameEncoder<M>, Req>::new(request_type);
            let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
            grpc.server_streaming(StreamFn(Some(frames)), request).await
        })
    }

    fn refuse(error: Error) -> Self::Reply {
        error.to_status().into_http()
    }
}

/// A call from a stub of this process: its request message and its session.
pub struct InProcess {
    pub(crate) message: AnyMessage,
    pub(crate) session: Option<HeaderValue>,
    /// When the caller stops waiting (the stub's timeout).
    pub(crate) deadline: Option<Instant>,
}

impl Incoming for InProcess {
    /// The reply message (or, for a stream, an [`ItemStream`]), or the error itself.
    type Reply = Result<AnyMessage>;

    fn session(&self) -> Option<&HeaderValue> {
        self.session.as_ref()
    }

    fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        let scope = CallScope::new(self.deadline, None);
        Box::pin(Scoped::new(scope, async move {
            let request = request_of::<Req>(self.message, request_type)?;
            method(request).await.map(|reply| Box::new(reply) as AnyMessage)
        }))
    }

    fn server_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let context = CallContext::new(self.deadline, None);
        Box::pin(async move {
            let request = request_of::<Req>(self.message, request_type)?;
            let replies = Scoped::new(CallScope::of(context.clone()), method(request)).await?;
            Ok(Box::new(Box::pin(Scoped::new(CallScope::of(context), replies)) as ItemStream<Rep>) as AnyMessage)
        })
    }

    fn client_streaming<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        let scope = CallScope::new(self.deadline, None);
        Box::pin(Scoped::new(scope, async move {
            let requests = request_of::<RequestItems<Req>>(self.message, request_type)?;
            method(Box::pin(requests.map(Ok))).await.map(|reply| Box::new(reply) as AnyMessage)
        }))
    }

    fn bidi_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let context = CallContext::new(self.deadline, None);
        Box::pin(async move {
            let requests = request_of::<RequestItems<Req>>(self.message, request_type)?;
            let replies = Scoped::new(CallScope::of(context.clone()), method(Box::pin(requests.map(Ok)))).await?;
            Ok(Box::new(Box::pin(Scoped::new(CallScope::of(context), replies)) as ItemStream<Rep>) as AnyMessage)
        })
    }

    fn frames<Req, M, S>(self, request_type: &'static str, frames: S) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Clone + Send + Sync + 'static,
        S: FrameStream<M>,
    {
        Box::pin(async move {
            request_of::<Req>(self.message, request_type)?;
            // The emitted message itself, shared between subscribers and cloned only when
            // another one still holds it: no encoding within the process.
            let items = tokio_stream::StreamExt::map(frames, |frame| match frame {
                Ok(frame) => Ok((frame.missed, frame.message.map(crate::events::event::Payload::into_owned))),
                Err(status) => Err(Error::from_status(&status)),
            });
            Ok(Box::new(Box::pin(items) as ItemStream<(u64, Option<M>)>) as AnyMessage)
        })
    }

    fn refuse(error: Error) -> Self::Reply {
        Err(error)
    }
}

/// A call started as a long-running operation (`heros.v1.Operations/Start`, from the network or
/// from a stub of this process): its request encoded, its reply encoded to be kept with the
/// operation, and the context its progress reports go through. Only unary methods run so.
pub struct AsOperation {
    pub(crate) request: bytes::Bytes,
    pub(crate) scope: CallScope,
}

/// The answer of an [`AsOperation`] call to a method that is not unary.
fn not_unary<T: Send + 'static>() -> ReplyFuture<Result<T>> {
    Box::pin(std::future::ready(Err(Error::invalid_argument("only unary methods can run as operations"))))
}

impl Incoming for AsOperation {
    /// The reply message encoded, or the error.
    type Reply = Result<bytes::Bytes>;

    fn session(&self) -> Option<&HeaderValue> {
        None
    }

    fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        let AsOperation { request, scope } = self;
        Box::pin(Scoped::new(scope, async move {
            let request = Req::decode(request).map_err(|error| {
                Error::invalid_argument(format!("the operation's request is not a valid {request_type}: {error}"))
            })?;
            let reply = method(request).await?;
            Ok(reply.encode_to_vec().into())
        }))
    }

    fn server_streaming<Req, Rep, S, F, Fut>(self, _: &'static str, _: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        not_unary()
    }

    fn client_streaming<Req, Rep, F, Fut>(self, _: &'static str, _: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        not_unary()
    }

    fn bidi_streaming<Req, Rep, S, F, Fut>(self, _: &'static str, _: F) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        not_unary()
    }

    fn frames<Req, M, S>(self, _: &'static str, _: S) -> ReplyFuture<Self::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Clone + Send + Sync + 'static,
        S: FrameStream<M>,
    {
        not_unary()
    }

    fn refuse(error: Error) -> Self::Reply {
        Err(error)
    }
}

/// The request message of an in-process call. A stub built from another version of the
/// interface's `.proto` than the HERO's server (two crates in one process) can pass another type.
fn request_of<Req: 'static>(message: AnyMessage, request_type: &str) -> Result<Req> {
    message.downcast::<Req>().map(|request| *request).map_err(|_| {
        Error::invalid_argument(format!(
            "an in-process call passed a message that is not this server's {request_type} (the stub and the \
             HERO were generated from different versions of the .proto)"
        ))
    })
}

/// The caller's deadline, from the `grpc-timeout` it sent.
fn deadline_of<B>(request: &http::Request<B>) -> Option<Instant> {
    crate::server::serving::grpc_timeout(request.headers()).map(|timeout| Instant::now() + timeout)
}

/// A client's stream of requests as the skeleton takes it.
fn requests_of<Req: Send + 'static>(requests: tonic::Streaming<Req>) -> Streaming<Req> {
    Box::pin(requests.map(|request| request.map_err(|status| Error::from_status(&status))))
}

/// A method that returns a stream, as tonic's `ServerStreamingService` or `StreamingService`
/// (tonic calls it exactly once per request). The method's future and its stream run with the
/// call's context; the stream, once the caller has it, ends the call when it is dropped.
struct StreamingFn<F> {
    method: Option<F>,
    context: CallContext,
}

impl<F> StreamingFn<F> {
    fn start<In, Rep, S, Fut>(&mut self, request: In) -> StreamingFuture<S>
    where
        In: Send + 'static,
        Rep: Send + 'static,
        S: Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(In) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let method = self.method.take();
        let context = self.context.clone();
        Box::pin(async move {
            let method = method.ok_or_else(|| tonic::Status::internal("streaming method called twice"))?;
            let replies =
                Scoped::new(CallScope::of(context.clone()), method(request)).await.map_err(|e| e.to_status())?;
            Ok(tonic::Response::new(Scoped::new(CallScope::of(context), StatusItems { replies })))
        })
    }
}

pin_project_lite::pin_project! {
    /// A streaming method's replies with its errors as tonic's statuses. A type of its own, not
    /// a boxed `map`: tonic's encoder then polls it without a call through a vtable per message,
    /// which showed in the server stream of small messages (BENCHMARKS.md, issue 15).
    struct StatusItems<S> {
        #[pin]
        replies: S,
    }
}

impl<Rep, S: Stream<Item = Result<Rep>>> Stream for StatusItems<S> {
    type Item = Result<Rep, tonic::Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.project().replies.poll_next(cx).map(|reply| reply.map(|reply| reply.map_err(|e| e.to_status())))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.replies.size_hint()
    }
}

/// A streaming method's replies as tonic sends them: with the call's context current while the
/// method's stream is polled.
type ReplyStream<S> = Scoped<StatusItems<S>>;

type StreamingFuture<S> = Pin<Box<dyn Future<Output = Result<tonic::Response<ReplyStream<S>>, tonic::Status>> + Send>>;

impl<Req, Rep, S, F, Fut> tonic::server::ServerStreamingService<Req> for StreamingFn<F>
where
    Req: Send + 'static,
    Rep: Send + 'static,
    S: Stream<Item = Result<Rep>> + Send + 'static,
    F: FnOnce(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<S>> + Send + 'static,
{
    type Response = Rep;
    type ResponseStream = ReplyStream<S>;
    type Future = StreamingFuture<S>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        self.start(request.into_inner())
    }
}

impl<Req, Rep, S, F, Fut> tonic::server::StreamingService<Req> for StreamingFn<F>
where
    Req: Send + 'static,
    Rep: Send + 'static,
    S: Stream<Item = Result<Rep>> + Send + 'static,
    F: FnOnce(tonic::Streaming<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<S>> + Send + 'static,
{
    type Response = Rep;
    type ResponseStream = ReplyStream<S>;
    type Future = StreamingFuture<S>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<Req>>) -> Self::Future {
        self.start(request.into_inner())
    }
}

/// A `FnOnce` as tonic's `UnaryService` (tonic calls it exactly once per request).
struct UnaryFn<F>(Option<F>);

impl<Req, Rep, F, Fut> tonic::server::UnaryService<Req> for UnaryFn<F>
where
    Req: Send + 'static,
    Rep: Send + 'static,
    F: FnOnce(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Rep>> + Send + 'static,
{
    type Response = Rep;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Rep>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let method = self.0.take();
        Box::pin(async move {
            let method = method.ok_or_else(|| tonic::Status::internal("unary method called twice"))?;
            method(request.into_inner()).await.map(tonic::Response::new).map_err(|e| e.to_status())
        })
    }
}

impl<Req, Rep, F, Fut> tonic::server::ClientStreamingService<Req> for UnaryFn<F>
where
    Req: Send + 'static,
    Rep: Send + 'static,
    F: FnOnce(tonic::Streaming<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Rep>> + Send + 'static,
{
    type Response = Rep;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Rep>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<Req>>) -> Self::Future {
        let method = self.0.take();
        Box::pin(async move {
            let method = method.ok_or_else(|| tonic::Status::internal("client-streaming method called twice"))?;
            method(request.into_inner()).await.map(tonic::Response::new).map_err(|e| e.to_status())
        })
    }
}

/// A stream as tonic's `ServerStreamingService` (tonic calls it exactly once per request).
struct StreamFn<S>(Option<S>);

impl<Req, M, S> tonic::server::ServerStreamingService<Req> for StreamFn<S>
where
    Req: Send + 'static,
    M: Send + 'static,
    S: tokio_stream::Stream<Item = Result<Frame<M>, tonic::Status>> + Send + 'static,
{
    type Response = Frame<M>;
    type ResponseStream = S;
    type Future = std::future::Ready<Result<tonic::Response<S>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<Req>) -> Self::Future {
        std::future::ready(
            self.0.take().map(tonic::Response::new).ok_or_else(|| tonic::Status::internal("subscribed twice")),
        )
    }
}
