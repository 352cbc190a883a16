//! `Target`: one remote HERO (its name, realm and the transport that reaches it) and every call a
//! stub makes through it. Whether the transport is the network or, for a HERO of this process,
//! a direct call, is the transport's business (`client::transport`); this file never asks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::HeaderValue;

use super::caches::sessions;
use super::lookup::{describe_by_url, find, fresh_record};
use crate::client::attribute_stream::{decode_values, AttributeStream};
use crate::client::event_stream::EventStream;
use crate::client::foreign::{frames_of, reply_of, Foreign, ForeignTransport};
use crate::client::handles::{ClientSession, Handle, StubSession};
use crate::client::in_process::InProcessTransport;
use crate::client::network::open_frames;
use crate::client::network::NetworkTransport;
use crate::client::transport::{decode_reply, Addressee, Outgoing, Transport};
use crate::config::{Config, HeroUrl};
use crate::discovery::Discovery;
use crate::error::{Error, HandleProblem, Result};
use crate::interface::ItemStream;
use crate::net::{dial_any, forget_connection};
use crate::proto::{CallbackInfo, ConnectCallbackRequest};
use crate::proto::{Export, HandleStats, HeroInfo};
use crate::wire::metadata::encode_header;

/// How long `connect(name)` waits for discovery by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One remote HERO, untyped; every typed stub wraps one. Cheap to clone.
#[derive(Clone)]
pub struct Target {
    inner: Arc<TargetInner>,
}

struct TargetInner {
    info: HeroInfo,
    hero: Addressee,
    /// How calls reach the HERO; replaced when the HERO moved.
    // A read lock per call: calls from many tasks at once must not queue behind each other.
    transport: RwLock<Arc<dyn Transport>>,
    /// Set when a call found the server gone; the next call looks the HERO up again.
    stale: AtomicBool,
    /// Whether the HERO can be looked up again by discovery (not for `heros://` URLs).
    rediscoverable: bool,
    /// Whether calls go through a [`ForeignTransport`], which is never replaced: it has no
    /// endpoints to dial again, and finds its HERO again on its own.
    foreign: bool,
}

/// In-process when a server of this process hosts the HERO at one of its endpoints, else over
/// the network to the first endpoint that accepts a connection.
async fn transport_to(info: &HeroInfo) -> Result<Arc<dyn Transport>> {
    if let Some(in_process) = InProcessTransport::find(&info.endpoints, &info.name, &info.realm) {
        return Ok(Arc::new(in_process));
    }
    let (endpoint, connection) = dial_any(&info.endpoints).await?;
    Ok(Arc::new(NetworkTransport { endpoint, connection }))
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
            (find(&config, &config.realm, name, timeout).await?, config.discovery_on())
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
        let transport = transport_to(&info).await?;
        Ok(Target::with_transport(info, transport, rediscoverable, false))
    }

    /// A target for a HERO that is not served by HEROS for Rust, reached through `transport`
    /// (e.g. a Python HERO over zenoh, with heros-zenoh). `info` says who it is (name, realm,
    /// interfaces); a generated stub made on it with [`crate::Remote::from_target`] calls its
    /// methods, gets and sets its attributes and subscribes to its events through `transport`,
    /// and gets an `Unimplemented` error for what only a HEROS server has (handles, callbacks,
    /// operations, attribute watches, streaming methods).
    pub fn foreign(info: HeroInfo, transport: Arc<dyn ForeignTransport>) -> Target {
        Target::with_transport(info, Arc::new(Foreign(transport)), false, true)
    }

    fn with_transport(info: HeroInfo, transport: Arc<dyn Transport>, rediscoverable: bool, foreign: bool) -> Target {
        Target {
            inner: Arc::new(TargetInner {
                hero: Addressee {
                    name: info.name.clone(),
                    realm: info.realm.clone(),
                    name_header: encode_header(&info.name),
                    realm_header: encode_header(&info.realm),
                },
                info,
                transport: RwLock::new(transport),
                stale: AtomicBool::new(false),
                rediscoverable,
                foreign,
            }),
        }
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
        self.current_transport().endpoint().to_owned()
    }

    /// Whether the HERO is looked up again by name when its server goes away (found by name with
    /// discovery on; not for `heros://` URLs).
    pub fn is_rediscoverable(&self) -> bool {
        self.inner.rediscoverable
    }

    /// Whether calls go straight to a HERO of this process, without a socket.
    pub fn is_in_process(&self) -> bool {
        self.current_transport().is_in_process()
    }

    /// The HERO calls are for, as transports take it.
    pub(crate) fn addressee(&self) -> &Addressee {
        &self.inner.hero
    }

    fn current_transport(&self) -> Arc<dyn Transport> {
        self.inner.transport.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Calls a unary rpc of the HERO.
    pub async fn unary<Req, Rep>(&self, path: &'static str, request: Req, timeout: Option<Duration>) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        self.unary_on(&*self.transport().await, None, path, request, timeout).await
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
        let transport = self.transport().await;
        let session = self.session_on(&*transport).await?;
        let reply = self.unary_on(&*transport, Some(session.header().clone()), path, request, timeout).await;
        if let Err(Error::Handle { problem: HandleProblem::UnknownSession, .. }) = &reply {
            session.mark_dead();
        }
        Ok((reply?, StubSession(session)))
    }

    async fn unary_on<Req, Rep>(
        &self,
        transport: &dyn Transport,
        session: Option<HeaderValue>,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let call = Outgoing { hero: &self.inner.hero, path, session, timeout };
        let reply = transport.unary(call, Box::new(request), decode_reply::<Rep>).await;
        reply.and_then(|reply| reply_of::<Rep>(reply, path)).map_err(|error| self.went_away(error))
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
        let transport = self.transport().await;
        let call = Outgoing { hero: &self.inner.hero, path, session: None, timeout: None };
        let frames = transport.server_stream(call, Box::new(request), open_frames::<M>).await;
        let frames = frames.and_then(|frames| frames_of::<M>(frames, path));
        Ok(EventStream::of(frames.map_err(|error| self.went_away(error))?))
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
        let transport = self.transport().await;
        let values = transport.watch(&self.inner.hero, interface, attribute).await;
        Ok(decode_values(values.map_err(|error| self.went_away(error))?, unwrap, attribute))
    }

    /// Asks the HERO to connect a callback (see `Target::connect_callback` in `refs`, which
    /// builds the request from anything that can be referenced).
    pub(crate) async fn connect_callback_request(&self, request: ConnectCallbackRequest) -> Result<CallbackInfo> {
        let transport = self.transport().await;
        transport.connect_callback(&self.inner.hero, request).await.map_err(|error| self.went_away(error))
    }

    /// The callbacks connected to the HERO's events, with how many messages each delivered.
    pub async fn callbacks(&self) -> Result<Vec<CallbackInfo>> {
        let transport = self.transport().await;
        transport.list_callbacks(&self.inner.hero).await.map_err(|error| self.went_away(error))
    }

    /// Stops the callback `id`.
    pub async fn disconnect_callback(&self, id: u64) -> Result<()> {
        let transport = self.transport().await;
        transport.disconnect_callback(&self.inner.hero, id).await.map_err(|error| self.went_away(error))
    }

    /// This process's session with the HERO's server, opened on first use.
    pub(crate) async fn session_on(&self, transport: &dyn Transport) -> Result<Arc<ClientSession>> {
        let slot =
            sessions().lock().unwrap_or_else(|e| e.into_inner()).entry(transport.session_key()).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(session) = slot.as_ref().filter(|session| !session.is_dead()) {
            return Ok(session.clone());
        }
        let session = transport.open_session().await.map_err(|error| self.went_away(error))?;
        *slot = Some(session.clone());
        Ok(session)
    }

    /// The session handles with the HERO's server go through.
    async fn session(&self) -> Result<Arc<ClientSession>> {
        self.session_on(&*self.transport().await).await
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
        self.transport().await.handle_stats().await
    }

    /// One call of `heros.v1.Operations` about the HERO's operations.
    pub(crate) async fn operation_call(
        &self,
        call: crate::client::transport::OperationCall,
    ) -> Result<crate::proto::Operation> {
        let transport = self.transport().await;
        transport.operation(&self.inner.hero, call).await.map_err(|error| self.went_away(error))
    }

    /// The states of the HERO's operation `id`, until it has ended.
    pub(crate) async fn watch_operation(&self, id: String) -> Result<ItemStream<crate::proto::Operation>> {
        let transport = self.transport().await;
        transport.watch_operation(&self.inner.hero, id).await.map_err(|error| self.went_away(error))
    }

    /// Makes the next call look for the HERO again (by discovery, or by dialling anew).
    fn mark_stale(&self) {
        self.inner.stale.store(true, Ordering::Release);
    }

    /// Notes a lost server, so that the next call looks for the HERO again.
    pub(crate) fn went_away(&self, error: Error) -> Error {
        if matches!(error, Error::Unavailable { .. }) && !self.inner.foreign {
            self.mark_stale();
            forget_connection(&self.endpoint());
        }
        error
    }

    /// The transport to use; after a lost server, to the HERO's current endpoint per discovery.
    pub(crate) async fn transport(&self) -> Arc<dyn Transport> {
        if self.inner.stale.swap(false, Ordering::AcqRel) {
            let moved = match self.inner.rediscoverable {
                true => self.rediscover().await,
                false => None,
            };
            // Not moved (or not rediscoverable): a new connection to where it was, since the
            // old one died with its server (a server restarted at the same address answers).
            let fresh = match moved {
                Some(transport) => Some(transport),
                None => transport_to(&self.inner.info).await.ok(),
            };
            match fresh {
                Some(transport) => *self.inner.transport.write().unwrap_or_else(|e| e.into_inner()) = transport,
                None => self.mark_stale(),
            }
        }
        self.current_transport()
    }

    async fn rediscover(&self) -> Option<Arc<dyn Transport>> {
        let config = Config::from_env().ok()?;
        let discovery = Discovery::global(&config).ok()?;
        let info = discovery.lookup(self.realm(), self.name())?;
        let current = self.endpoint();
        if info.endpoints.contains(&current) {
            return None;
        }
        tracing::debug!(hero = self.name(), from = %current, to = ?info.endpoints, "HERO moved");
        transport_to(&info).await.ok()
    }
}
