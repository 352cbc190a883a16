//! Statistics of one run: latency samples with their percentiles, medians of repeated rounds, and
//! calls per second with a fixed number of calls in flight.

use std::future::Future;
use std::time::{Duration, Instant};

/// Latencies of single calls, in the order they were taken.
#[derive(Default)]
pub(crate) struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    /// Times `calls` sequential calls of `call`, adding them to the samples.
    pub(crate) async fn take<F, Fut>(&mut self, calls: usize, mut call: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        self.samples.reserve(calls);
        for _ in 0..calls {
            let started = Instant::now();
            call().await;
            self.samples.push(started.elapsed());
        }
    }

    /// Adds samples taken elsewhere (the blocking floor client).
    pub(crate) fn extend(&mut self, samples: impl IntoIterator<Item = Duration>) {
        self.samples.extend(samples);
    }

    /// The `p`-quantile (0.5 = median) in microseconds.
    pub(crate) fn percentile_us(&self, p: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => f64::NAN,
            n => sorted[((n - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6,
        }
    }

    pub(crate) fn p50_us(&self) -> f64 {
        self.percentile_us(0.5)
    }

    pub(crate) fn p99_us(&self) -> f64 {
        self.percentile_us(0.99)
    }
}

/// The median of repeated measurements (NaN when there are none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Calls per second when `in_flight` tasks call `call` back to back for `duration`.
pub(crate) async fn calls_per_second<C, F, Fut>(client: C, in_flight: usize, duration: Duration, call: F) -> f64
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let done = back_to_back(client, in_flight, Until::Deadline(started + duration), call).await;
    done as f64 / started.elapsed().as_secs_f64()
}

/// How long `in_flight` tasks take to make `calls` calls of `call` between them, back to back.
pub(crate) async fn time_calls<C, F, Fut>(client: C, in_flight: usize, calls: u64, call: F) -> Duration
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    back_to_back(client, in_flight, Until::Calls(calls), call).await;
    started.elapsed()
}

/// When the workers of [`back_to_back`] stop.
#[derive(Clone, Copy)]
enum Until {
    Deadline(Instant),
    /// This many calls between them, shared out evenly.
    Calls(u64),
}

/// `in_flight` tasks calling `call` back to back until `until`; returns the calls made.
async fn back_to_back<C, F, Fut>(client: C, in_flight: usize, until: Until, call: F) -> u64
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let workers: Vec<_> = (0..in_flight as u64)
        .map(|worker| {
            let (client, call) = (client.clone(), call.clone());
            let share = match until {
                Until::Calls(calls) => (calls + in_flight as u64 - 1 - worker) / in_flight as u64,
                Until::Deadline(_) => u64::MAX,
            };
            tokio::spawn(async move {
                let mut done = 0u64;
                while done < share && !matches!(until, Until::Deadline(deadline) if Instant::now() >= deadline) {
                    call(client.clone()).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("benchmark worker panicked");
    }
    total
}

/// Megabytes (10^6 bytes) of payload per second, for one echo of `bytes` that took `elapsed`.
pub(crate) fn megabytes_per_second(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn percentiles_pick_the_sorted_sample() {
        let mut latencies = Latencies::default();
        latencies.extend((1..=101).rev().map(Duration::from_micros));
        assert_eq!(latencies.p50_us(), 51.0);
        assert_eq!(latencies.p99_us(), 100.0);
    }
}
