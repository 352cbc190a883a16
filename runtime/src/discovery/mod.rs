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
//! how the backends' records merge), `observer.rs` the public [`Observer`], `mdns.rs` the mDNS
//! backend (daemon, browser thread, liveness checks), `etcd/` the etcd backend, `testing.rs` a
//! hook for the integration tests.
//!
//! The records are described in `record.rs` (and docs/PROTOCOL.md). This module does not open
//! gRPC connections, check for name conflicts or know about `HEROS_PEERS`: the server and the
//! client do, using [`Discovery::lookup`], [`Discovery::resolve`] and [`Discovery::settled`].
//!
mod cache;
mod etcd;
mod mdns;
mod observer;
mod record;
pub mod testing;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tracing::warn;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::proto::HeroInfo;

use cache::Cache;
pub use etcd::EtcdRegistration;
pub(crate) use mdns::Liveness;
use mdns::{HostNames, Mdns, MdnsAdvertisement};
pub use observer::Observer;

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

static GLOBAL: Mutex<Option<Arc<Discovery>>> = Mutex::new(None);

/// Events an observer may fall behind by before it re-syncs from the cache.
const EVENT_CAPACITY: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            hosts: Mutex::new(HostNames::new()),
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

impl Discovery {
    /// Advertises one HERO served at `port` with every backend: on mDNS on `bind_ip` if the
    /// server is bound to one address, else on every address of the enabled interfaces (IPv4
    /// only for `0.0.0.0`); in etcd with the record's endpoints, if its name is free in the
    /// realm (else [`Error::NameConflict`]). When etcd cannot be reached the HERO is advertised
    /// all the same, and registered in etcd in the background once it answers.
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

    /// How many etcd watches the process runs (0 without etcd). A diagnostic.
    pub(crate) fn etcd_watches(&self) -> usize {
        self.etcd.as_ref().map_or(0, |etcd| etcd.watches_running())
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
        if let Some(why) = self.outage() {
            warn!(hero = name, realm, "discovery: not found while etcd cannot be reached: {why}");
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

    /// Where the HERO stands in etcd, when etcd is used.
    pub fn etcd_registration(&self) -> Option<EtcdRegistration> {
        self.registration.as_ref().map(|r| r.status())
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

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(drop)
        .map_err(|e| Error::unavailable(format!("discovery: cannot start a thread: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_off_is_a_config_error() {
        let config = Config { mdns: false, ..Config::default() };
        let err = Discovery::global(&config).err().expect("must fail");
        assert!(matches!(err, Error::Config { .. }) && err.to_string().contains("discovery is off"), "{err}");
    }
}
