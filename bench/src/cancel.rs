//! How soon a cancel reaches the method (issue 15): the time from the caller cancelling to the
//! server dropping the method's future. `Hold` waits until cancelled and notes, on the wall clock
//! that every process of the machine shares, when its future was dropped; the client notes when
//! it cancelled and asks `LastDrop` until the drop is there. Three ways to cancel:
//!
//! - `Operations/Cancel` of a `Hold` started as an operation (HEROS only: raw tonic has none);
//! - the caller going away (its call future dropped: HTTP/2 RST_STREAM), HEROS and raw tonic on
//!   the same rpc path, so that the ratio says what HEROS adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::hero::unix_nanos;
use crate::measure::median;
use crate::proto::BenchRemote;
use crate::raw::RawClient;
use crate::report::{Better, Report, Row};

/// Long enough that no `Hold` of the benchmark ends by itself.
const HOLD_MS: u32 = 60_000;
/// Time for a call to reach the method before it is cancelled.
const SETTLE: Duration = Duration::from_millis(3);
/// Longest wait for a drop to be noted; a cancel that takes longer is a failure, not a figure.
const DROP_LIMIT: Duration = Duration::from_secs(5);

/// Where a server notes when the last `Hold` was dropped before its end.
#[derive(Default)]
pub(crate) struct DropNote(AtomicU64);

impl DropNote {
    pub(crate) fn last(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits `milliseconds`; notes the time if dropped first.
    pub(crate) async fn hold(&self, milliseconds: u32) {
        struct NoteOnDrop<'a> {
            note: &'a DropNote,
            ended: bool,
        }
        impl Drop for NoteOnDrop<'_> {
            fn drop(&mut self) {
                if !self.ended {
                    self.note.0.store(unix_nanos(), Ordering::SeqCst);
                }
            }
        }
        let mut guard = NoteOnDrop { note: self, ended: false };
        tokio::time::sleep(Duration::from_millis(u64::from(milliseconds))).await;
        guard.ended = true;
    }
}

/// The three figures, `samples` of each, the ways alternating sample by sample.
pub(crate) async fn measure(
    hero: &BenchRemote,
    tonic: &RawClient,
    samples: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mut operation, mut hero_gone, mut tonic_gone) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        let started = hero.start_hold(HOLD_MS).await?;
        tokio::time::sleep(SETTLE).await;
        let asked = unix_nanos();
        started.cancel().await?;
        operation.push(until_dropped(asked, || hero.last_drop()).await?);

        let caller = hero.clone();
        let call = tokio::spawn(async move { caller.hold(HOLD_MS).await });
        tokio::time::sleep(SETTLE).await;
        let asked = unix_nanos();
        call.abort();
        hero_gone.push(until_dropped(asked, || hero.last_drop()).await?);

        let caller = tonic.clone();
        let call = tokio::spawn(async move { caller.hold(HOLD_MS).await });
        tokio::time::sleep(SETTLE).await;
        let asked = unix_nanos();
        call.abort();
        tonic_gone.push(until_dropped(asked, || async { Ok(tonic.last_drop().await) }).await?);
    }
    let (operation, hero_gone, tonic_gone) = (median(&operation), median(&hero_gone), median(&tonic_gone));
    report.row(Row {
        figure: "cancel → method dropped p50, Operations/Cancel".into(),
        unit: "µs",
        hero: operation,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.row(Row {
        figure: "cancel → method dropped p50, caller gone".into(),
        unit: "µs",
        hero: hero_gone,
        tonic: Some(tonic_gone),
        floor: None,
        better: Better::Lower,
    });
    report.set("cancel_operation_p50_us", operation);
    report.set("cancel_caller_gone_p50_us", hero_gone);
    report.set("cancel_caller_gone_tonic_p50_us", tonic_gone);
    report.set("cancel_caller_gone_vs_tonic", hero_gone / tonic_gone);
    let verdict = |us: f64| if us < 1000.0 { "met" } else { "MISSED" };
    report.notes.push(format!(
        "cancel reaches the method in {operation:.0} µs (Operations/Cancel) and {hero_gone:.0} µs (caller gone) at the \
         median of {samples}: target < 1 ms on loopback {}/{}",
        verdict(operation),
        verdict(hero_gone)
    ));
    Ok(())
}

/// Asks `last_drop` until it notes a drop at or after `asked`; returns the microseconds between.
async fn until_dropped<F, Fut>(asked: u64, mut last_drop: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = heros::Result<u64>>,
{
    let limit = tokio::time::Instant::now() + DROP_LIMIT;
    loop {
        let dropped = last_drop().await?;
        if dropped >= asked {
            return Ok((dropped - asked) as f64 / 1e3);
        }
        anyhow::ensure!(tokio::time::Instant::now() < limit, "a cancelled Hold was not dropped within {DROP_LIMIT:?}");
    }
}
