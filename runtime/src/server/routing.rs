//! The router: every gRPC request to a server passes through here. It picks the HERO by the
//! `heros-name` header (or, when only one HERO implements the service, by the path alone),
//! checks the caller's realm, and hands the call to that HERO's `HeroService`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use tokio::sync::Notify;

use crate::error::Error;
use crate::handles::service::{HandleService, HANDLES_SERVICE, SESSIONS_SERVICE};
use crate::handles::table::HandleTable;
use crate::proto::attributes_server::AttributesServer;
use crate::proto::handles_server::HandlesServer;
use crate::proto::sessions_server::SessionsServer;
use crate::proto::HeroInfo;
use crate::server::attribute_watch::AttributeService;
use crate::server::incoming::{OverNetwork, ReplyFuture};
use crate::server::panic::{panicked, CatchPanic};
use crate::server::service::{Call, Dispatch, Served};
use crate::wire::metadata::{decode_value, NAME, NAME_HEADER, REALM, REALM_HEADER};

/// One HERO hosted by this server.
pub(crate) struct HeroEntry {
    pub(crate) name: Arc<str>,
    pub(crate) info: HeroInfo,
    pub(crate) services: Vec<Box<dyn Served>>,
    pub(crate) in_flight: InFlight,
    /// The server's handle table, for calls that pass or return handles.
    pub(crate) handles: Arc<HandleTable>,
    /// Whether references this HERO receives may be looked up by name (the server uses mDNS).
    pub(crate) discover: bool,
    /// Set when the HERO leaves: its event streams end.
    pub(crate) left: tokio::sync::watch::Sender<bool>,
    /// Methods of other HEROs called with this HERO's events.
    pub(crate) callbacks: crate::server::callbacks::HeroCallbacks,
}

impl HeroEntry {
    pub(crate) fn service(&self, interface: &str) -> Option<&dyn Served> {
        self.services.iter().find(|s| s.interface().name == interface).map(|s| s.as_ref())
    }

    /// The HERO's implementation of `interface`, or the error that says which it has.
    pub(crate) fn implementation(&self, interface: &str) -> Result<&dyn Served, Error> {
        self.service(interface).ok_or_else(|| Error::InterfaceNotImplemented {
            hero: self.name.to_string(),
            interface: interface.to_owned(),
            implemented: self.info.interfaces.clone(),
        })
    }

    /// The error for a method, attribute or event `member` that `service` does not have;
    /// `available` names what it does have.
    pub(crate) fn no_member(&self, service: &dyn Served, member: &str, available: Vec<String>) -> Error {
        Error::MethodNotFound {
            hero: self.name.to_string(),
            interface: service.interface().name.to_owned(),
            method: member.to_owned(),
            available,
        }
    }

    pub(crate) fn realm(&self) -> &str {
        &self.info.realm
    }

    /// Ends the HERO's event streams.
    pub(crate) fn leave(&self) {
        self.left.send_replace(true);
    }

    /// Resolves when the HERO has left.
    pub(crate) fn leaving(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut left = self.left.subscribe();
        async move {
            let _ = left.wait_for(|left| *left).await;
        }
    }
}

/// Counts calls in progress, so that a HERO leaving can wait for them.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    fn enter(entry: &Arc<HeroEntry>) -> InFlightGuard {
        entry.in_flight.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(entry.clone())
    }

    /// Resolves when no call is in progress.
    pub(crate) async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One call in flight; dropping it ends the call.
pub(crate) struct InFlightGuard(Arc<HeroEntry>);

impl InFlightGuard {
    /// The name of the HERO called.
    pub(crate) fn hero(&self) -> &str {
        &self.0.name
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.in_flight.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.in_flight.idle.notify_waiters();
        }
    }
}

/// The HEROs of one server, by name. Names are unique per server across realms.
pub(crate) struct HeroTable {
    heros: RwLock<BTreeMap<String, Arc<HeroEntry>>>,
    /// The server has shut down (in-process stubs must stop calling, as remote ones do).
    closed: AtomicBool,
    /// Values handed out as handles by any HERO of the server.
    pub(crate) handles: Arc<HandleTable>,
    /// Long-running operations of the server's HEROs.
    pub(crate) operations: crate::server::operations::OperationTable,
    /// Whether errors name the HEROs here (`Limits::list_heros_in_errors`).
    list_heros_in_errors: bool,
    /// Paths (`/package.Service/Method`) of the client-streaming and bidirectional methods of
    /// the HEROs here: their requests may stay open, idle, between messages. Empty for most
    /// servers, which then pay one atomic load per call for the check.
    streaming_requests: RwLock<std::collections::HashSet<String>>,
    any_streaming_requests: AtomicBool,
}

/// A call handed to its HERO: the reply to come, and the call's place among those in flight.
pub(crate) struct Dispatched<R> {
    pub(crate) reply: ReplyFuture<R>,
    pub(crate) in_flight: InFlightGuard,
}

impl HeroTable {
    pub(crate) fn new(
        handles: Arc<HandleTable>,
        operations: crate::server::operations::OperationTable,
        list_heros_in_errors: bool,
    ) -> Self {
        HeroTable {
            heros: RwLock::default(),
            closed: AtomicBool::new(false),
            handles,
            operations,
            list_heros_in_errors,
            streaming_requests: RwLock::default(),
            any_streaming_requests: AtomicBool::new(false),
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.handles.close();
        self.operations.close();
        for entry in self.all() {
            entry.leave();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Hands a call of `/interface/method` to the HERO `name` (or the only one implementing
    /// `interface`), after the realm check. Shared by the network router and in-process stubs,
    /// so both meet the same rules and the same errors.
    pub(crate) fn dispatch<I: Dispatch>(
        &self,
        name: Option<&str>,
        caller_realm: Option<&str>,
        interface: &str,
        method: &str,
        incoming: I,
    ) -> Result<Dispatched<I::Reply>, Error> {
        let entry = self.select(name, caller_realm, interface)?;
        let service = entry.implementation(interface)?;
        match I::dispatch(service, method, Call { entry: entry.clone(), incoming }) {
            Some(reply) => Ok(Dispatched { reply, in_flight: InFlight::enter(&entry) }),
            None => Err(entry.no_member(service, method, service.interface().member_names())),
        }
    }

    /// The HERO `name`, if it is here and (when the caller says) in `caller_realm`.
    pub(crate) fn entry(&self, name: &str, caller_realm: Option<&str>) -> Result<Arc<HeroEntry>, Error> {
        self.select(Some(name), caller_realm, "")
    }

    /// Adds a HERO, unless the name is taken here.
    pub(crate) fn insert(&self, entry: Arc<HeroEntry>) -> Result<(), Error> {
        let mut heros = self.heros.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = heros.get(entry.name.as_ref()) {
            return Err(Error::NameConflict {
                name: entry.name.to_string(),
                realm: existing.realm().to_owned(),
                endpoint: existing.info.endpoints.first().cloned().unwrap_or_else(|| "this server".to_owned()),
            });
        }
        let streaming = entry.services.iter().flat_map(|service| {
            let interface = service.interface();
            interface.members.iter().filter(|m| m.streams_requests).map(|m| format!("/{}/{}", interface.name, m.name))
        });
        let streaming: Vec<String> = streaming.collect();
        if !streaming.is_empty() {
            self.streaming_requests.write().unwrap_or_else(|e| e.into_inner()).extend(streaming);
            self.any_streaming_requests.store(true, Ordering::Release);
        }
        heros.insert(entry.name.to_string(), entry);
        Ok(())
    }

    /// Whether `path` is a method of a HERO here whose requests are a stream.
    pub(crate) fn streams_requests(&self, path: &str) -> bool {
        self.any_streaming_requests.load(Ordering::Acquire)
            && self.streaming_requests.read().unwrap_or_else(|e| e.into_inner()).contains(path)
    }

    pub(crate) fn remove(&self, name: &str) -> Option<Arc<HeroEntry>> {
        self.heros.write().unwrap_or_else(|e| e.into_inner()).remove(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<HeroEntry>> {
        self.heros.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<HeroEntry>> {
        self.heros.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// The names of `heros` for an error, if this server lists them to anyone who calls.
    fn known(&self, heros: &BTreeMap<String, Arc<HeroEntry>>) -> Option<Vec<String>> {
        self.list_heros_in_errors.then(|| heros.keys().cloned().collect())
    }

    /// The HERO a call is for: named by the header, or the only one implementing `interface`.
    pub(crate) fn select(
        &self,
        name: Option<&str>,
        caller_realm: Option<&str>,
        interface: &str,
    ) -> Result<Arc<HeroEntry>, Error> {
        let heros = self.heros.read().unwrap_or_else(|e| e.into_inner());
        let entry = match name {
            Some(name) => heros.get(name).cloned().ok_or_else(|| Error::HeroNotFound {
                name: name.to_owned(),
                realm: caller_realm.unwrap_or("any").to_owned(),
                known: self.known(&heros),
            })?,
            None => {
                let mut candidates = heros
                    .values()
                    .filter(|h| caller_realm.is_none_or(|realm| h.realm() == realm))
                    .filter(|h| h.service(interface).is_some());
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => only.clone(),
                    (None, _) => {
                        // One in another realm: say so, rather than pretend nobody implements it.
                        if let (Some(caller_realm), Some(other)) =
                            (caller_realm, heros.values().find(|h| h.service(interface).is_some()))
                        {
                            return Err(Error::RealmMismatch {
                                hero: other.name.to_string(),
                                hero_realm: other.realm().to_owned(),
                                caller_realm: caller_realm.to_owned(),
                            });
                        }
                        return Err(Error::InterfaceNotServed {
                            interface: interface.to_owned(),
                            known: self.known(&heros),
                        });
                    }
                    (Some(_), Some(_)) => {
                        return Err(Error::AmbiguousHero {
                            interface: interface.to_owned(),
                            candidates: heros
                                .values()
                                .filter(|h| caller_realm.is_none_or(|realm| h.realm() == realm))
                                .filter(|h| h.service(interface).is_some())
                                .map(|h| h.name.to_string())
                                .collect(),
                        });
                    }
                }
            }
        };
        if let Some(caller_realm) = caller_realm {
            if caller_realm != entry.realm() {
                return Err(Error::RealmMismatch {
                    hero: entry.name.to_string(),
                    hero_realm: entry.realm().to_owned(),
                    caller_realm: caller_realm.to_owned(),
                });
            }
        }
        Ok(entry)
    }
}

/// The tower service tonic's server runs for every request.
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) table: Arc<HeroTable>,
    pub(crate) registry: crate::proto::registry_server::RegistryServer<crate::server::registry::RegistryService>,
    pub(crate) attributes: AttributesServer<AttributeService>,
    pub(crate) health: crate::server::health::HealthServer,
    pub(crate) callbacks: crate::proto::callbacks_server::CallbacksServer<crate::server::callbacks::CallbackService>,
    pub(crate) sessions: SessionsServer<HandleService>,
    pub(crate) handles: HandlesServer<HandleService>,
    pub(crate) operations:
        crate::proto::operations_server::OperationsServer<crate::server::operations::service::OperationService>,
    pub(crate) reflection_v1: crate::server::reflection::V1Server,
    pub(crate) reflection_v1alpha: crate::server::reflection::V1AlphaServer,
    pub(crate) max_message_size: usize,
}

impl tower::Service<http::Request<tonic::body::Body>> for Router {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        self.route(request)
    }
}

/// The router as every connection holds it: a `Router` clone is a reference count per
/// framework service; this is one.
#[derive(Clone)]
pub(crate) struct SharedRouter(pub(crate) Arc<Router>);

impl SharedRouter {
    pub(crate) fn route(&self, request: http::Request<tonic::body::Body>) -> RouteFuture {
        self.0.route(request)
    }
}

/// The answer to one call, as the router gives it.
pub(crate) type RouteFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl Router {
    fn route(&self, request: http::Request<tonic::body::Body>) -> RouteFuture {
        // The path outlives the request moved into the call (a cheap clone: `Uri` shares bytes).
        let uri = request.uri().clone();
        let Some((interface, method)) = split_path(uri.path()) else {
            let error =
                Error::invalid_argument(format!("'{}' is not a gRPC path '/package.Service/Method'", uri.path()));
            return answer(error);
        };
        // The framework's own services take the call as plain tonic services.
        match interface {
            crate::server::registry::SERVICE_NAME => return forward(&self.registry, request),
            crate::server::health::SERVICE_NAME => return forward(&self.health, request),
            crate::server::callbacks::SERVICE_NAME => return forward(&self.callbacks, request),
            crate::server::attribute_watch::SERVICE_NAME => return forward(&self.attributes, request),
            crate::server::operations::service::SERVICE_NAME => return forward(&self.operations, request),
            SESSIONS_SERVICE => return forward(&self.sessions, request),
            HANDLES_SERVICE => return forward(&self.handles, request),
            crate::server::reflection::V1_SERVICE => return forward(&self.reflection_v1, request),
            crate::server::reflection::V1ALPHA_SERVICE => return forward(&self.reflection_v1alpha, request),
            _ => {}
        }
        // Cloned (a reference count) so that the request can move into the call; looked up by
        // `HeaderName`, since a `&str` key is parsed and checked on every lookup.
        let (name, realm) = (request.headers().get(NAME).cloned(), request.headers().get(REALM).cloned());
        let (name, caller_realm) =
            match (decode_value(name.as_ref(), NAME_HEADER), decode_value(realm.as_ref(), REALM_HEADER)) {
                (Ok(name), Ok(realm)) => (name, realm),
                (Err(error), _) | (_, Err(error)) => return answer(error),
            };
        let incoming = OverNetwork { request, max_message_size: self.max_message_size };
        match self.table.dispatch(name.as_deref(), caller_realm.as_deref(), interface, method, incoming) {
            Ok(Dispatched { reply, in_flight }) => Box::pin(async move {
                let response = match CatchPanic(reply).await {
                    Ok(reply) => reply,
                    Err(payload) => panicked(in_flight.hero(), uri.path(), payload).to_status().into_http(),
                };
                drop(in_flight);
                Ok(response)
            }),
            Err(error) => answer(error),
        }
    }
}

/// Hands a request to one of the framework's services (a clone shares its state).
fn forward<S>(
    service: &S,
    request: http::Request<tonic::body::Body>,
) -> <Router as tower::Service<http::Request<tonic::body::Body>>>::Future
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut service = service.clone();
    Box::pin(async move { service.call(request).await })
}

/// An error as the whole answer to a call.
fn answer(error: Error) -> <Router as tower::Service<http::Request<tonic::body::Body>>>::Future {
    Box::pin(std::future::ready(Ok(error.to_status().into_http())))
}

/// `/pkg.Service/Method` -> (`pkg.Service`, `Method`).
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/')).then_some((service, method))
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths() {
        assert_eq!(split_path("/a.B/C"), Some(("a.B", "C")));
        assert_eq!(split_path("/a.B/"), None);
        assert_eq!(split_path("a.B/C"), None);
        assert_eq!(split_path("/a.B/C/D"), None);
    }
}
