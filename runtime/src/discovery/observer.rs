//! [`Observer`]: the public window on discovery, for one realm or all of them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tracing::debug;

use super::{Discovery, DiscoveryEvent};
use crate::config::Config;
use crate::error::Result;
use crate::proto::HeroInfo;
use crate::wire::names::validate_realm;

/// Lists the HEROs discovery knows and reports the ones that come and go, in one realm or in all.
///
/// ```no_run
/// # async fn demo() -> heros_runtime::Result<()> {
/// use heros_runtime::{DiscoveryEvent, Observer};
///
/// let mut observer = Observer::new("lab")?;
/// for hero in observer.known() {
///     println!("{} at {:?}", hero.name, hero.endpoints);
/// }
/// while let Some(event) = observer.next().await {
///     match event {
///         DiscoveryEvent::Added(hero) => println!("+ {}", hero.name),
///         DiscoveryEvent::Removed(hero) => println!("- {}", hero.name),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
///
/// All observers of a process share its one mDNS browser and its one etcd watch per realm, so
/// creating one is cheap. A HERO that leaves with a goodbye is reported removed at once; one that
/// was killed within `HEROS_MDNS_TTL` (30 s by default) on mDNS, within its lease
/// (`HEROS_ETCD_TTL`, 5 s by default) through etcd. When etcd cannot be reached, the observer
/// reports [`DiscoveryEvent::Outage`] instead of removing the HEROs etcd listed;
/// [`DiscoveryEvent::Restored`] follows, after the changes it missed. An observer created during
/// an outage is not told it began: [`Observer::outage`] says whether etcd is reachable now.
pub struct Observer {
    discovery: Arc<Discovery>,
    events: broadcast::Receiver<DiscoveryEvent>,
    view: View,
    /// Changes found by a re-sync, not yet returned.
    pending: VecDeque<DiscoveryEvent>,
}

impl Observer {
    /// Observes the HEROs of `realm`. Reads `HEROS_INTERFACES` and `HEROS_DISCOVERY` (and
    /// `HEROS_MDNS_TTL`) when it is the first user of discovery in the process.
    pub fn new(realm: &str) -> Result<Self> {
        validate_realm(realm)?;
        Self::start(Some(realm.to_owned()))
    }

    /// Observes the HEROs of every realm.
    pub fn all_realms() -> Result<Self> {
        Self::start(None)
    }

    fn start(realm: Option<String>) -> Result<Self> {
        let discovery = Discovery::global(&Config::from_env()?)?;
        Ok(Self::with(discovery, realm))
    }

    pub(crate) fn with(discovery: Arc<Discovery>, realm: Option<String>) -> Self {
        let (events, known) = discovery.watch();
        // After subscribing: an outage found by the watch this starts reaches this observer.
        discovery.follow(realm.as_deref());
        let mut view = View { realm, reported: BTreeMap::new() };
        view.reported = view.filtered(known);
        Observer { discovery, events, view, pending: VecDeque::new() }
    }

    /// The realm observed; `None` for all.
    pub fn realm(&self) -> Option<&str> {
        self.view.realm.as_deref()
    }

    /// The HEROs known now, sorted by realm and name.
    pub fn known(&self) -> Vec<HeroInfo> {
        self.view.filtered(self.discovery.known()).into_values().collect()
    }

    /// Waits (at most `timeout`) until etcd has listed the HEROs of the observed realm(s), so that
    /// [`Observer::known`] is complete as far as etcd goes: a fresh process can list a realm
    /// without waiting a fixed time. At once without etcd; mDNS has no "that was everyone", its
    /// answers arrive within about a second.
    pub async fn synced(&self, timeout: std::time::Duration) {
        self.discovery.synced(self.view.realm.as_deref(), timeout).await;
    }

    /// How many etcd watches this process runs: one per realm observed, looked up or followed
    /// for events, however many observers, stubs and event observers share it (0 without etcd).
    /// A diagnostic, e.g. to check that a program does not open more than it needs.
    pub fn etcd_watches(&self) -> usize {
        self.discovery.etcd_watches()
    }

    /// Why etcd cannot be reached now (where and the error); `None` while it can, or when it is
    /// not used. While it cannot, the HEROs it listed stay known.
    pub fn outage(&self) -> Option<String> {
        self.discovery.outage()
    }

    /// The HEROs known now that implement `interface` (a full service name such as
    /// `examples.v1.Oven`).
    pub fn by_interface(&self, interface: &str) -> Vec<HeroInfo> {
        self.known().into_iter().filter(|hero| hero.interfaces.iter().any(|i| i == interface)).collect()
    }

    /// The HEROs known now that carry `tag`.
    pub fn by_tag(&self, tag: &str) -> Vec<HeroInfo> {
        self.known().into_iter().filter(|hero| hero.tags.iter().any(|t| t == tag)).collect()
    }

    /// The next change after the observer was created: a HERO added, updated or removed. Waits
    /// until there is one. When the observer has fallen too far behind to be told every change,
    /// it compares what it reported with what is known now and reports the difference. `None`
    /// only if discovery stopped.
    pub async fn next(&mut self) -> Option<DiscoveryEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.events.recv().await {
                Ok(event) => {
                    if let Some(event) = self.view.apply(event) {
                        return Some(event);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    debug!(missed, "discovery: observer fell behind; re-syncing from the cache");
                    let (events, known) = self.discovery.watch();
                    self.events = events;
                    self.pending.extend(self.view.resync(known));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("realm", &self.view.realm)
            .field("reported", &self.view.reported.len())
            .finish()
    }
}

/// What an observer has reported: the HEROs known when it was created, plus the changes since.
/// It turns the process-wide change feed into the changes of one observer.
#[derive(Debug)]
struct View {
    realm: Option<String>,
    reported: BTreeMap<(String, String), HeroInfo>,
}

impl View {
    fn wants(&self, hero: &HeroInfo) -> bool {
        self.realm.as_ref().is_none_or(|realm| *realm == hero.realm)
    }

    fn filtered(&self, heros: Vec<HeroInfo>) -> BTreeMap<(String, String), HeroInfo> {
        heros.into_iter().filter(|hero| self.wants(hero)).map(|hero| (key(&hero), hero)).collect()
    }

    /// Applies a change; returns it as this observer sees it, or nothing if it changes nothing.
    fn apply(&mut self, event: DiscoveryEvent) -> Option<DiscoveryEvent> {
        match event.info() {
            Some(hero) if !self.wants(hero) => return None,
            // Outages concern every observer.
            None => return Some(event),
            Some(_) => {}
        }
        match event {
            DiscoveryEvent::Added(hero) | DiscoveryEvent::Updated(hero) => {
                match self.reported.insert(key(&hero), hero.clone()) {
                    None => Some(DiscoveryEvent::Added(hero)),
                    Some(old) if old == hero => None,
                    Some(_) => Some(DiscoveryEvent::Updated(hero)),
                }
            }
            DiscoveryEvent::Removed(hero) => self.reported.remove(&key(&hero)).map(DiscoveryEvent::Removed),
            other => Some(other),
        }
    }

    /// Starts over from `known`; returns the difference to what was reported, as changes.
    fn resync(&mut self, known: Vec<HeroInfo>) -> Vec<DiscoveryEvent> {
        let now = self.filtered(known);
        let mut changes = Vec::new();
        for (key, hero) in &self.reported {
            if !now.contains_key(key) {
                changes.push(DiscoveryEvent::Removed(hero.clone()));
            }
        }
        for (key, hero) in &now {
            match self.reported.get(key) {
                None => changes.push(DiscoveryEvent::Added(hero.clone())),
                Some(old) if old != hero => changes.push(DiscoveryEvent::Updated(hero.clone())),
                Some(_) => {}
            }
        }
        self.reported = now;
        changes
    }
}

fn key(hero: &HeroInfo) -> (String, String) {
    (hero.realm.clone(), hero.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hero(realm: &str, name: &str, port: u16) -> HeroInfo {
        HeroInfo {
            name: name.into(),
            realm: realm.into(),
            endpoints: vec![format!("http://127.0.0.1:{port}")],
            ..Default::default()
        }
    }

    #[test]
    fn a_view_reports_only_its_realm_and_only_real_changes() {
        let mut view = View { realm: Some("lab".into()), reported: BTreeMap::new() };
        view.reported = view.filtered(vec![hero("lab", "a", 1), hero("other", "x", 1)]);
        assert_eq!(view.reported.len(), 1);
        // Already reported (the change raced with the snapshot): nothing new.
        assert_eq!(view.apply(DiscoveryEvent::Added(hero("lab", "a", 1))), None);
        assert_eq!(view.apply(DiscoveryEvent::Added(hero("other", "y", 1))), None);
        assert_eq!(
            view.apply(DiscoveryEvent::Added(hero("lab", "a", 2))),
            Some(DiscoveryEvent::Updated(hero("lab", "a", 2)))
        );
        assert_eq!(
            view.apply(DiscoveryEvent::Updated(hero("lab", "b", 1))),
            Some(DiscoveryEvent::Added(hero("lab", "b", 1)))
        );
        assert_eq!(view.apply(DiscoveryEvent::Removed(hero("lab", "c", 1))), None);
        assert_eq!(
            view.apply(DiscoveryEvent::Removed(hero("lab", "b", 9))),
            Some(DiscoveryEvent::Removed(hero("lab", "b", 1)))
        );
    }

    #[test]
    fn a_resync_reports_the_difference() {
        let mut view = View { realm: None, reported: BTreeMap::new() };
        view.reported = view.filtered(vec![hero("lab", "gone", 1), hero("lab", "moved", 1), hero("lab", "same", 1)]);
        let changes = view.resync(vec![hero("lab", "moved", 2), hero("lab", "new", 1), hero("lab", "same", 1)]);
        assert_eq!(
            changes,
            vec![
                DiscoveryEvent::Removed(hero("lab", "gone", 1)),
                DiscoveryEvent::Updated(hero("lab", "moved", 2)),
                DiscoveryEvent::Added(hero("lab", "new", 1)),
            ]
        );
        assert_eq!(view.resync(vec![hero("lab", "moved", 2), hero("lab", "new", 1), hero("lab", "same", 1)]), vec![]);
    }
}
