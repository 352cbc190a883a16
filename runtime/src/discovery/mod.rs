//! Discovery: finding HEROs by name with mDNS / DNS-SD and through etcd, and advertising the HEROs
//! of this process.
//!
//! A process has one [`Discovery`]: one cache, fed by the backends `HEROS_DISCOVERY` names: one
//! mdns-sd daemon and one long-lived browser of `_heros._tcp.local.`, and (`etcd/`) one etcd watch
//! per realm the process asks about; looking up a HERO that is already known costs no network
//! round trip. A thread (`heros-discovery`) turns the browser's events into cache
//! changes and broadcasts them as [`DiscoveryEvent`]s; [`Observer`] is the public view of them.
//! `HEROS_INTERFACES` (names or addresses) limits the interfaces the daemon uses.
//!
//! Files: `record.rs` the wire contract (TXT, names, endpoints), `cache.rs` what is known (and
//! how the backends' records merge), `observer.rs` the public [`Observer`], `etcd/` the etcd
//! backend, `testing.rs` a hook for the integration tests.
//!
//! The records are described in `record.rs` (and docs/PROTOCOL.md). This module does not open
//! gRPC connections, check for name conflicts or know about `HEROS_PEERS`: the server and the
//! client do, using [`Discovery::lookup`], [`Discovery::resolve`] and [`Discovery::settled`].
//!
//! # Removal of HEROs that left without a goodbye
//!
//! A HERO that stops normally sends an mDNS goodbye and disappears at once. One that was killed
//! does not; mdns-sd fixes the TTLs it sends (120 s for SRV and addresses, 75 min for PTR and TXT),
//! so waiting for its records to expire would list a dead HERO for two minutes. Instead the
//! browser asks each known HERO to confirm its records (RFC 6762 §10.4, mdns-sd's `verify`) once
//! per period; a HERO that does not answer within the verify window is removed. `HEROS_MDNS_TTL`
//! (seconds, default 30, at least 4; `0` turns the checks off) bounds how long a dead HERO stays
//! listed. Each check costs two small queries and one answer per known HERO and period, for each
//! process that knows the HERO. (mdns-sd keeps its record TTLs private; other DNS-SD browsers see
//! a killed HERO for up to 120 s.)
//!
//! Known behaviours of mdns-sd this is built around: it answers a repeated query at most once a
//! second per record (RFC 6762 §6); a fresh registration is probed for ~0.8 s before it is
//! announced; with IPv6 on, the first resolve of an instance can carry only a link-local address.

mod cache;
mod etcd;
mod observer;
mod record;
pub mod testing;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, IfKind, Receiver, ServiceDaemon, ServiceEvent, ServiceInfo, TxtProperty, UnregisterStatus};
use tokio::sync::{broadcast, watch};
use tracing::{debug, trace, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::proto::HeroInfo;
use crate::wire::names::instance_label;

use cache::{Cache, Resolved};
pub use observer::Observer;
use record::SERVICE_TYPE;

/// A change seen by discovery.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A HERO appeared.
    Added(HeroInfo),
    /// A known HERO's record changed (endpoints, interfaces, tags or metadata).
    Updated(HeroInfo),
    /// A HERO left (goodbye), or stopped answering (killed, host gone). This is its last record.
    Removed(HeroInfo),
    /// etcd cannot be reached (the message says where and why). The HEROs it listed stay listed:
    /// their servers do not need etcd to serve, so they are most likely alive; changes are
    /// caught up when it is back. Reported once per outage.
    Outage(String),
    /// etcd can be reached again, and what changed meanwhile has been reported.
    Restored,
}

impl DiscoveryEvent {
    /// The HERO the change is about; `None` for [`DiscoveryEvent::Outage`] and
    /// [`DiscoveryEvent::Restored`], which are about discovery itself.
    pub fn info(&self) -> Option<&HeroInfo> {
        match self {
            DiscoveryEvent::Added(info) | DiscoveryEvent::Updated(info) | DiscoveryEvent::Removed(info) => Some(info),
            DiscoveryEvent::Outage(_) | DiscoveryEvent::Restored => None,
        }
    }
}

/// How a HERO that vanished without a goodbye is noticed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Liveness {
    /// The longest a dead HERO stays listed; `None` leaves it to mdns-sd's record TTLs (120 s).
    pub(crate) ttl: Option<Duration>,
}

impl Liveness {
    pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(30);
    /// Below this the verify window (at least 2 s, see [`Liveness::verify_window`]) would overlap
    /// the next check.
    const MIN_TTL: Duration = Duration::from_secs(4);

    /// Reads `HEROS_MDNS_TTL`.
    pub(crate) fn from_env() -> Result<Self> {
        Self::parse(std::env::var("HEROS_MDNS_TTL").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self> {
        let value = match value.map(str::trim) {
            None | Some("") => return Ok(Liveness { ttl: Some(Self::DEFAULT_TTL) }),
            Some(value) => value,
        };
        let bad = || {
            Error::config(format!("HEROS_MDNS_TTL: '{value}' is not a number of seconds (0 for off, or 4 and more)"))
        };
        match value.parse::<u64>().map_err(|_| bad())? {
            0 => Ok(Liveness { ttl: None }),
            secs => Self::with_ttl(Duration::from_secs(secs)).ok_or_else(bad),
        }
    }

    pub(crate) fn with_ttl(ttl: Duration) -> Option<Self> {
        (ttl >= Self::MIN_TTL).then_some(Liveness { ttl: Some(ttl) })
    }

    /// How long a HERO has to answer a check: a third of the TTL, within the 2..10 s of RFC 6762
    /// §10.4 (mdns-sd repeats the query after 1 s, and answers are rate-limited to one a second).
    fn verify_window(ttl: Duration) -> Duration {
        (ttl / 3).clamp(Duration::from_secs(2), Duration::from_secs(10))
    }

    /// Time between two checks of the same HERO: check period plus verify window is the TTL.
    fn check_period(ttl: Duration) -> Duration {
        ttl - Self::verify_window(ttl)
    }
}

/// The process-wide discovery: one cache, fed by mDNS (one mdns-sd daemon, one browser) and by
/// etcd, as the configuration that started it says.
pub(crate) struct Discovery {
    mdns: Option<Mdns>,
    etcd: Option<etcd::Etcd>,
    shared: Arc<Shared>,
    /// The configuration it started with (backends, interfaces), to warn about later users who
    /// asked for another.
    started_with: (Vec<String>, Vec<String>, bool),
}

/// The mDNS backend.
struct Mdns {
    daemon: ServiceDaemon,
}

/// What the browser thread and the handles share.
struct Shared {
    cache: Mutex<Cache>,
    events: broadcast::Sender<DiscoveryEvent>,
    /// Bumped on every cache change; [`Discovery::resolve`] waits on it.
    changed: watch::Sender<()>,
    browsing_since: Instant,
    /// Lower-case full names of the instances this process advertises (never verified).
    own: Mutex<HashSet<String>>,
    hosts: Mutex<HostNames>,
    /// Why etcd cannot be reached now; `None` while it can (or is not used).
    outage: Mutex<Option<String>>,
}

/// The SRV host names of this process's advertisements: `heros-<pid>-<random>-<n>.local.`, one per
/// advertised HERO. A HERO's goodbye withdraws its host's address records, which must not take
/// the process's other HEROs along; a number is used again once its goodbye is long past, since
/// mdns-sd keeps every host name it ever announced.
struct HostNames {
    /// `heros-<pid>-<random>`: unique per process.
    base: String,
    next: u64,
    /// Numbers whose advertisement was withdrawn, and when.
    free: std::collections::VecDeque<(u64, Instant)>,
}

/// How long a withdrawn host name rests before another HERO takes it: peers drop records one
/// second after their goodbye (RFC 6762 §10.1), and a new HERO's records must not fall in that.
const HOST_NAME_REST: Duration = Duration::from_secs(5);

impl HostNames {
    /// A number and its host name: the oldest withdrawn one that has rested, or a new one.
    fn take(&mut self) -> (u64, String) {
        let number = match self.free.front() {
            Some((number, since)) if since.elapsed() >= HOST_NAME_REST => {
                let number = *number;
                self.free.pop_front();
                number
            }
            _ => {
                self.next += 1;
                self.next - 1
            }
        };
        (number, format!("{}-{number}.local.", self.base))
    }

    /// `number` may be taken again after [`HOST_NAME_REST`].
    fn give_back(&mut self, number: u64) {
        self.free.push_back((number, Instant::now()));
    }
}

static GLOBAL: Mutex<Option<Arc<Discovery>>> = Mutex::new(None);

/// Events an observer may fall behind by before it re-syncs from the cache.
const EVENT_CAPACITY: usize = 1024;

/// How long [`Advertisement::withdraw`] waits for the daemon to have sent the goodbye.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// How often a registration that found the daemon's queue full is tried again (10 ms apart).
const REGISTER_ATTEMPTS: u32 = 200;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mdns_error(what: &str) -> impl FnOnce(mdns_sd::Error) -> Error + '_ {
    move |e| Error::unavailable(format!("mDNS: {what}: {e}"))
}

impl Discovery {
    /// The process-wide instance, started on first use with the backends of `config` (mDNS with
    /// `config.interfaces` and `HEROS_MDNS_TTL`, etcd with `config.etcd`). Fails with
    /// [`Error::Config`] when every backend is off.
    pub(crate) fn global(config: &Config) -> Result<Arc<Discovery>> {
        Self::global_with(config, Liveness::from_env()?)
    }

    /// [`Discovery::global`] with explicit liveness settings (used only when it starts).
    pub(crate) fn global_with(config: &Config, liveness: Liveness) -> Result<Arc<Discovery>> {
        if !config.discovery_on() {
            return Err(Error::config(
                "discovery is off (HEROS_DISCOVERY=off); reach HEROs by address (heros://host:port/name or HEROS_PEERS)",
            ));
        }
        let mut global = lock(&GLOBAL);
        if let Some(discovery) = global.as_ref() {
            let asked = (config.interfaces.clone(), config.etcd.clone(), config.mdns);
            if discovery.started_with != asked {
                warn!(started_with = ?discovery.started_with, ?asked,
                    "discovery: already running with other settings (interfaces, etcd, mDNS); one discovery serves the whole process");
            }
            return Ok(discovery.clone());
        }
        let discovery = Arc::new(Discovery::start(config, liveness)?);
        *global = Some(discovery.clone());
        Ok(discovery)
    }

    fn start(config: &Config, liveness: Liveness) -> Result<Discovery> {
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::default()),
            events: broadcast::channel(EVENT_CAPACITY).0,
            changed: watch::channel(()).0,
            browsing_since: Instant::now(),
            own: Mutex::new(HashSet::new()),
            hosts: Mutex::new(HostNames {
                base: format!("heros-{}-{:08x}", std::process::id(), random_u32()),
                next: 0,
                free: Default::default(),
            }),
            outage: Mutex::new(None),
        });
        let mdns = match config.mdns {
            true => Some(Mdns::start(config, liveness, shared.clone())?),
            false => None,
        };
        let etcd = match config.etcd.is_empty() {
            false => Some(etcd::Etcd::start(config, shared.clone())?),
            true => None,
        };
        Ok(Discovery {
            mdns,
            etcd,
            shared,
            started_with: (config.interfaces.clone(), config.etcd.clone(), config.mdns),
        })
    }
}

impl Mdns {
    fn start(config: &Config, liveness: Liveness, shared: Arc<Shared>) -> Result<Mdns> {
        let daemon = ServiceDaemon::new().map_err(mdns_error("cannot start the daemon"))?;
        if !config.interfaces.is_empty() {
            // Selections apply in order: everything off, then the chosen ones on.
            daemon.disable_interface(IfKind::All).map_err(mdns_error("interface selection"))?;
            let chosen: Vec<IfKind> = config
                .interfaces
                .iter()
                .map(|i| i.parse::<IpAddr>().map(IfKind::Addr).unwrap_or_else(|_| IfKind::Name(i.clone())))
                .collect();
            daemon.enable_interface(chosen).map_err(mdns_error("interface selection"))?;
        }
        let monitor = daemon.monitor().map_err(mdns_error("monitor"))?;
        let (inbox, events) = mpsc::channel();
        let browser = Browser {
            daemon: daemon.clone(),
            shared: shared.clone(),
            liveness,
            checks: HashMap::new(),
            realms: HashSet::new(),
            inbox,
        };
        browser.browse(SERVICE_TYPE)?;
        spawn("heros-discovery", move || browser.run(events))?;
        spawn("heros-mdns-log", move || log_daemon_events(monitor))?;
        debug!(interfaces = ?config.interfaces, ?liveness, "discovery: mDNS started");
        Ok(Mdns { daemon })
    }
}

impl Discovery {
    /// Advertises one HERO served at `port` with every backend: on mDNS on `bind_ip` if the
    /// server is bound to one address, else on every address of the enabled interfaces (IPv4
    /// only for `0.0.0.0`); in etcd with the record's endpoints, if its name is free in the
    /// realm (else [`Error::NameConflict`]; [`Error::Unavailable`] when etcd cannot be reached).
    pub(crate) async fn advertise(&self, info: &HeroInfo, port: u16, bind_ip: IpAddr) -> Result<Advertisement> {
        // etcd first: it decides the name across the realm, before mDNS tells anyone.
        let registration = match &self.etcd {
            Some(etcd) => Some(etcd.register(info).await?),
            None => None,
        };
        let mdns = match &self.mdns {
            Some(mdns) => Some(mdns.advertise(&self.shared, info, port, bind_ip).await?),
            None => None,
        };
        Ok(Advertisement { fullname: record::fullname(&info.name, &info.realm), mdns, registration })
    }
}

impl Mdns {
    async fn advertise(
        &self,
        shared: &Arc<Shared>,
        info: &HeroInfo,
        port: u16,
        bind_ip: IpAddr,
    ) -> Result<MdnsAdvertisement> {
        let properties: Vec<TxtProperty> = record::encode_txt(info)?.into_iter().map(TxtProperty::from).collect();
        let label = instance_label(&info.name, &info.realm);
        // A host name of its own per HERO (see `HostNames`).
        let (host_number, host) = lock(&shared.hosts).take();
        // Registering under the subtype registers the instance under the plain type as well.
        let ty_domain = record::realm_subtype(&info.realm);
        let service = if bind_ip.is_unspecified() {
            ServiceInfo::new(&ty_domain, &label, &host, (), port, properties).map(|service| {
                let mut service = service.enable_addr_auto();
                if bind_ip.is_ipv4() {
                    // A server on 0.0.0.0 does not accept IPv6 connections.
                    service.set_interfaces(vec![IfKind::IPv4]);
                }
                service
            })
        } else {
            ServiceInfo::new(&ty_domain, &label, &host, bind_ip, port, properties)
        };
        let service = service.map_err(|e| {
            lock(&shared.hosts).give_back(host_number);
            Error::config(format!("HERO '{label}': {e}"))
        })?;
        let fullname = service.get_fullname().to_owned();
        lock(&shared.own).insert(fullname.to_lowercase());
        // The daemon's command queue is bounded: sharing many HEROs at once can find it full
        // ("try again"). It drains within milliseconds, so wait a little and try again.
        let mut attempts = 0;
        loop {
            match self.daemon.register(service.clone()) {
                Ok(()) => break,
                Err(mdns_sd::Error::Again) if attempts < REGISTER_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => {
                    lock(&shared.own).remove(&fullname.to_lowercase());
                    lock(&shared.hosts).give_back(host_number);
                    return Err(mdns_error("register")(e));
                }
            }
        }
        debug!(instance = %fullname, port, %bind_ip, "discovery: advertising");
        Ok(MdnsAdvertisement {
            daemon: self.daemon.clone(),
            shared: shared.clone(),
            fullname,
            host_number,
            active: true,
        })
    }
}

impl Discovery {
    /// The cached record of that HERO, if known. Costs no network round trip (the first lookup
    /// in a realm starts its etcd watch, whose listing [`Discovery::resolve`] waits for).
    pub(crate) fn lookup(&self, realm: &str, name: &str) -> Option<HeroInfo> {
        if let Some(etcd) = &self.etcd {
            etcd.follow(Some(realm));
        }
        lock(&self.shared.cache).lookup(realm, name)
    }

    /// Starts the etcd watch of `realm` (every realm for `None`) if it is not running yet.
    pub(crate) fn follow(&self, realm: Option<&str>) {
        if let Some(etcd) = &self.etcd {
            etcd.follow(realm);
        }
    }

    /// Waits (at most `timeout`) until the etcd watch of `realm` (every realm for `None`) has
    /// delivered its first listing, or failed to. At once without etcd.
    pub(crate) async fn synced(&self, realm: Option<&str>, timeout: Duration) {
        if let Some(etcd) = &self.etcd {
            etcd.synced(realm, timeout).await;
        }
    }

    /// Why etcd cannot be reached now; `None` while it can, or when it is not used.
    pub(crate) fn outage(&self) -> Option<String> {
        lock(&self.shared.outage).clone()
    }

    /// Whether mDNS is one of the backends.
    pub(crate) fn has_mdns(&self) -> bool {
        self.mdns.is_some()
    }

    /// Waits until the HERO is known, or fails with [`Error::DiscoveryTimeout`] after `timeout`,
    /// listing the names that are known in the realm.
    pub(crate) async fn resolve(&self, realm: &str, name: &str, timeout: Duration) -> Result<HeroInfo> {
        let mut changed = self.shared.changed.subscribe();
        self.follow(Some(realm));
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(info) = self.lookup(realm, name) {
                return Ok(info);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Err(Error::DiscoveryTimeout {
            name: name.to_owned(),
            realm: realm.to_owned(),
            waited: timeout,
            known: lock(&self.shared.cache).names_in(realm),
        })
    }

    /// Everything known (all realms), sorted by (realm, name).
    pub(crate) fn known(&self) -> Vec<HeroInfo> {
        lock(&self.shared.cache).known()
    }

    /// The change feed.
    #[allow(dead_code)] // for the server and the CLI; Observer uses `watch`
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.shared.events.subscribe()
    }

    /// The change feed and the state it starts from, taken atomically: every change after the
    /// snapshot is in the receiver, none before it.
    pub(crate) fn watch(&self) -> (broadcast::Receiver<DiscoveryEvent>, Vec<HeroInfo>) {
        let cache = lock(&self.shared.cache);
        (self.shared.events.subscribe(), cache.known())
    }

    /// Resolves once the mDNS browser has been running for at least `window`, so that answers to
    /// its first query had time to arrive (e.g. before a name-conflict check). At once without
    /// mDNS.
    pub(crate) async fn settled(&self, window: Duration) {
        if self.mdns.is_some() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(self.shared.browsing_since + window)).await;
        }
    }
}

impl Shared {
    /// Applies one change to the cache and tells everyone, under the cache lock so that
    /// [`Discovery::watch`] sees each change either in its snapshot or in its receiver.
    fn apply(&self, change: impl FnOnce(&mut Cache) -> Option<DiscoveryEvent>) -> Option<DiscoveryEvent> {
        let mut cache = lock(&self.cache);
        let event = change(&mut cache)?;
        // No receivers is fine: nobody observes.
        let _ = self.events.send(event.clone());
        self.changed.send_replace(());
        Some(event)
    }

    /// [`Shared::apply`] for a change that makes several events (an etcd listing).
    fn apply_all(&self, change: impl FnOnce(&mut Cache) -> Vec<DiscoveryEvent>) {
        let mut cache = lock(&self.cache);
        let events = change(&mut cache);
        for event in &events {
            let _ = self.events.send(event.clone());
        }
        if !events.is_empty() {
            self.changed.send_replace(());
        }
    }

    /// Records whether etcd can be reached (`None`: it can); on a change, tells the observers
    /// ([`DiscoveryEvent::Outage`] or [`DiscoveryEvent::Restored`]) and returns true. Several
    /// watches report the same outage; it is told once.
    fn set_outage(&self, outage: Option<String>) -> bool {
        let _cache = lock(&self.cache);
        let mut current = lock(&self.outage);
        if current.is_some() == outage.is_some() {
            return false;
        }
        let event = match &outage {
            Some(why) => DiscoveryEvent::Outage(why.clone()),
            None => DiscoveryEvent::Restored,
        };
        *current = outage;
        let _ = self.events.send(event);
        self.changed.send_replace(());
        true
    }
}

/// One advertised HERO. [`Advertisement::withdraw`] (or dropping it) sends the mDNS goodbye and
/// deletes its etcd key.
#[must_use = "dropping the advertisement withdraws the HERO at once"]
pub struct Advertisement {
    fullname: String,
    mdns: Option<MdnsAdvertisement>,
    registration: Option<etcd::Registration>,
}

impl Advertisement {
    /// The DNS-SD instance name, e.g. `oven@lab._heros._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// The etcd key, e.g. `/heros/v1/lab/oven`, when etcd is used.
    pub fn etcd_key(&self) -> Option<&str> {
        self.registration.as_ref().map(|r| r.key())
    }

    /// Withdraws the HERO from every backend and waits until each confirms (mDNS: the goodbye
    /// was sent, up to 2 s; etcd: the key was deleted, up to a request timeout), so that the
    /// process may exit right after. Best effort: a failure is logged, there is nothing the
    /// caller could do about it (peers drop the HERO within `HEROS_MDNS_TTL` or the etcd lease).
    pub async fn withdraw(mut self) {
        let mdns = self.mdns.take().map(MdnsAdvertisement::withdraw);
        let etcd = self.registration.take().map(etcd::Registration::withdraw);
        tokio::join!(
            async {
                if let Some(mdns) = mdns {
                    mdns.await
                }
            },
            async {
                if let Some(etcd) = etcd {
                    etcd.await
                }
            }
        );
    }
}

impl std::fmt::Debug for Advertisement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertisement")
            .field("fullname", &self.fullname)
            .field("mdns", &self.mdns.is_some())
            .field("etcd", &self.registration)
            .finish()
    }
}

/// One HERO advertised on mDNS; dropping it queues the goodbye.
struct MdnsAdvertisement {
    daemon: ServiceDaemon,
    shared: Arc<Shared>,
    fullname: String,
    host_number: u64,
    active: bool,
}

impl MdnsAdvertisement {
    /// Withdraws the HERO and waits (up to 2 s) until the daemon has sent the goodbye.
    async fn withdraw(mut self) {
        self.active = false;
        lock(&self.shared.own).remove(&self.fullname.to_lowercase());
        lock(&self.shared.hosts).give_back(self.host_number);
        let status = match self.daemon.unregister(&self.fullname) {
            Ok(status) => status,
            Err(e) => return warn!(instance = %self.fullname, "mDNS: cannot send the goodbye: {e}"),
        };
        match tokio::time::timeout(GOODBYE_WAIT, status.recv_async()).await {
            Ok(Ok(UnregisterStatus::OK)) => debug!(instance = %self.fullname, "discovery: goodbye sent"),
            Ok(Ok(UnregisterStatus::NotFound)) => debug!(instance = %self.fullname, "discovery: was not registered"),
            Ok(Err(_)) => warn!(instance = %self.fullname, "mDNS: the daemon stopped before sending the goodbye"),
            Err(_) => debug!(instance = %self.fullname, "discovery: goodbye not confirmed within {GOODBYE_WAIT:?}"),
        }
    }
}

impl Drop for MdnsAdvertisement {
    /// Best effort: queues the goodbye without waiting for it to be sent.
    fn drop(&mut self) {
        if self.active {
            lock(&self.shared.own).remove(&self.fullname.to_lowercase());
            lock(&self.shared.hosts).give_back(self.host_number);
            if let Err(e) = self.daemon.unregister(&self.fullname) {
                debug!(instance = %self.fullname, "discovery: goodbye on drop failed: {e}");
            }
        }
    }
}

/// The browser thread: turns mdns-sd's events into cache changes and runs the liveness checks.
struct Browser {
    daemon: ServiceDaemon,
    shared: Arc<Shared>,
    liveness: Liveness,
    /// Known HEROs by lower-case full name: the name as mdns-sd caches it, and the next check.
    checks: HashMap<String, (String, Instant)>,
    /// The realms whose subtype is browsed too (see [`Browser::browse`]).
    realms: HashSet<String>,
    /// Where the events of every browse arrive.
    inbox: mpsc::Sender<ServiceEvent>,
}

impl Browser {
    /// Browses `ty_domain`, forwarding its events to the browser thread.
    ///
    /// Besides `_heros._tcp.local.`, the browser browses the subtype of each realm it has seen:
    /// when an instance registered with a subtype expires, mdns-sd 0.21 reports `ServiceRemoved`
    /// only to the browser of whichever of its two PTR names it met first in a `HashMap`, so a
    /// browser of the plain type alone misses about half of the expiries.
    fn browse(&self, ty_domain: &str) -> Result<()> {
        let events = self.daemon.browse(ty_domain).map_err(mdns_error("browse"))?;
        let inbox = self.inbox.clone();
        spawn("heros-mdns-browse", move || {
            while let Ok(event) = events.recv() {
                if inbox.send(event).is_err() {
                    return;
                }
            }
        })
    }

    fn run(mut self, events: mpsc::Receiver<ServiceEvent>) {
        loop {
            let event = match self.checks.values().map(|(_, at)| *at).min() {
                Some(next_check) => events.recv_timeout(next_check.saturating_duration_since(Instant::now())),
                None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match event {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.check_due();
        }
    }

    fn handle(&mut self, event: ServiceEvent) {
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let resolved = Resolved::from_mdns(&service);
                let fullname = resolved.fullname.clone();
                if let Some(DiscoveryEvent::Added(info)) = self.shared.apply(|cache| cache.resolved(resolved)) {
                    if let Some(ttl) = self.liveness.ttl {
                        let next = Instant::now() + Liveness::check_period(ttl);
                        self.checks.insert(fullname.to_lowercase(), (fullname, next));
                    }
                    if self.realms.insert(info.realm.clone()) {
                        if let Err(e) = self.browse(&record::realm_subtype(&info.realm)) {
                            warn!(realm = %info.realm, "discovery: cannot browse the realm; removals may be missed: {e}");
                        }
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                self.checks.remove(&fullname.to_lowercase());
                self.shared.apply(|cache| cache.removed(&fullname));
            }
            other => trace!(?other, "discovery: browser event"),
        }
    }

    /// Asks each HERO whose check is due to confirm its records; one that does not answer within
    /// the verify window expires in mdns-sd's cache, which reports it removed.
    fn check_due(&mut self) {
        let Some(ttl) = self.liveness.ttl else { return };
        let now = Instant::now();
        let own = lock(&self.shared.own).clone();
        for (key, (fullname, next)) in self.checks.iter_mut().filter(|(_, (_, at))| *at <= now) {
            *next = now + Liveness::check_period(ttl);
            if own.contains(key) {
                continue;
            }
            trace!(instance = %fullname, "discovery: verifying");
            if let Err(e) = self.daemon.verify(fullname.clone(), Liveness::verify_window(ttl)) {
                debug!(instance = %fullname, "discovery: verify failed: {e}");
            }
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(drop)
        .map_err(|e| Error::unavailable(format!("discovery: cannot start a thread: {e}")))
}

fn log_daemon_events(monitor: Receiver<DaemonEvent>) {
    while let Ok(event) = monitor.recv() {
        match event {
            DaemonEvent::Error(e) => warn!("mDNS: {e}"),
            DaemonEvent::NameChange(change) => warn!(
                original = %change.original, new = %change.new_name,
                "mDNS: a name of this process was taken on the network and renamed; another process serves the same HERO name"
            ),
            DaemonEvent::IpAdd(ip) => debug!(%ip, "mDNS: address added"),
            DaemonEvent::IpDel(ip) => debug!(%ip, "mDNS: address removed"),
            other => trace!(?other, "mDNS: daemon event"),
        }
    }
}

/// A random number without a dependency: std seeds each `RandomState` from the OS.
fn random_u32() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_from_env_values() {
        assert_eq!(Liveness::parse(None).unwrap().ttl, Some(Liveness::DEFAULT_TTL));
        assert_eq!(Liveness::parse(Some(" ")).unwrap().ttl, Some(Liveness::DEFAULT_TTL));
        assert_eq!(Liveness::parse(Some("0")).unwrap().ttl, None);
        assert_eq!(Liveness::parse(Some("12")).unwrap().ttl, Some(Duration::from_secs(12)));
        for bad in ["3", "-1", "ten", "1.5"] {
            let err = Liveness::parse(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("HEROS_MDNS_TTL"), "{bad}: {err}");
        }
    }

    #[test]
    fn check_period_and_window_add_up_to_the_ttl() {
        for secs in [4, 6, 30, 60, 600] {
            let ttl = Duration::from_secs(secs);
            let window = Liveness::verify_window(ttl);
            assert!(window >= Duration::from_secs(2) && window <= Duration::from_secs(10), "{secs}");
            assert!(Liveness::check_period(ttl) >= window, "{secs}: checks must not overlap");
            assert_eq!(Liveness::check_period(ttl) + window, ttl);
        }
    }

    #[test]
    fn discovery_off_is_a_config_error() {
        let config = Config { mdns: false, ..Config::default() };
        let err = Discovery::global(&config).err().expect("must fail");
        assert!(matches!(err, Error::Config { .. }) && err.to_string().contains("discovery is off"), "{err}");
    }

    #[test]
    fn host_names_are_one_per_advertisement_and_used_again_only_after_a_rest() {
        let mut hosts = HostNames { base: "heros-1-abc".into(), next: 0, free: Default::default() };
        assert_eq!(hosts.take(), (0, "heros-1-abc-0.local.".to_owned()));
        assert_eq!(hosts.take().0, 1);
        hosts.give_back(0);
        assert_eq!(hosts.take().0, 2, "a name just withdrawn rests");
        hosts.free[0].1 -= HOST_NAME_REST;
        assert_eq!(hosts.take().0, 0, "a rested name is taken again");
        assert_eq!(hosts.take().0, 3);
    }
}
