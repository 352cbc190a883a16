//! The server's half of the generated-code contract: `HeroService`, which a generated
//! `<Service>Server<T>` implements to call one HERO's methods by name, and `Call`, what it is
//! handed for one call (with helpers for unary methods, attributes and events). The router and
//! in-process stubs reach a `HeroService` through [`Served`], its object-safe face.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::attribute::Attribute;
use crate::error::{Error, Result};
use crate::events::event::{Delivery, Event, Frame, Subscription};
use crate::handles::HandleScope;
use crate::interface::Interface;
use crate::server::attribute_watch::AttributeWatch;
use crate::server::callbacks::EncodedEvents;
use crate::server::incoming::{AsOperation, InProcess, Incoming, OverNetwork, ReplyFuture};
use crate::server::routing::HeroEntry;

/// One interface of one HERO, callable by method name. Generated as `<Service>Server<T>`.
pub trait HeroService: Send + Sync + 'static {
    /// The interface this serves.
    fn interface(&self) -> &'static Interface;

    /// Starts the call of `method`, however it came in; `None` when the interface has no such
    /// method.
    fn call<I: Incoming>(&self, method: &str, call: Call<I>) -> Option<ReplyFuture<I::Reply>>;

    /// The values of the attribute `attribute` (its rpc name) from now on; `None` when the
    /// interface has no such attribute.
    fn watch(&self, attribute: &str) -> Option<AttributeWatch> {
        let _ = attribute;
        None
    }

    /// A new subscription to the event `event` (its rpc name), its messages encoded (for
    /// callbacks to other HEROs); `None` when the interface has no such event.
    fn subscribe_encoded(&self, event: &str) -> Option<EncodedEvents> {
        let _ = event;
        None
    }
}

/// A [`HeroService`] as the server holds it: one entry per way a call can come in.
pub(crate) trait Served: Send + Sync + 'static {
    fn interface(&self) -> &'static Interface;
    fn call_over_network(
        &self,
        method: &str,
        call: Call<OverNetwork>,
    ) -> Option<ReplyFuture<http::Response<tonic::body::Body>>>;
    fn call_in_process(
        &self,
        method: &str,
        call: Call<InProcess>,
    ) -> Option<ReplyFuture<Result<crate::interface::AnyMessage>>>;
    fn call_as_operation(&self, method: &str, call: Call<AsOperation>) -> Option<ReplyFuture<Result<bytes::Bytes>>>;
    fn watch(&self, attribute: &str) -> Option<AttributeWatch>;
    fn subscribe_encoded(&self, event: &str) -> Option<EncodedEvents>;
}

impl<S: HeroService> Served for S {
    fn interface(&self) -> &'static Interface {
        HeroService::interface(self)
    }

    fn call_over_network(
        &self,
        method: &str,
        call: Call<OverNetwork>,
    ) -> Option<ReplyFuture<http::Response<tonic::body::Body>>> {
        self.call(method, call)
    }

    fn call_in_process(
        &self,
        method: &str,
        call: Call<InProcess>,
    ) -> Option<ReplyFuture<Result<crate::interface::AnyMessage>>> {
        self.call(method, call)
    }

    fn call_as_operation(&self, method: &str, call: Call<AsOperation>) -> Option<ReplyFuture<Result<bytes::Bytes>>> {
        self.call(method, call)
    }

    fn watch(&self, attribute: &str) -> Option<AttributeWatch> {
        HeroService::watch(self, attribute)
    }

    fn subscribe_encoded(&self, event: &str) -> Option<EncodedEvents> {
        HeroService::subscribe_encoded(self, event)
    }
}

/// Which entry of [`Served`] a kind of call takes.
pub(crate) trait Dispatch: Incoming {
    fn dispatch(service: &dyn Served, method: &str, call: Call<Self>) -> Option<ReplyFuture<Self::Reply>>;
}

impl Dispatch for OverNetwork {
    fn dispatch(service: &dyn Served, method: &str, call: Call<Self>) -> Option<ReplyFuture<Self::Reply>> {
        service.call_over_network(method, call)
    }
}

impl Dispatch for InProcess {
    fn dispatch(service: &dyn Served, method: &str, call: Call<Self>) -> Option<ReplyFuture<Self::Reply>> {
        service.call_in_process(method, call)
    }
}

impl Dispatch for AsOperation {
    fn dispatch(service: &dyn Served, method: &str, call: Call<Self>) -> Option<ReplyFuture<Self::Reply>> {
        service.call_as_operation(method, call)
    }
}

/// One incoming call, as the router (or an in-process stub) hands it to a `HeroService`.
pub struct Call<I> {
    pub(crate) entry: Arc<HeroEntry>,
    pub(crate) incoming: I,
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

impl<I: Incoming> Call<I> {
    /// Serves a subscription to an event: a stream of every message emitted from now on, until
    /// the subscriber goes away or the HERO leaves (then the stream ends with UNAVAILABLE).
    pub fn event<T, Req, M>(
        self,
        request_type: &'static str,
        hero: Arc<T>,
        access: EventAccess<T, M>,
    ) -> ReplyFuture<I::Reply>
    where
        T: Send + Sync + 'static,
        Req: prost::Message + Default + Send + 'static,
        M: prost::Message + Clone + Send + Sync + 'static,
    {
        let frames = EventFrames {
            subscription: (access.cell)(&hero).subscribe(access.delivery, access.buffer),
            leaving: Box::pin(self.entry.leaving()),
            hero: self.entry.name.clone(),
            ended: false,
        };
        self.incoming.frames::<Req, M, _>(request_type, frames)
    }

    /// The handle table and the caller's session, for methods that pass or return handles.
    pub fn handles(&self) -> HandleScope {
        HandleScope::new(self.entry.handles.clone(), self.incoming.session().cloned())
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
    pub fn unary<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<I::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        self.incoming.unary(request_type, method)
    }

    /// Serves a server-streaming method: decode the request, run `method`, send the stream it
    /// returns as the caller reads it (a slow reader slows the stream: nothing is buffered
    /// beyond HTTP/2's window and one message).
    pub fn server_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<I::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: tokio_stream::Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(Req) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        self.incoming.server_streaming(request_type, method)
    }

    /// Serves a client-streaming method: `method` reads the caller's requests as they come, and
    /// its result is the one reply.
    pub fn client_streaming<Req, Rep, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<I::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        F: FnOnce(crate::interface::Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Rep>> + Send + 'static,
    {
        self.incoming.client_streaming(request_type, method)
    }

    /// Serves a bidirectional method: `method` reads the caller's requests and returns the
    /// stream of replies.
    pub fn bidi_streaming<Req, Rep, S, F, Fut>(self, request_type: &'static str, method: F) -> ReplyFuture<I::Reply>
    where
        Req: prost::Message + Default + Send + 'static,
        Rep: prost::Message + Send + 'static,
        S: tokio_stream::Stream<Item = Result<Rep>> + Send + 'static,
        F: FnOnce(crate::interface::Streaming<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        self.incoming.bidi_streaming(request_type, method)
    }

    /// Serves an attribute: a request without `value` reads, one with `value` sets (unless
    /// read-only); the reply is the current value.
    pub fn attribute<T, M, V>(self, hero: Arc<T>, access: AttributeAccess<T, M, V>) -> ReplyFuture<I::Reply>
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

/// Where references are received: the realm they must point into, and whether the receiver may
/// use discovery to find a HERO whose endpoints no longer answer.
#[derive(Debug, Clone)]
pub struct RefScope {
    /// The receiver's realm.
    pub realm: String,
    /// Whether mDNS (or `HEROS_PEERS`) may be asked.
    pub discover: bool,
}
