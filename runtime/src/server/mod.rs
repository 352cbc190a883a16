//! The one gRPC server of a process: it listens on one port, hosts any number of HEROs, and
//! takes them off the network gracefully (mDNS goodbye first, then the calls in flight finish).

pub(crate) mod access;
pub(crate) mod attribute_watch;
pub(crate) mod call_context;
pub(crate) mod callbacks;
pub(crate) mod descriptor_index;
pub(crate) mod health;
pub(crate) mod incoming;
pub(crate) mod operations;
pub(crate) mod panic;
pub(crate) mod reflection;
pub(crate) mod registry;
pub(crate) mod routing;
pub(crate) mod service;
pub(crate) mod serving;
pub(crate) mod this_process;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::discovery::{Advertisement, Discovery};
use crate::error::{Error, Result};
use crate::handles::service::HandleService;
use crate::handles::table::HandleTable;
use crate::proto::handles_server::HandlesServer;
use crate::proto::sessions_server::SessionsServer;
use crate::proto::{HandleStats, HeroInfo};
use crate::server::registry::RegistryService;
use crate::server::routing::{HeroEntry, HeroTable, InFlight, Router, SharedRouter};
use crate::server::service::{HeroService, Served};
use crate::wire::names::validate_name;
use crate::wire::PROTOCOL_VERSION;

/// How long a process's browser must have listened before a new HERO may conclude that its name
/// is free. Responders answer within 20-120 ms, but never multicast the same record twice within
/// one second (RFC 6762 §6, which mdns-sd follows): a HERO announced just before our first query
/// is only heard on the browser's next query, about a second later. Only the first HERO of a
/// process waits; the browser keeps listening afterwards.
const NAME_PROBE_WINDOW: Duration = Duration::from_millis(1200);

/// How long a HERO leaving waits for its calls in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a HERO leaving waits for its event streams and attribute watches to end.
const STREAMS_END_TIMEOUT: Duration = Duration::from_secs(2);
/// After its streams ended, for their connections to write the last status out.
const STREAMS_FLUSH_TIME: Duration = Duration::from_millis(20);

/// A HERO to be shared: a name and the interfaces its object implements.
pub struct Hero {
    name: String,
    realm: Option<String>,
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
    services: Vec<Box<dyn Served>>,
}

impl Hero {
    /// A HERO called `name`, in the server's realm unless [`Hero::realm`] says otherwise.
    pub fn new(name: impl Into<String>) -> Self {
        Hero { name: name.into(), realm: None, tags: Vec::new(), metadata: BTreeMap::new(), services: Vec::new() }
    }

    /// Adds an interface, e.g. `TestObjectServer::new(object)`.
    pub fn interface(mut self, service: impl HeroService) -> Self {
        self.services.push(Box::new(service));
        self
    }

    /// The realm; default: the server's (`HEROS_REALM`, else `heros`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// A tag for lookups by tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// A key-value pair published in discovery and the registry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A HERO being served. Dropping it takes the HERO off the network at once; [`LocalHero::shutdown`]
/// does so gracefully.
#[must_use = "the HERO stops being served when this handle is dropped"]
pub struct LocalHero {
    entry: Arc<HeroEntry>,
    table: Arc<HeroTable>,
    advertisement: Mutex<Option<Advertisement>>,
    health: crate::server::health::Health,
}

impl LocalHero {
    /// The HERO's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// What discovery and the registry say about it.
    pub fn info(&self) -> &HeroInfo {
        &self.entry.info
    }

    /// A `heros://host:port/name` URL that reaches it without discovery.
    pub fn url(&self) -> String {
        let endpoint = self.entry.info.endpoints.first().map(String::as_str).unwrap_or("http://127.0.0.1:0");
        format!(
            "heros://{}/{}?realm={}",
            endpoint.trim_start_matches("http://"),
            self.entry.name,
            self.entry.info.realm
        )
    }

    /// Where it stands in etcd: registered, pending (etcd could not be reached; retried in the
    /// background while the HERO serves) or in conflict (another HERO took the name meanwhile).
    /// `None` when discovery does not use etcd.
    pub fn etcd_registration(&self) -> Option<crate::EtcdRegistration> {
        let advertisement = self.advertisement.lock().unwrap_or_else(|e| e.into_inner());
        advertisement.as_ref().and_then(|a| a.etcd_registration())
    }

    /// The interfaces of this HERO that no other HERO of the server implements.
    fn no_longer_served(&self) -> Vec<String> {
        let others = self.table.all();
        let interfaces = self.entry.info.interfaces.iter();
        interfaces.filter(|i| !others.iter().any(|h| h.info.interfaces.contains(i))).cloned().collect()
    }

    /// Says goodbye on mDNS, refuses new calls, and waits (up to 10 s) for calls in flight.
    pub async fn shutdown(self) {
        // Health first: checkers see it leaving before it is gone.
        self.health.set(&self.entry.name, false).await;
        let advertisement = self.advertisement.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(advertisement) = advertisement {
            advertisement.withdraw().await;
        }
        self.table.remove(&self.entry.name);
        let had_streams = self.entry.streams.any();
        self.entry.leave();
        for interface in self.no_longer_served() {
            self.health.set(&interface, false).await;
        }
        let calls = async {
            if tokio::time::timeout(DRAIN_TIMEOUT, self.entry.in_flight.drained()).await.is_err() {
                tracing::warn!(hero = %self.entry.name, "calls still in flight after {DRAIN_TIMEOUT:?}; leaving anyway");
            }
        };
        // Each open stream ends as soon as it is polled (a subscriber that does not read may
        // hold it back, hence the bound); then its connection needs a moment to write the
        // status out, which a process exiting right after this would otherwise cut off.
        let streams = async {
            if tokio::time::timeout(STREAMS_END_TIMEOUT, self.entry.streams.drained()).await.is_err() {
                tracing::warn!(hero = %self.entry.name, "event streams still open after {STREAMS_END_TIMEOUT:?}");
            } else if had_streams {
                tokio::time::sleep(STREAMS_FLUSH_TIME).await;
            }
        };
        tokio::join!(calls, streams);
    }
}

impl Drop for LocalHero {
    fn drop(&mut self) {
        // The advertisement's own Drop sends the goodbye.
        self.advertisement.lock().unwrap_or_else(|e| e.into_inner()).take();
        let was_here = self.table.remove(&self.entry.name).is_some();
        self.entry.leave();
        // Health is async; a HERO dropped inside a runtime reports it on a task of its own.
        if let (true, Ok(runtime)) = (was_here, tokio::runtime::Handle::try_current()) {
            let (health, name, interfaces) =
                (self.health.clone(), self.entry.name.to_string(), self.no_longer_served());
            runtime.spawn(async move {
                health.set(&name, false).await;
                for interface in interfaces {
                    health.set(&interface, false).await;
                }
            });
        }
    }
}

/// Settings of a [`Server`]; start from [`Server::builder`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    config: Config,
    /// A bad environment variable, reported by `start` unless `config` replaced the lot.
    env_error: Option<Error>,
}

impl ServerBuilder {
    /// Replaces the configuration (normally read from the environment).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.env_error = None;
        self
    }

    /// Address to listen on (default: `HEROS_BIND`, else all interfaces, an ephemeral port).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.config.bind = address;
        self
    }

    /// Default realm of HEROs shared here.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.config.realm = realm.into();
        self
    }

    /// Whether HEROs are advertised with mDNS (default: `HEROS_DISCOVERY`, else yes).
    pub fn mdns(mut self, enabled: bool) -> Self {
        self.config.mdns = enabled;
        self
    }

    /// Whether stubs of this process call its HEROs directly, without encoding or a socket
    /// (default: `HEROS_IN_PROCESS`, else yes). Off, they go over loopback like any client.
    pub fn in_process(mut self, enabled: bool) -> Self {
        self.config.in_process = enabled;
        self
    }

    /// How long a client session that holds no stream lives after its last use (default:
    /// `HEROS_LEASE_MS`, else 30 s). Its handles are released when it ends.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Largest message accepted or sent, in bytes (default: `HEROS_MAX_MESSAGE_SIZE`, else
    /// 256 MiB). Larger ones are refused with RESOURCE_EXHAUSTED.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.limits.max_message_size = bytes;
        self
    }

    /// Every limit at once (default: the `HEROS_*` limit variables, see [`crate::Limits`]).
    pub fn limits(mut self, limits: crate::limits::Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Credentials folder of a secured realm (default: `HEROS_CREDENTIALS`, else none): the
    /// server takes only TLS with a certificate of the realm CA, and this process calls over TLS.
    pub fn credentials(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.credentials = Some(dir.into());
        self
    }

    /// A shared token every call must carry (default: `HEROS_TOKEN`, else none). Weaker than
    /// credentials; see docs/PROTOCOL.md, "Security".
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = Some(crate::security::Token::new(token));
        self
    }

    /// Binds and starts serving.
    pub async fn start(self) -> Result<Server> {
        Server::start_with(self).await
    }
}

/// A gRPC server hosting HEROs. Cheap to clone; all clones are the same server.
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    table: Arc<HeroTable>,
    health: crate::server::health::Health,
    config: Config,
    local_addr: SocketAddr,
    endpoints: Vec<String>,
    serving: crate::server::serving::Serving,
}

static GLOBAL: OnceCell<Server> = OnceCell::const_new();

impl Server {
    /// A builder configured from the environment (see [`Config::from_env`]).
    pub fn builder() -> ServerBuilder {
        let (config, env_error) = match Config::from_env() {
            Ok(config) => (config, None),
            Err(error) => (Config::default(), Some(error)),
        };
        ServerBuilder { config, env_error }
    }

    /// The process's shared server, started from the environment on first use. It belongs to
    /// the tokio runtime that first asked for it.
    pub async fn global() -> Result<Server> {
        GLOBAL.get_or_try_init(|| async { Server::builder().config(Config::from_env()?).start().await }).await.cloned()
    }

    async fn start_with(builder: ServerBuilder) -> Result<Server> {
        let ServerBuilder { config, env_error } = builder;
        let max_message_size = config.limits.max_message_size;
        if let Some(error) = env_error {
            return Err(error);
        }
        let security = config.security()?;
        if security.is_some() {
            // The process's calls (HERO references, callbacks, stubs) go with the same credentials.
            crate::security::install(security.clone());
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| Error::config(format!("cannot listen on {}: {e}", config.bind)))?;
        let local_addr = listener.local_addr().map_err(|e| Error::config(format!("listening socket: {e}")))?;
        let endpoints = endpoints_of(local_addr);
        crate::security::dial_policy::server_started(crate::security::dial_policy::ServerSide {
            policy: config.dial,
            peers: config.peers.clone(),
            own: endpoints.clone(),
            discovered: {
                let config = config.clone();
                Box::new(move || match config.discovery_on() {
                    true => Discovery::global(&config)
                        .map(|d| d.known().into_iter().flat_map(|hero| hero.endpoints).collect())
                        .unwrap_or_default(),
                    false => Vec::new(),
                })
            },
        });
        if config.credentials.is_none() && !local_addr.ip().is_loopback() {
            tracing::warn!(
                %local_addr,
                "serving without credentials on a non-loopback address: anyone on the network can call these HEROs. \
                 To secure the realm: `heros realm init <dir>`, `heros realm issue <dir> <name>`, then \
                 HEROS_CREDENTIALS=<dir>/<name> for every process (README.md, \"Securing a realm\")"
            );
        }
        let handles = Arc::new(HandleTable::new(config.lease, config.limits.clone()));
        let (health, health_server) = crate::server::health::Health::start().await;
        let operations = crate::server::operations::OperationTable::new(
            config.limits.max_operations,
            config.limits.operation_lifetime,
        );
        let table = Arc::new(HeroTable::new(handles.clone(), operations, config.limits.list_heros_in_errors));
        let handle_service = HandleService { table: handles.clone() };
        let (reflection_v1, reflection_v1alpha) = crate::server::reflection::Reflection::new(table.clone()).servers();
        let router = Router {
            table: table.clone(),
            registry: crate::proto::registry_server::RegistryServer::new(RegistryService { table: table.clone() }),
            health: health_server,
            attributes: crate::proto::attributes_server::AttributesServer::new(
                crate::server::attribute_watch::AttributeService { table: table.clone() },
            ),
            callbacks: crate::proto::callbacks_server::CallbacksServer::new(
                crate::server::callbacks::CallbackService { table: table.clone() },
            ),
            sessions: SessionsServer::new(handle_service.clone()),
            handles: HandlesServer::new(handle_service)
                .max_decoding_message_size(max_message_size)
                .max_encoding_message_size(max_message_size),
            operations: crate::proto::operations_server::OperationsServer::new(
                crate::server::operations::service::OperationService { table: table.clone() },
            )
            .max_decoding_message_size(max_message_size)
            .max_encoding_message_size(max_message_size),
            reflection_v1,
            reflection_v1alpha,
            max_message_size,
        };
        tokio::spawn(expire_leases(Arc::downgrade(&handles)));
        // HEROs come and go at run time, so the router takes every path and routes by itself.
        let serving = crate::server::serving::Serving::start(
            listener,
            SharedRouter(Arc::new(router)),
            config.limits.clone(),
            security.clone(),
        );
        tracing::info!(%local_addr, "HEROS server listening");
        if config.in_process {
            crate::server::this_process::register(&endpoints, &table);
        }
        Ok(Server { inner: Arc::new(ServerInner { table, health, config, local_addr, endpoints, serving }) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// `http://ip:port` addresses where the server can be reached.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Its handle table: values, exports, and references per client session.
    pub fn handle_stats(&self) -> HandleStats {
        self.inner.table.handles.stats()
    }

    /// The HEROs it hosts.
    pub fn heros(&self) -> Vec<HeroInfo> {
        self.inner.table.all().iter().map(|h| h.info.clone()).collect()
    }

    /// Starts serving `hero`: refuses a name already alive in its realm (here, anywhere mDNS
    /// reaches, or anywhere in the realm through etcd), then advertises it. etcd that cannot be
    /// reached does not stop it: the HERO serves, and is registered in etcd once it answers
    /// ([`LocalHero::etcd_registration`]).
    pub async fn share(&self, hero: Hero) -> Result<LocalHero> {
        let Hero { name, realm, mut tags, metadata, services } = hero;
        let realm = realm.unwrap_or_else(|| self.inner.config.realm.clone());
        validate_name(&name, &realm)?;
        if services.is_empty() {
            return Err(Error::config(format!("HERO '{name}' has no interface; add one with Hero::interface")));
        }
        let mut interfaces: Vec<String> = Vec::new();
        for service in &services {
            let interface = service.interface();
            if interfaces.iter().any(|i| i == interface.name) {
                return Err(Error::config(format!("HERO '{name}' implements {} twice", interface.name)));
            }
            interfaces.push(interface.name.to_owned());
            tags.extend(interface.tags.iter().map(|t| (*t).to_owned()));
        }
        tags.sort();
        tags.dedup();
        let info = HeroInfo {
            name: name.clone(),
            realm: realm.clone(),
            interfaces,
            tags,
            metadata: metadata.into_iter().collect(),
            protocol_version: PROTOCOL_VERSION,
            endpoints: self.inner.endpoints.clone(),
            secured: self.inner.config.credentials.is_some(),
        };
        let discovery = match self.inner.config.discovery_on() {
            true => Some(Discovery::global(&self.inner.config)?),
            false => None,
        };
        // mDNS can only probe; etcd decides by a transaction when the HERO is advertised.
        if let Some(discovery) = discovery.as_ref().filter(|d| d.has_mdns()) {
            ensure_name_free(discovery, &realm, &name, &self.inner.endpoints).await?;
        }
        let entry = Arc::new(HeroEntry {
            name: name.as_str().into(),
            info,
            services,
            in_flight: InFlight::default(),
            streams: InFlight::default(),
            handles: self.inner.table.handles.clone(),
            discover: self.inner.config.discovery_on() || !self.inner.config.peers.is_empty(),
            left: tokio::sync::watch::Sender::new(false),
            callbacks: Default::default(),
        });
        self.inner.table.insert(entry.clone())?;
        let advertisement = match &discovery {
            Some(discovery) => {
                match discovery.advertise(&entry.info, self.inner.local_addr.port(), self.inner.local_addr.ip()).await {
                    Ok(advertisement) => Some(advertisement),
                    Err(error) => {
                        self.inner.table.remove(&name);
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        let health = self.inner.health.clone();
        health.set(&name, true).await;
        for interface in &entry.info.interfaces {
            health.set(interface, true).await;
        }
        tracing::info!(hero = %name, %realm, endpoints = ?entry.info.endpoints, "HERO shared");
        Ok(LocalHero { entry, table: self.inner.table.clone(), advertisement: Mutex::new(advertisement), health })
    }

    /// Stops serving: refuses new connections and waits for calls in flight. HEROs still shared
    /// should be shut down first (their goodbyes go out when their handles drop).
    pub async fn shutdown(&self) {
        self.inner.health.stop().await;
        crate::server::this_process::unregister(&self.inner.table);
        self.inner.serving.stop().await;
    }

    /// Client connections open now.
    pub fn connections(&self) -> usize {
        self.inner.serving.connections()
    }
}

/// Shares `service` as a HERO called `name` on the process's server (see [`Server::global`]).
pub async fn share(name: impl Into<String>, service: impl HeroService) -> Result<LocalHero> {
    Server::global().await?.share(Hero::new(name).interface(service)).await
}

/// A HERO of this name in this realm that answers its registry is alive: refuse to start a
/// second one. A record nobody answers for is stale (killed without goodbye) and is ignored.
async fn ensure_name_free(discovery: &Discovery, realm: &str, name: &str, own: &[String]) -> Result<()> {
    discovery.settled(NAME_PROBE_WINDOW).await;
    let Some(existing) = discovery.lookup(realm, name) else { return Ok(()) };
    for endpoint in existing.endpoints.iter().filter(|e| !own.contains(e)) {
        if crate::net::describe::hosts_hero(endpoint, name, realm).await {
            return Err(Error::NameConflict {
                name: name.to_owned(),
                realm: realm.to_owned(),
                endpoint: endpoint.to_string(),
            });
        }
    }
    tracing::debug!(hero = name, realm, "a stale mDNS record of this name does not answer; taking the name");
    Ok(())
}

/// Ends client sessions whose lease ran out, until the server's table goes.
async fn expire_leases(table: std::sync::Weak<HandleTable>) {
    let Some(lease) = table.upgrade().map(|t| t.default_lease()) else { return };
    // A session lives at most a quarter lease too long.
    let mut tick = tokio::time::interval((lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = tick.tick().await;
        let Some(table) = table.upgrade() else { return };
        let expired = table.expire(now);
        if expired > 0 {
            tracing::debug!(expired, "client sessions' leases ran out; their handles are released");
        }
    }
}

/// Where a server bound to `addr` is reachable: that address, or each interface's for 0.0.0.0.
fn endpoints_of(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let format = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
    };
    if !addr.ip().is_unspecified() {
        return vec![format(addr.ip())];
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .filter(|ip| addr.is_ipv6() || ip.is_ipv4())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(_) => true,
        })
        .collect();
    // Other hosts first, loopback last, IPv4 before IPv6.
    ips.sort_by_key(|ip| (ip.is_loopback(), ip.is_ipv6()));
    ips.dedup();
    if ips.is_empty() {
        ips.push(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    ips.into_iter().map(format).collect()
}
