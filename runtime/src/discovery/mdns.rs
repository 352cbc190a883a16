//! The mDNS backend: one mdns-sd daemon, one browser thread (`heros-discovery`) that turns its
//! events into changes of the process's cache, and the advertisements of this process's HEROs.
//! `HEROS_INTERFACES` (names or addresses) limits the interfaces the daemon uses.
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

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, IfKind, Receiver, ServiceDaemon, ServiceEvent, ServiceInfo, TxtProperty, UnregisterStatus};
use tracing::{debug, trace, warn};

use super::cache::Resolved;
use super::record::{self, SERVICE_TYPE};
use super::{lock, spawn, DiscoveryEvent, Shared};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::proto::HeroInfo;
use crate::wire::names::instance_label;

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

/// The mDNS backend.
pub(super) struct Mdns {
    daemon: ServiceDaemon,
}

/// The SRV host names of this process's advertisements: `heros-<pid>-<random>-<n>.local.`, one per
/// advertised HERO. A HERO's goodbye withdraws its host's address records, which must not take
/// the process's other HEROs along; a number is used again once its goodbye is long past, since
/// mdns-sd keeps every host name it ever announced.
pub(super) struct HostNames {
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
    pub(super) fn new() -> HostNames {
        HostNames {
            base: format!("heros-{}-{:08x}", std::process::id(), random_u32()),
            next: 0,
            free: Default::default(),
        }
    }

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

/// How long [`Advertisement::withdraw`] waits for the daemon to have sent the goodbye.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// How often a registration that found the daemon's queue full is tried again (10 ms apart).
const REGISTER_ATTEMPTS: u32 = 200;

fn mdns_error(what: &str) -> impl FnOnce(mdns_sd::Error) -> Error + '_ {
    move |e| Error::unavailable(format!("mDNS: {what}: {e}"))
}

impl Mdns {
    pub(super) fn start(config: &Config, liveness: Liveness, shared: Arc<Shared>) -> Result<Mdns> {
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

impl Mdns {
    pub(super) async fn advertise(
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

/// One HERO advertised on mDNS; dropping it queues the goodbye.
pub(super) struct MdnsAdvertisement {
    daemon: ServiceDaemon,
    shared: Arc<Shared>,
    fullname: String,
    host_number: u64,
    active: bool,
}

impl MdnsAdvertisement {
    /// Withdraws the HERO and waits (up to 2 s) until the daemon has sent the goodbye.
    pub(super) async fn withdraw(mut self) {
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
