//! `Target`: one remote HERO (its name, realm, interface and route) and every call a stub makes
//! through it, over the network or, for a HERO of this process, directly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::uri::PathAndQuery;
use http::HeaderValue;

use super::caches::{dial_any, forget_connection, sessions};
use super::lookup::{describe_by_url, find, fresh_record};
use crate::client::connection::Connection;
use crate::client::handles::{ClientSession, Handle, StubSession};
use crate::client::local::LocalRoute;
use crate::config::{Config, HeroUrl};
use crate::discovery::Discovery;
use crate::error::{Error, HandleProblem, Result};
use crate::events::attribute_watch::{decode_values, AttributeStream};
use crate::events::stream::EventStream;
use crate::interface::EventFrames;
use crate::limits::DEFAULT_MAX_MESSAGE_SIZE;
use crate::proto::attributes_client::AttributesClient;
use crate::proto::callbacks_client::CallbacksClient;
use crate::proto::registry_client::RegistryClient;
use crate::proto::WatchRequest;
use crate::proto::{CallbackId, CallbackInfo, ConnectCallbackRequest};
use crate::proto::{Export, HandleStats, HandleStatsRequest, HeroInfo};
use crate::refs::AsHeroRef;
use crate::wire::metadata::{encode_header, NAME, REALM, SESSION};
use tokio_stream::StreamExt;

/// How long `connect(name)` waits for discovery by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One remote HERO, untyped; every typed stub wraps one. Cheap to clone.
#[derive(Clone)]
pub struct Target {
    inner: Arc<TargetInner>,
}

struct TargetInner {
    info: HeroInfo,
    name_header: HeaderValue,
    realm_header: HeaderValue,
    /// How calls reach the HERO; replaced when the HERO moved.
    // A read lock per call: calls from many tasks at once must not queue behind each other.
    route: RwLock<Arc<Route>>,
    /// Set when a call found the server gone; the next call looks the HERO up again.
    stale: AtomicBool,
    /// Whether the HERO can be looked up again by discovery (not for `heros://` URLs).
    rediscoverable: bool,
}

/// How a stub reaches its HERO.
enum Route {
    /// Over gRPC, on a connection shared with every stub to that server.
    Remote { endpoint: String, connection: Connection },
    /// Directly: the HERO is served by this very process.
    Local(LocalRoute),
}

impl Route {
    /// In-process when a server of this process hosts the HERO at one of its endpoints, else
    /// the first endpoint that accepts a connection.
    async fn to(info: &HeroInfo) -> Result<Route> {
        if let Some(local) = LocalRoute::find(&info.endpoints, &info.name, &info.realm) {
            return Ok(Route::Local(local));
        }
        let (endpoint, connection) = dial_any(&info.endpoints).await?;
        Ok(Route::Remote { endpoint, connection })
    }

    fn endpoint(&self) -> &str {
        match self {
            Route::Remote { endpoint, .. } => endpoint,
            Route::Local(local) => local.endpoint(),
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name())
            .field("realm", &self.realm())
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl Target {
    /// Finds `name` (a HERO name, or a `heros://host:port/name` URL) implementing `interface`,
    /// waiting at most `timeout` for discovery, and connects to its server.
    pub async fn connect(name: &str, interface: &str, timeout: Duration) -> Result<Target> {
        let config = Config::from_env()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let (info, rediscoverable) = if name.starts_with("heros://") {
            (describe_by_url(&name.parse::<HeroUrl>()?, &config).await?, false)
        } else {
            (find(&config, &config.realm, name, timeout).await?, config.mdns)
        };
        if !interface.is_empty() && !info.interfaces.iter().any(|i| i == interface) {
            return Err(Error::InterfaceNotImplemented {
                hero: info.name.clone(),
                interface: interface.to_owned(),
                implemented: info.interfaces.clone(),
            });
        }
        match Target::from_info(info.clone(), rediscoverable).await {
            Err(Error::Unavailable { message }) if rediscoverable => {
                // The cached record may be stale (the HERO was killed and restarted on another
                // port): wait for discovery to bring a record with other endpoints.
                tracing::debug!(hero = name, "cached endpoints refused ({message}); waiting for a fresh record");
                let discovery = Discovery::global(&config)?;
                let fresh = fresh_record(&discovery, &info, deadline).await.ok_or_else(|| {
                    Error::unavailable(format!("{message}; no newer record of '{name}' appeared within {timeout:?}"))
                })?;
                Target::from_info(fresh, rediscoverable).await
            }
            other => other,
        }
    }

    /// A target for a HERO whose record is already known (e.g. from an [`crate::Observer`]).
    pub async fn from_info(info: HeroInfo, rediscoverable: bool) -> Result<Target> {
        let route = Route::to(&info).await?;
        Ok(Target {
            inner: Arc::new(TargetInner {
                name_header: encode_header(&info.name),
                realm_header: encode_header(&info.realm),
                info,
                route: RwLock::new(Arc::new(route)),
                stale: AtomicBool::new(false),
                rediscoverable,
            }),
        })
    }

    /// The HERO's name.
    pub fn name(&self) -> &str {
        &self.inner.info.name
    }

    /// The HERO's realm.
    pub fn realm(&self) -> &str {
        &self.inner.info.realm
    }

    /// What discovery said about the HERO when it was found.
    pub fn info(&self) -> &HeroInfo {
        &self.inner.info
    }

    /// The server endpoint calls go to.
    pub fn endpoint(&self) -> String {
        self.current_route().endpoint().to_owned()
    }

    /// Whether the HERO is looked up again by name when its server goes away (found by name with
    /// discovery on; not for `heros://` URLs).
    pub fn is_rediscoverable(&self) -> bool {
        self.inner.rediscoverable
    }

    /// Whether calls go straight to a HERO of this process, without a socket.
    pub fn is_in_process(&self) -> bool {
        matches!(*self.current_route(), Route::Local(_))
    }

    fn current_route(&self) -> Arc<Route> {
        self.inner.route.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Calls a unary rpc of the HERO.
    pub async fn unary<Req, Rep>(&self, path: &'static str, request: Req, timeout: Option<Duration>) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        self.unary_on(&*self.route().await, None, path, request, timeout).await
    }

    /// Calls a unary rpc that passes or returns handles, in this process's session with the
    /// HERO's server (opened on first use).
    pub async fn unary_in_session<Req, Rep>(
        &self,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<(Rep, StubSession)>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let route = self.route().await;
        let session = self.session_on(&route).await?;
        let reply = self.unary_on(&route, Some(session.header().clone()), path, request, timeout).await;
        if let Err(Error::Handle { problem: HandleProblem::UnknownSession, .. }) = &reply {
            session.mark_dead();
        }
        Ok((reply?, StubSession(session)))
    }

    async fn unary_on<Req, Rep>(
        &self,
        route: &Route,
        session: Option<HeaderValue>,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let connection = match route {
            Route::Remote { connection, .. } => connection.clone(),
            Route::Local(local) => {
                let reply = local.unary(self.name(), self.realm(), path, request, session, timeout).await;
                return reply.map_err(|error| self.went_away(error));
            }
        };
        let mut grpc = large_messages(connection.grpc());
        let mut request = self.named(request);
        if let Some(session) = session {
            request.metadata_mut().as_mut().insert(SESSION, session);
        }
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let call = async move {
            grpc.ready().await?;
            let codec = crate::wire::codec::ClientCodec::<Req, Rep>::default();
            grpc.unary(request, PathAndQuery::from_static(path), codec).await
        };
        let reply = match timeout {
            None => call.await,
            Some(timeout) => {
                // The server enforces the deadline too (grpc-timeout); this covers a server that
                // stopped answering altogether.
                let mut call = std::pin::pin!(call);
                match tokio::time::timeout(timeout, call.as_mut()).await {
                    Ok(reply) => reply,
                    Err(_) => return Err(Error::Timeout { message: format!("{path} took longer than {timeout:?}") }),
                }
            }
        };
        match reply {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.went_away(Error::from_status(&status))),
        }
    }

    /// Subscribes to an event: every message the HERO emits from now on, subscribing again
    /// whenever the subscription breaks (see [`EventStream`]).
    pub async fn subscribe<Req, M>(&self, path: &'static str, request: Req) -> Result<EventStream<M>>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        M: prost::Message + Default + Clone + Unpin + Send + Sync + 'static,
    {
        let stream = self.subscribe_once(path, request.clone()).await?;
        let target = self.clone();
        Ok(stream.resubscribing(Arc::new(move || {
            let (target, request) = (target.clone(), request.clone());
            Box::pin(async move {
                let stream = target.subscribe_once::<Req, M>(path, request).await.inspect_err(|error| {
                    // The server is there but the HERO is not: it may have moved to another
                    // server, so the next attempt looks it up again.
                    if matches!(error, Error::HeroNotFound { .. }) {
                        target.mark_stale();
                    }
                })?;
                stream.into_frames().ok_or_else(|| Error::unavailable("the subscription ended at once"))
            })
        })))
    }

    async fn subscribe_once<Req, M>(&self, path: &'static str, request: Req) -> Result<EventStream<M>>
    where
        Req: prost::Message + Send + Sync + 'static,
        M: prost::Message + Default + Clone + Unpin + Send + Sync + 'static,
    {
        let connection = match &*self.route().await {
            Route::Remote { connection, .. } => connection.clone(),
            Route::Local(local) => {
                let frames =
                    local.unary::<Req, EventFrames<M>>(self.name(), self.realm(), path, request, None, None).await;
                return frames.map(EventStream::local).map_err(|error| self.went_away(error));
            }
        };
        let mut grpc = large_messages(connection.grpc());
        let request = self.named(request);
        let subscribed = async move {
            grpc.ready().await?;
            let codec = crate::wire::codec::EventClientCodec::<Req, M>::default();
            grpc.server_streaming(request, PathAndQuery::from_static(path), codec).await
        };
        match subscribed.await {
            Ok(response) => Ok(EventStream::remote(response.into_inner())),
            Err(status) => Err(self.went_away(Error::from_status(&status))),
        }
    }

    /// Watches an attribute (`attribute` is its rpc name in `interface`): its current value, then
    /// each new one. `unwrap` takes the value out of the value message.
    pub async fn watch<M, V>(
        &self,
        interface: &str,
        attribute: &'static str,
        unwrap: fn(M) -> Option<V>,
    ) -> Result<AttributeStream<V>>
    where
        M: prost::Message + Default + 'static,
        V: Send + 'static,
    {
        let connection = match &*self.route().await {
            Route::Remote { connection, .. } => connection.clone(),
            Route::Local(local) => {
                let values =
                    local.watch(self.name(), self.realm(), interface, attribute).map_err(|e| self.went_away(e))?;
                return Ok(decode_values(values.map(Ok), unwrap, attribute));
            }
        };
        let mut attributes = AttributesClient::with_origin(connection.clone(), connection.origin())
            .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE);
        let request = self.named(WatchRequest { interface: interface.to_owned(), attribute: attribute.to_owned() });
        let values = match attributes.watch(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(self.went_away(Error::from_status(&status))),
        };
        let messages = values.map(|value| value.map(|v| v.message).map_err(|status| Error::from_status(&status)));
        Ok(decode_values(messages, unwrap, attribute))
    }

    /// Makes the HERO call `method` (a gRPC path, e.g. `/examples.v1.AlarmLog/Record`) of
    /// `target` with every message of its event `event` of `interface`, peer to peer: the HERO's
    /// server calls the target itself. The method's request type must be the event's message type.
    pub async fn connect_callback(
        &self,
        interface: &str,
        event: &str,
        target: &(impl AsHeroRef + ?Sized),
        method: &str,
    ) -> Result<CallbackInfo> {
        let request = ConnectCallbackRequest {
            interface: interface.to_owned(),
            event: event.to_owned(),
            target: Some(target.hero_ref()),
            method: method.to_owned(),
        };
        match &*self.route().await {
            Route::Local(local) => local.entry(self.name(), self.realm())?.connect_callback(request).await,
            Route::Remote { connection, .. } => {
                let reply = self.callbacks_client(connection).connect_callback(self.named(request)).await;
                Ok(reply.map_err(|status| self.went_away(Error::from_status(&status)))?.into_inner())
            }
        }
    }

    /// The callbacks connected to the HERO's events, with how many messages each delivered.
    pub async fn callbacks(&self) -> Result<Vec<CallbackInfo>> {
        match &*self.route().await {
            Route::Local(local) => Ok(local.entry(self.name(), self.realm())?.list_callbacks()),
            Route::Remote { connection, .. } => {
                let reply = self.callbacks_client(connection).list_callbacks(self.named(())).await;
                Ok(reply.map_err(|status| self.went_away(Error::from_status(&status)))?.into_inner().callbacks)
            }
        }
    }

    /// Stops the callback `id`.
    pub async fn disconnect_callback(&self, id: u64) -> Result<()> {
        match &*self.route().await {
            Route::Local(local) => local.entry(self.name(), self.realm())?.disconnect_callback(id),
            Route::Remote { connection, .. } => {
                let reply = self.callbacks_client(connection).disconnect_callback(self.named(CallbackId { id })).await;
                reply.map(drop).map_err(|status| self.went_away(Error::from_status(&status)))
            }
        }
    }

    fn callbacks_client(&self, connection: &Connection) -> CallbacksClient<Connection> {
        CallbacksClient::with_origin(connection.clone(), connection.origin())
    }

    /// A request for a framework service about this HERO (named by the usual headers).
    fn named<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let headers = request.metadata_mut().as_mut();
        headers.insert(NAME, self.inner.name_header.clone());
        headers.insert(REALM, self.inner.realm_header.clone());
        request
    }

    /// This process's session with the HERO's server, opened on first use.
    async fn session_on(&self, route: &Route) -> Result<Arc<ClientSession>> {
        let key = match route {
            Route::Remote { endpoint, .. } => (Some(tokio::runtime::Handle::current().id()), endpoint.clone()),
            Route::Local(local) => (None, local.endpoint().to_owned()),
        };
        let slot = sessions().lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(session) = slot.as_ref().filter(|session| !session.is_dead()) {
            return Ok(session.clone());
        }
        let opened = match route {
            Route::Remote { connection, .. } => ClientSession::open_remote(connection).await,
            Route::Local(local) => local.handles().and_then(|table| ClientSession::open_local(&table)),
        };
        let session = opened.map_err(|error| self.went_away(error))?;
        *slot = Some(session.clone());
        Ok(session)
    }

    /// The session handles with the HERO's server go through.
    async fn session(&self) -> Result<Arc<ClientSession>> {
        self.session_on(&*self.route().await).await
    }

    /// Puts a protobuf message on the HERO's server (remoteable's `store`) and returns a handle
    /// to it, which methods taking a handle of the message's full name accept.
    pub async fn store<M: prost::Name>(&self, message: &M) -> Result<Handle> {
        let any = prost_types::Any { type_url: M::type_url(), value: message.encode_to_vec() };
        self.session().await?.store(any).await
    }

    /// Exports `handle` under `name` on the HERO's server, so that other clients can `fetch` it.
    /// The export belongs to this process's session with the server: only it may `detach` it,
    /// and it goes when the session ends (this process exits or loses the server).
    pub async fn attach(&self, handle: &Handle, name: &str) -> Result<()> {
        self.session().await?.attach(handle, name, false).await
    }

    /// Exports `handle` under `name` like [`Self::attach`], but the export outlives this
    /// process's session: it stays until detached (by anyone, once the session has ended). Kept
    /// exports count against the server's `HEROS_MAX_KEPT_EXPORTS`.
    pub async fn attach_kept(&self, handle: &Handle, name: &str) -> Result<()> {
        self.session().await?.attach(handle, name, true).await
    }

    /// Removes the export `name` from the HERO's server (`EXPORT_NOT_OWNED` if another session
    /// attached it and still lives).
    pub async fn detach(&self, name: &str) -> Result<()> {
        self.session().await?.detach(name).await
    }

    /// A handle to the value exported as `name` on the HERO's server.
    pub async fn fetch(&self, name: &str) -> Result<Handle> {
        self.session().await?.fetch(name).await
    }

    /// The names exported on the HERO's server.
    pub async fn browse(&self) -> Result<Vec<Export>> {
        self.session().await?.browse().await
    }

    /// The handle table of the HERO's server, as its registry reports it: every value the server
    /// keeps for any of its HEROs and any client, with references per client session.
    pub async fn handle_stats(&self) -> Result<HandleStats> {
        match &*self.route().await {
            Route::Local(local) => Ok(local.handles()?.stats()),
            Route::Remote { connection, .. } => {
                let mut registry = RegistryClient::with_origin(connection.clone(), connection.origin());
                Ok(registry.get_handle_stats(HandleStatsRequest {}).await?.into_inner())
            }
        }
    }

    /// Makes the next call look for the HERO again (by discovery, or by dialling anew).
    fn mark_stale(&self) {
        self.inner.stale.store(true, Ordering::Release);
    }

    /// Notes a lost server, so that the next call looks for the HERO again.
    fn went_away(&self, error: Error) -> Error {
        if matches!(error, Error::Unavailable { .. }) {
            self.mark_stale();
            forget_connection(&self.endpoint());
        }
        error
    }

    /// The route to use; after a lost server, the HERO's current endpoint per discovery.
    async fn route(&self) -> Arc<Route> {
        if self.inner.stale.swap(false, Ordering::AcqRel) {
            let moved = match self.inner.rediscoverable {
                true => self.rediscover().await,
                false => None,
            };
            // Not moved (or not rediscoverable): a new connection to where it was, since the
            // old one died with its server (a server restarted at the same address answers).
            let fresh = match moved {
                Some(route) => Some(route),
                None => Route::to(&self.inner.info).await.ok(),
            };
            match fresh {
                Some(route) => *self.inner.route.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(route),
                None => self.mark_stale(),
            }
        }
        self.current_route()
    }

    async fn rediscover(&self) -> Option<Route> {
        let config = Config::from_env().ok()?;
        let discovery = Discovery::global(&config).ok()?;
        let info = discovery.lookup(self.realm(), self.name())?;
        let current = self.endpoint();
        if info.endpoints.contains(&current) {
            return None;
        }
        tracing::debug!(hero = self.name(), from = %current, to = ?info.endpoints, "HERO moved");
        Route::to(&info).await.ok()
    }
}

/// A gRPC client that takes and sends HERO-sized messages (tonic's default is 4 MiB).
fn large_messages(grpc: tonic::client::Grpc<Connection>) -> tonic::client::Grpc<Connection> {
    grpc.max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE).max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}
