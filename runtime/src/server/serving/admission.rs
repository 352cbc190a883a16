//! Who may hold a connection: a cap on connections in total and per peer address, and what a
//! peer's connections share (the budget of request bytes still arriving). A permit lives as long
//! as its connection; dropping it gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

/// Connections open now, for the caps and for shutdown.
pub(crate) struct Admission {
    max_total: usize,
    max_per_peer: usize,
    /// Bytes of request messages one peer may have arriving at once.
    receiving_budget: usize,
    state: Mutex<State>,
    /// Woken when the last connection closes.
    all_closed: Notify,
    refusals: LogThrottle,
}

#[derive(Default)]
struct State {
    total: usize,
    peers: HashMap<IpAddr, Peer>,
}

struct Peer {
    connections: usize,
    receiving: Arc<Semaphore>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The server holds `max_total` connections.
    Total(usize),
    /// This peer holds `max_per_peer` connections.
    PerPeer(usize),
}

/// One admitted connection.
pub(crate) struct Permit {
    admission: Arc<Admission>,
    peer: IpAddr,
    /// The peer's budget of request bytes still arriving, shared by its connections.
    pub(crate) receiving: Arc<Semaphore>,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_peer: usize, receiving_budget: usize) -> Self {
        Admission {
            max_total,
            max_per_peer,
            receiving_budget,
            state: Mutex::default(),
            all_closed: Notify::new(),
            refusals: LogThrottle::new(Duration::from_secs(10)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a connection from `peer`, or why there is none (logged, at most once per
    /// ten seconds with the count since).
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refused> {
        let refused = {
            let mut state = self.state();
            let held = state.peers.get(&peer).map_or(0, |p| p.connections);
            if state.total >= self.max_total {
                Some(Refused::Total(self.max_total))
            } else if held >= self.max_per_peer {
                Some(Refused::PerPeer(self.max_per_peer))
            } else {
                state.total += 1;
                let budget = self.receiving_budget;
                let entry = state
                    .peers
                    .entry(peer)
                    .or_insert_with(|| Peer { connections: 0, receiving: Arc::new(Semaphore::new(budget)) });
                entry.connections += 1;
                let receiving = entry.receiving.clone();
                return Ok(Permit { admission: self.clone(), peer, receiving });
            }
        };
        let refused = refused.expect("refused when not admitted");
        self.refusals.log(|count| match refused {
            Refused::Total(max) => tracing::warn!(
                %peer,
                refused_since_last_report = count,
                "refusing connections: the server holds {max} (HEROS_MAX_CONNECTIONS or the open-files limit)"
            ),
            Refused::PerPeer(max) => tracing::warn!(
                %peer,
                refused_since_last_report = count,
                "refusing connections: this peer holds {max} (HEROS_MAX_CONNECTIONS_PER_PEER)"
            ),
        });
        Err(refused)
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.state().total
    }

    /// Resolves when no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let closed = self.all_closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        state.total -= 1;
        if let Some(peer) = state.peers.get_mut(&self.peer) {
            peer.connections -= 1;
            // The peer's next connection gets a fresh budget. Bodies of this one that still
            // hold some of the old budget end with their connection, so both overlap briefly.
            if peer.connections == 0 {
                state.peers.remove(&self.peer);
            }
        }
        if state.total == 0 {
            self.admission.all_closed.notify_waiters();
        }
    }
}

/// Logs a recurring condition once, then at most once per `period` with how often it happened
/// in between: an attack must not also flood the log.
pub(crate) struct LogThrottle {
    period: Duration,
    started: Instant,
    /// Milliseconds since `started` of the last report, plus one (0: never reported).
    last: AtomicU64,
    since: AtomicU64,
}

impl LogThrottle {
    pub(crate) fn new(period: Duration) -> Self {
        LogThrottle { period, started: Instant::now(), last: AtomicU64::new(0), since: AtomicU64::new(0) }
    }

    /// Calls `report` with the number of occurrences since the last report, when one is due.
    pub(crate) fn log(&self, report: impl FnOnce(u64)) {
        let count = self.since.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.period.as_millis() as u64;
        if due && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            self.since.fetch_sub(count, Ordering::Relaxed);
            report(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_total_and_per_peer_and_places_come_back() {
        let admission = Arc::new(Admission::new(3, 2, 100));
        let (a, b) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Refused::PerPeer(2)));
        let other = admission.admit(b).unwrap();
        assert!(Arc::ptr_eq(&first.receiving, &_second.receiving), "one budget per peer");
        assert!(!Arc::ptr_eq(&first.receiving, &other.receiving));
        assert_eq!(admission.admit(b).err(), Some(Refused::Total(3)));
        drop(first);
        let _again = admission.admit(a).expect("a closed connection gives its place back");
        assert_eq!(admission.open(), 3);
    }

    #[test]
    fn the_throttle_reports_the_first_then_counts() {
        let throttle = LogThrottle::new(Duration::from_secs(3600));
        let mut reports = Vec::new();
        for _ in 0..5 {
            throttle.log(|count| reports.push(count));
        }
        assert_eq!(reports, vec![1]);
    }
}
