//! The monitor's shared state, one per process, whatever the number of open pages: the roster
//! of HEROs, one connection per HERO, and the shared subscriptions (feeds). Pages only ever
//! read from here; nothing here knows about HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::connections::Connections;
use super::failure::Failure;
use super::feeds::Feeds;
use super::roster::Roster;
use crate::hero::Hero;
use crate::locate::Locator;

pub(crate) struct Hub {
    pub(crate) realm: String,
    pub(crate) roster: Roster,
    pub(crate) connections: Connections,
    pub(crate) feeds: Feeds,
    pub(crate) stats: Stats,
}

/// Counters the API reports (`/api/stats`), so that tests and people can see that pages share
/// subscriptions instead of each opening its own.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Subscriptions opened to HEROs (events and attribute watches), reopenings included.
    pub(crate) upstream_opened: AtomicU64,
    /// Feeds alive now: one per HERO member some page is watching.
    pub(crate) feeds_live: AtomicU64,
    /// Pages connected to the live stream now.
    pub(crate) pages_live: AtomicU64,
}

impl Stats {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "upstream_opened": self.upstream_opened.load(Ordering::Relaxed),
            "feeds_live": self.feeds_live.load(Ordering::Relaxed),
            "pages_live": self.pages_live.load(Ordering::Relaxed),
        })
    }
}

impl Hub {
    /// Starts following the HEROs of the locator's realm (mDNS, or polling `--peer` servers).
    pub(crate) fn start(locator: Locator, timeout: Duration) -> anyhow::Result<Arc<Hub>> {
        let hub = Arc::new_cyclic(|hub| Hub {
            realm: locator.realm.clone(),
            roster: Roster::new(),
            connections: Connections::new(timeout),
            feeds: Feeds::new(hub.clone()),
            stats: Stats::default(),
        });
        super::roster::follow(hub.clone(), locator)?;
        Ok(hub)
    }

    /// The connection to the HERO `name` of the roster: 404 for a HERO the roster does not know,
    /// 502 for one that cannot be reached or described.
    pub(crate) async fn hero(&self, name: &str) -> Result<Arc<Hero>, Failure> {
        let Some(info) = self.roster.info(name) else {
            let known = self.roster.names();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            return Err(Failure::not_found(format!("no HERO '{name}' in realm '{}'; known: {known}", self.realm)));
        };
        self.connections.get(info).await.map_err(Failure::unreachable)
    }
}
