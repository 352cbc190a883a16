//! What a generated interface hands the runtime: its description, and `HeroService`, the
//! object-safe entry point through which the router calls one HERO's methods by name. A call is
//! either a gRPC request (decoded here, the reply encoded) or, when caller and HERO share a
//! process, the request message itself, handed over without bytes or sockets.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::attribute::Attribute;
use crate::error::{Error, Result};
use crate::events::event::{Delivery, Event, Frame, Subscription};
use crate::handles::HandleScope;
use crate::refs::RefScope;
use crate::server::routing::HeroEntry;
use crate::wire::codec::{FrameEncoder, ReservingEncoder, ServerCodec};
use crate::wire::metadata::SESSION;

/// The response future of one call.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// A message of some generated type, passed within the process.
pub type AnyMessage = Box<dyn Any + Send>;

/// The outcome of one call, in the form the call came in.
pub enum Reply {
    /// An encoded gRPC response (a call that came over the network).
    Http(http::Response<tonic::body::Body>),
    /// The reply message or the error itself (a call from this process).
    Local(Result<AnyMessage>),
}

impl Reply {
    pub(crate) fn into_http(self) -> http::Response<tonic::body::Body> {
        match self {
            Reply::Http(response) => response,
            // A local call never reaches the router; should one, it still gets an answer.
            Reply::Local(_) => Error::Rpc {
                code: tonic::Code::Internal,
                message: "an in-process reply reached the network router".into(),
            }
            .to_status()
            .into_http(),
        }
    }

    pub(crate) fn into_local(self) -> Result<AnyMessage> {
        match self {
            Reply::Local(reply) => reply,
            Reply::Http(_) => {
                Err(Error::Rpc { code: tonic::Code::Internal, message: "an in-process call got an HTTP reply".into() })
            }
        }
    }
}

/// A HERO interface as the registry describes it (generated as `<SERVICE>_INTERFACE`).
#[derive(Debug)]
pub struct Interface {
    /// Full protobuf service name.
    pub name: &'static str,
    /// The service's `.proto` comment.
    pub doc: &'static str,
    /// Tags from `option (heros.v1.interface)`.
    pub tags: &'static [&'static str],
    /// Methods, attributes and events, in `.proto` order.
    pub members: &'static [Member],
    /// The encoded `FileDescriptorSet` of the interface's package and its imports, for gRPC
    /// reflection (generated beside the code).
    pub descriptor_set: &'static [u8],
}

/// One rpc of an interface.
#[derive(Debug)]
pub struct Member {
    /// The rpc name, e.g. `ReadTemp`.
    pub name: &'static str,
    /// What the rpc is to the HERO.
    pub kind: MemberKind,
    /// Full protobuf name of the request message.
    pub request_type: &'static str,
    /// Full protobuf name of the reply message.
    pub reply_type: &'static str,
    /// The rpc's `.proto` comment.
    pub doc: &'static str,
}

/// Method, attribute or event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberKind {
    /// A method: request in, reply out.
    Method,
    /// An attribute: request and reply are the value message.
    Attribute {
        /// Setting is refused.
        readonly: bool,
    },
    /// An event: a server stream of every message the HERO emits.
    Event {
        /// Nothing is dropped (else best-effort).
        reliable: bool,
    },
}

impl Interface {
    /// Names of all members, for error messages.
    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.to_owned()).collect()
    }
}

/// One interface of one HERO, callable by method name. Generated as `<Service>Server<T>`.
pub trait HeroService: Send + Sync + 'static {
    /// The interface this serves.
    fn interface(&self) -> &'static Interface;
    /// Starts the call of `method`; `None` when the interface has no such method.
    fn call(&self, method: &str, call: Call) -> Option<ResponseFuture>;

    /// The values of the attribute `attribute` (its rpc name) from now on; `None` when the
    /// interface has no such attribute.
    fn watch(&self, attribute: &str) -> Option<crate::events::attribute_watch::AttributeWatch> {
        let _ = attribute;
        None
    }

    /// A new subscription to the event `event` (its rpc name), its messages encoded (for
    /// callbacks to other HEROs); `None` when the interface has no such event.
    fn subscribe_encoded(&self, event: &str) -> Option<crate::events::callbacks::EncodedEvents> {
        let _ = event;
        None
    }
}

/// One incoming call, as the router (or an in-process caller) hands it to a `HeroService`.
pub struct Call {
    pub(crate) entry: Arc<HeroEntry>,
    pub(crate) request: Request,
}

// Moved once per call; boxing the HTTP request would cost every network call an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Request {
    /// Over the network: decode the body, encode the reply.
    Http { request: http::Request<tonic::body::Body>, max_message_size: usize },
    /// From this process: the request message as the stub built it, and the caller's session.
    Local { message: AnyMessage, session: Option<http::HeaderValue> },
}

/// How generated code reaches one attribute of a HERO of type `T`.
pub struct AttributeAccess<T, M, V> {
    /// The attribute's name in snake case.
    pub name: &'static str,
    /// Full protobuf name of the value message.
    pub message_type: &'static str,
    /// Setting is refused.
    pub readonly: bool,
    /// The HERO's cell.
    pub cell: fn(&T) -> &Attribute<V>,
    /// The value in a request, if it sets one.
    pub unwrap: fn(M) -> Option<V>,
    /// A reply carrying the value.
    pub wrap: fn(V) -> M,
}

/// How generated code reaches one event of a HERO of type `T`.
pub struct EventAccess<T, M> {
    /// Best-effort or reliable, from the `.proto`.
    pub delivery: Delivery,
    /// Messages buffered per subscriber (0: the runtime's default).
    pub buffer: usize,
    /// The HERO's cell.
    pub cell: fn(&T) -> &Event<M>,
}

impl Call {
    /// Serves a subscription to an event: a stream of every message emitted from now on, until
    /// the subscriber goes away or the HERO leaves (then the stream ends with UNAVAILABLE).
    pub fn event<T, Req, M>(self, request_type: &'static str, hero: Arc<T>, access: EventAccess<T, M>) -> ResponseFuture
    where
        T: Send + Sync + 'static,
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Send + Sync + 'static,
    {
        let frames = EventFrames {
            subscription: (access.cell)(&hero).subscribe(access.delivery, access.buffer),
            leaving: Box::pin(self.entry.leaving()),
            hero: self.entry.name.clone(),
            ended: false,
        };
        match self.request {
            Request::Http { request, max_message_size: size } => Box::pin(async move {
                let codec = ServerCodec::<FrameEncoder<M>, Req>::new(request_type);
                let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
                Reply::Http(grpc.server_streaming(StreamFn(Some(frames)), request).await)
            }),
            Request::Local { .. } => Box::pin(async move { Reply::Local(Ok(Box::new(frames) as AnyMessage)) }),
        }
    }

    /// The handle table and the caller's session, for methods that pass or return handles.
    pub fn handles(&self) -> HandleScope {
        let session = match &self.request {
            Request::Http { request, .. } => request.headers().get(SESSION).cloned(),
            Request::Local { session, .. } => session.clone(),
        };
        HandleScope::new(self.entry.handles.clone(), session)
    }

    /// The realm of the HERO called.
    pub fn realm(&self) -> &str {
        self.entry.realm()
    }

    /// How references the HERO receives are resolved: into its realm, with discovery if its
    /// server uses it.
    pub fn ref_scope(&self) -> RefScope {
        RefScope { realm: self.entry.realm().to_owned(), discover: self.entry.discover }
    }

    /// Serves a unary method: decode, run `method`, encode its reply or error.
    pub fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ResponseFuture
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        match self.request {
            Request::Http { request, max_message_size: size } => Box::pin(async move {
                let codec = ServerCodec::<ReservingEncoder<Rep>, Req>::new(request_type);
                let mut grpc = tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(size), Some(size));
                // A request above `size` never gets here: the server's receiving body refuses its
                // prefix first (RESOURCE_EXHAUSTED, LIMIT_REACHED), so tonic's own check is a backstop.
                Reply::Http(grpc.unary(UnaryFn(Some(method)), request).await)
            }),
            Request::Local { message, .. } => Box::pin(async move {
                let reply = match message.downcast::<Req>() {
                    Ok(request) => method(*request).await.map(|reply| Box::new(reply) as AnyMessage),
                    Err(_) => Err(Error::invalid_argument(format!(
                        "an in-process call passed a message that is not {request_type}"
                    ))),
                };
                Reply::Local(reply)
            }),
        }
    }

    /// Serves an attribute: a request without `value` reads, one with `value` sets (unless
    /// read-only); the reply is the current value.
    pub fn attribute<T, M, V>(self, hero: Arc<T>, access: AttributeAccess<T, M, V>) -> ResponseFuture
    where
        T: Send + Sync + 'static,
        M: prost::Message + Default + Send + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let hero_name = self.entry.name.clone();
        self.unary(access.message_type, move |message: M| async move {
            let cell = (access.cell)(&hero);
            if let Some(value) = (access.unwrap)(message) {
                crate::security::roles::may_set_attribute(&hero_name, access.name)?;
                if access.readonly {
                    return Err(Error::ReadOnly { hero: hero_name.to_string(), attribute: access.name.to_owned() });
                }
                cell.set(value);
            }
            Ok((access.wrap)(cell.get()))
        })
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

/// The frames of one subscription, ending with UNAVAILABLE when the HERO leaves.
pub(crate) struct EventFrames<M> {
    subscription: Subscription<M>,
    leaving: Pin<Box<dyn Future<Output = ()> + Send>>,
    hero: Arc<str>,
    ended: bool,
}

impl<M> tokio_stream::Stream for EventFrames<M> {
    type Item = Result<Frame<M>, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.ended {
            return Poll::Ready(None);
        }
        // First: a HERO that left while emitting on must not keep the stream going.
        if self.leaving.as_mut().poll(cx).is_ready() {
            self.ended = true;
            let message = format!("HERO '{}' left; its events stopped", self.hero);
            return Poll::Ready(Some(Err(Error::unavailable(message).to_status())));
        }
        match Pin::new(&mut self.subscription).poll_next(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            _ => Poll::Pending,
        }
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

/// The value of an attribute reply; a HEROS server always sends one.
pub fn attribute_value<V>(value: Option<V>, attribute: &str) -> Result<V> {
    value.ok_or_else(|| Error::Rpc {
        code: tonic::Code::Internal,
        message: format!("the reply for attribute '{attribute}' carries no value"),
    })
}

/// A typed remote stub (generated as `<Service>Remote`).
pub trait Remote: Sized {
    /// Full protobuf name of the interface.
    const INTERFACE: &'static str;
    /// Wraps a connection.
    fn from_target(target: crate::client::Target) -> Self;
}
