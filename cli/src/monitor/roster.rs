//! The HEROs of the realm as the pages show them: each HERO's record and its health, kept in a
//! `watch` channel that every page's live stream follows (a page that falls behind gets the
//! latest roster, never a backlog). Records come from mDNS (the runtime's `Observer`) or from
//! polling the `--peer` servers; health from `grpc.health.v1.Health/Watch` on the HERO's name,
//! which also tells at once that a killed HERO's server is gone, long before mDNS forgets it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heros_runtime::proto::HeroInfo;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::hub::Hub;
use crate::locate::Locator;
use crate::remote::RemoteError;

/// How often `--peer` servers are asked again, and how long a health watch waits before it
/// tries a HERO again after losing it.
const AGAIN: Duration = Duration::from_secs(1);
/// How long a `--peer` server has to answer `ListHeros`.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the monitor knows of one HERO's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not asked yet (just discovered).
    Checking,
    Serving,
    /// The server says the HERO is not serving (it is leaving).
    NotServing,
    /// Its server cannot be reached, or stopped answering.
    Unreachable,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Checking => "checking",
            Health::Serving => "serving",
            Health::NotServing => "not_serving",
            Health::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) info: HeroInfo,
    pub(crate) health: Health,
}

/// By HERO name (one realm).
pub(crate) type Heros = Arc<BTreeMap<String, Entry>>;

pub(crate) struct Roster {
    heros: watch::Sender<Heros>,
    /// The health watch of each HERO, ended when the HERO leaves.
    health: Mutex<HashMap<String, AbortHandle>>,
}

impl Roster {
    pub(crate) fn new() -> Self {
        Roster { heros: watch::Sender::new(Heros::default()), health: Mutex::default() }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Heros> {
        self.heros.subscribe()
    }

    pub(crate) fn info(&self, name: &str) -> Option<HeroInfo> {
        self.heros.borrow().get(name).map(|entry| entry.info.clone())
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.heros.borrow().keys().cloned().collect()
    }

    fn set_health(&self, name: &str, health: Health) {
        self.heros.send_if_modified(|heros| match heros.get(name) {
            Some(entry) if entry.health != health => {
                Arc::make_mut(heros).get_mut(name).expect("present").health = health;
                true
            }
            _ => false,
        });
    }
}

/// The roster as the page reads it: a list sorted by name.
pub(crate) fn to_json(heros: &Heros) -> Value {
    let list: Vec<Value> = heros
        .values()
        .map(|entry| {
            let mut hero = crate::list::hero_json(&entry.info);
            hero["endpoint"] = json!(entry.info.endpoints.first());
            hero["health"] = json!(entry.health.as_str());
            hero
        })
        .collect();
    Value::Array(list)
}

/// Starts keeping `hub`'s roster up to date from discovery or the peers.
pub(crate) fn follow(hub: Arc<Hub>, locator: Locator) -> anyhow::Result<()> {
    if locator.peers.is_empty() {
        let mut observer = locator.observer(Some(&locator.realm))?;
        tokio::spawn(async move {
            update(&hub, observer.known());
            // Each change re-reads the whole list: simpler than applying changes, and as cheap.
            while observer.next().await.is_some() {
                update(&hub, observer.known());
            }
        });
    } else {
        // One locator per peer: a peer that is down takes its own HEROs off the roster, not
        // the others'.
        let peers: Vec<Locator> = locator
            .peers
            .iter()
            .map(|peer| {
                let mut one = locator.clone();
                one.peers = vec![peer.clone()];
                one
            })
            .collect();
        tokio::spawn(async move {
            let mut failing: Vec<Option<String>> = vec![None; peers.len()];
            loop {
                let mut known: Vec<HeroInfo> = Vec::new();
                for (peer, failed) in peers.iter().zip(&mut failing) {
                    match peer.ask_peers(Some(&peer.realm), ASK_TIMEOUT).await {
                        Ok(heros) => {
                            *failed = None;
                            for hero in heros {
                                if !known.iter().any(|k| k.name == hero.name) {
                                    known.push(hero);
                                }
                            }
                        }
                        Err(error) => {
                            // Said once, not every second while the peer stays down.
                            let error = format!("{error:#}");
                            if failed.as_ref() != Some(&error) {
                                eprintln!("heros monitor: {error}");
                            }
                            *failed = Some(error);
                        }
                    }
                }
                update(&hub, known);
                tokio::time::sleep(AGAIN).await;
            }
        });
    }
    Ok(())
}

/// Makes the roster `known`: HEROs that stay keep their health; new or changed ones get a
/// health watch; HEROs that left lose theirs and their connection.
fn update(hub: &Arc<Hub>, known: Vec<HeroInfo>) {
    let roster = &hub.roster;
    let old = roster.heros.borrow().clone();
    let mut new = BTreeMap::new();
    let mut started = Vec::new();
    for info in known {
        let health = match old.get(&info.name) {
            Some(entry) if entry.info == info => entry.health,
            _ => {
                started.push(info.clone());
                Health::Checking
            }
        };
        new.insert(info.name.clone(), Entry { info, health });
    }
    let mut watches = roster.health.lock().unwrap_or_else(|e| e.into_inner());
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        if let Some(watch) = watches.remove(name) {
            watch.abort();
        }
        hub.connections.forget(name);
    }
    for info in started {
        let name = info.name.clone();
        let watch = tokio::spawn(watch_health(hub.clone(), info)).abort_handle();
        if let Some(previous) = watches.insert(name, watch) {
            previous.abort();
        }
    }
    drop(watches);
    roster.heros.send_if_modified(|heros| {
        if **heros == new {
            return false;
        }
        *heros = Arc::new(new);
        true
    });
}

/// Follows the health the HERO's server reports for the HERO's name, reconnecting after a loss.
async fn watch_health(hub: Arc<Hub>, info: HeroInfo) {
    loop {
        let watched = async {
            let hero = hub.connections.get(info.clone()).await?;
            let request = hero.request(HealthCheckRequest { service: info.name.clone() }, false);
            let mut statuses = HealthClient::new(hero.channel.clone())
                .watch(request)
                .await
                .map_err(|status| RemoteError::from_status(&status))?
                .into_inner();
            while let Some(reply) = statuses.message().await.map_err(|status| RemoteError::from_status(&status))? {
                let health = match reply.status() {
                    ServingStatus::Serving => Health::Serving,
                    _ => Health::NotServing,
                };
                hub.roster.set_health(&info.name, health);
            }
            anyhow::Ok(())
        };
        // Ended or failed: either way the HERO is not being served to us now.
        let _ = watched.await;
        hub.roster.set_health(&info.name, Health::Unreachable);
        tokio::time::sleep(AGAIN).await;
    }
}
