//! The wait between attempts after etcd could not be reached, shared by the watches and the
//! registrations: from [`FIRST`] doubling up to [`LAST`], each wait jittered so that the processes
//! of a lab that lost etcd together do not all come back in the same instant.

use std::hash::BuildHasher;
use std::time::Duration;

/// The first wait after a failure.
pub(super) const FIRST: Duration = Duration::from_millis(100);

/// The longest wait: a HERO is registered (and an observer caught up) about this long after etcd
/// is back, at worst.
pub(super) const LAST: Duration = Duration::from_secs(2);

pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// etcd answered: the next failure waits [`FIRST`] again.
    pub(super) fn reset(&mut self) {
        self.next = FIRST;
    }

    /// Waits for the next attempt (between 3/4 and 5/4 of the current wait), and doubles it.
    pub(super) async fn wait(&mut self) {
        tokio::time::sleep(jittered(self.advance())).await;
    }

    /// The current wait, before jitter; doubles it for the next time.
    fn advance(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(LAST);
        now
    }
}

/// `wait` scaled by a random factor in 0.75..1.25. `RandomState` is the standard library's own
/// random seed: enough to spread processes apart, without a dependency for it.
fn jittered(wait: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    wait.mul_f64(0.75 + (random % 1000) as f64 / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_last_and_stay_within_a_quarter_of_it() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_secs(2));
            assert!(wait >= Duration::from_millis(1500) && wait < Duration::from_millis(2500), "{wait:?}");
        }
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..7).map(|_| backoff.advance()).collect();
        assert_eq!(waits.first(), Some(&FIRST));
        assert_eq!(waits.last(), Some(&LAST));
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        backoff.reset();
        assert_eq!(backoff.advance(), FIRST);
    }
}
