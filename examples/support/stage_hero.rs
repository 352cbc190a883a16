//! A motorised stage (`schema/examples/stage.proto`) whose moves take time: `Move` is long-running
//! and reports its progress and position through `heros::CallContext`; a move cancelled (or whose
//! caller's deadline passed) stops where the stage is. Shared by the `stage` example and tests.

#![allow(dead_code)] // each includer uses its part

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heros::{CallContext, Streaming};

use crate::proto::{Stage, StagePosition};

/// The stage: where it is, and counters the tests read.
#[derive(Default)]
pub(crate) struct StageHero {
    position: Arc<Mutex<f64>>,
    /// Moves whose future was dropped before they arrived (cancelled, deadline, caller gone).
    pub(crate) moves_stopped: Arc<AtomicU64>,
    /// Moves that arrived.
    pub(crate) moves_done: Arc<AtomicU64>,
    /// When the last stopped move's future was dropped (for the cancel latency figure).
    pub(crate) last_stop: Arc<Mutex<Option<Instant>>>,
}

/// Counts a move as stopped when its future is dropped before it arrived.
struct StopGuard {
    stopped: Arc<AtomicU64>,
    last_stop: Arc<Mutex<Option<Instant>>>,
    arrived: bool,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        if !self.arrived {
            *self.last_stop.lock().unwrap() = Some(Instant::now());
            self.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Time between two steps of a move.
const STEP: Duration = Duration::from_millis(10);

impl Stage for StageHero {
    async fn r#move(&self, target: f64, speed: f64) -> heros::Result<f64> {
        if speed.is_nan() || speed <= 0.0 || !target.is_finite() {
            return Err(heros::Error::invalid_argument(format!("cannot move to {target} at {speed} mm/s")));
        }
        let context = CallContext::current();
        let mut guard =
            StopGuard { stopped: self.moves_stopped.clone(), last_stop: self.last_stop.clone(), arrived: false };
        let start = *self.position.lock().unwrap();
        let distance = (target - start).abs();
        let step = speed * STEP.as_secs_f64();
        let mut travelled = 0.0;
        while travelled < distance {
            tokio::time::sleep(STEP).await;
            travelled = (travelled + step).min(distance);
            let here = start + (target - start).signum() * travelled;
            *self.position.lock().unwrap() = here;
            let fraction = if distance == 0.0 { 1.0 } else { travelled / distance };
            context.report_intermediate(fraction, format!("at {here:.3} mm"), &StagePosition { millimetres: here });
        }
        guard.arrived = true;
        self.moves_done.fetch_add(1, Ordering::SeqCst);
        Ok(target)
    }

    async fn positions(&self, interval_ms: u32, count: u32) -> heros::Result<Streaming<f64>> {
        let position = self.position.clone();
        let interval = Duration::from_millis(interval_ms.max(1) as u64);
        let ticks = tokio_stream::StreamExt::take(
            tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(interval)),
            count as usize,
        );
        Ok(Box::pin(tokio_stream::StreamExt::map(ticks, move |_| Ok(*position.lock().unwrap()))))
    }

    async fn position(&self) -> heros::Result<f64> {
        Ok(*self.position.lock().unwrap())
    }

    async fn time_left(&self) -> heros::Result<Option<u64>> {
        Ok(CallContext::current().remaining().map(|left| left.as_millis() as u64))
    }
}
