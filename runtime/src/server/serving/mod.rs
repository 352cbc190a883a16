//! The server's side of the network: accepting TCP connections and serving HTTP/2 on them
//! within the server's [`Limits`]. A hostile or broken peer can hold no socket, stream or byte
//! beyond a limit that is a setting (README.md, "Limits"); what it holds goes when a timeout
//! passes.
//!
//! - `open_files`: the open-files limit, raised at start; the connection cap stays below it.
//! - `admission`: connections in total and per peer address; a peer's budget of bytes arriving.
//! - `accept`: the accept loop, with back-off when accepting fails.
//! - `handshake`: a deadline for a new connection's HTTP/2 preface (TLS comes before it, in
//!   `connection`, for a secured server).
//! - `connection`: one connection: HTTP/2 settings, `grpc-timeout`, idle close, graceful stop.
//! - `receiving`: request bytes on their way in (message size, peer budget, receive timeout).
//! - `replying`: reply bytes on their way out (unread-reply cap) and the calls open.
//!
//! Routing a call to its HERO is not here (`routing`), nor are the quotas of client sessions
//! (`handles/table.rs`).

mod accept;
mod admission;
mod connection;
mod gathering;
mod handshake;
mod open_files;
mod receiving;
mod replying;

pub(crate) use connection::grpc_timeout;

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::limits::Limits;
use crate::server::routing::SharedRouter;

/// The serving of one server: its accept loop and its connections.
pub(crate) struct Serving {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    admission: Arc<Admission>,
}

use admission::Admission;

impl Serving {
    /// Starts accepting on `listener`, calls going to `router`.
    pub(crate) fn start(
        listener: TcpListener,
        router: SharedRouter,
        limits: Limits,
        security: Option<Arc<crate::security::Security>>,
    ) -> Serving {
        let max_connections = match open_files::raise_and_count() {
            Some(fit) if fit < limits.max_connections as u64 => {
                tracing::info!(
                    "at most {fit} connections (the open-files limit) instead of {} (HEROS_MAX_CONNECTIONS)",
                    limits.max_connections
                );
                fit as usize
            }
            _ => limits.max_connections,
        };
        let admission =
            Arc::new(Admission::new(max_connections, limits.max_connections_per_peer, limits.receiving_budget()));
        let (stop, stopped) = watch::channel(false);
        let refusals = admission::LogThrottle::new(std::time::Duration::from_secs(10));
        let shared = Arc::new(connection::Shared { router, limits, security, refusals });
        let task = tokio::spawn({
            let admission = admission.clone();
            async move {
                accept::accept_loop(listener, admission.clone(), shared, stopped).await;
                admission.all_closed().await;
            }
        });
        Serving { stop, task: Mutex::new(Some(task)), admission }
    }

    /// Connections open now.
    pub(crate) fn connections(&self) -> usize {
        self.admission.open()
    }

    /// Stops accepting, asks every connection to finish (GOAWAY) and waits until they have.
    pub(crate) async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
