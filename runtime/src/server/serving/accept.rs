//! The accept loop. tonic's retries a failed `accept` at once, forever: out of descriptors, it
//! spun one core at 100% and logged nothing above trace. Here a failure that concerns the
//! listener (descriptors, memory) backs off, from 5 ms doubling to 1 s, and is logged at warn
//! once per burst; one that concerns only the peer that was leaving (reset, aborted) is skipped.
//! Admitted connections are served each on a task of their own; refused ones are closed at once.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admission::{Admission, LogThrottle};
use super::connection::{serve, Shared};

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const LAST_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts until `stop` turns true, then drops the listener (the port closes at once).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    admission: Arc<Admission>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::ZERO;
    let failures = LogThrottle::new(Duration::from_secs(10));
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                // Refused: dropped here, which closes it (the admission logged why).
                if let Ok(permit) = admission.admit(peer.ip()) {
                    tokio::spawn(serve(stream, peer, permit, shared.clone(), stop.clone()));
                }
            }
            Err(error) if peer_went_away(&error) => {}
            Err(error) => {
                backoff = (backoff * 2).clamp(FIRST_BACKOFF, LAST_BACKOFF);
                failures.log(|count| {
                    tracing::warn!(failures = count, "accepting a connection failed: {error}; retrying in {backoff:?}")
                });
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// Errors of `accept` that belong to the one connection being accepted, not to the listener.
fn peer_went_away(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}
