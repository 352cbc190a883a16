//! A long-running method: a motorised stage (`schema/examples/stage.proto`) whose `Move` is
//! started as an operation, reports its progress and position, and is cancelled on the way; then
//! how long a cancel takes to stop the HERO's method, over loopback gRPC.
//!
//! ```sh
//! cargo run --example stage
//! ```
//!
//! One process: the stage is served on loopback without discovery (no multicast), and called
//! through the typed stub over real gRPC (`in_process(false)`), as from another process.

mod proto {
    heros::include_proto!("examples.v1");
}

#[path = "support/stage_hero.rs"]
mod stage_hero;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use heros::{Hero, OperationPhase, Server};
use proto::{StageRemote, StageServer};
use stage_hero::StageHero;
use tokio_stream::StreamExt;

/// Cancels measured for the latency figure.
const SAMPLES: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    let server = Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).in_process(false).start().await?;
    let stage = StageHero::default();
    let (stopped, last_stop) = (stage.moves_stopped.clone(), stage.last_stop.clone());
    let hero = server.share(Hero::new("stage").interface(StageServer::new(stage))).await?;
    let stub = StageRemote::connect(&hero.url()).await?;

    // 1. A move of 4 mm at 2 mm/s, cancelled after about a second.
    let operation = stub.start_move(4.0, 2.0).await?;
    println!("started move to 4 mm as operation {}", operation.id());
    let mut progress = operation.progress().await?;
    let started = Instant::now();
    let mut shown = 0.0;
    while let Some(status) = progress.next().await {
        let status = status?;
        if status.progress - shown >= 0.1 || status.phase != OperationPhase::Running {
            shown = status.progress;
            let at = status.intermediate.map(|p| p.millimetres).unwrap_or_default();
            println!("  {:>3.0} %  {:<14} at {at:.2} mm", status.progress * 100.0, format!("{:?}", status.phase));
        }
        if started.elapsed() > Duration::from_secs(1) && status.phase == OperationPhase::Running {
            let after = operation.cancel().await?;
            println!("cancelled: {:?}", after.phase);
        }
    }
    println!("wait() = {}", operation.wait().await.unwrap_err());
    println!("the stage stopped at {:.2} mm", stub.position().await?);

    // 2. A short move, waited for.
    let back = stub.start_move(0.0, 40.0).await?;
    println!("move back to 0 mm: wait() = {} mm", back.wait().await?);

    // 3. How long from asking to cancel until the HERO's method is dropped.
    let mut cancels = Vec::with_capacity(SAMPLES);
    let mut drops = Vec::with_capacity(SAMPLES);
    for sample in 0..SAMPLES {
        let before = stopped.load(Ordering::SeqCst);
        let operation = stub.start_move(1_000.0, 1.0).await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let asked = Instant::now();
        operation.cancel().await?;
        cancels.push(dropped_after(&stopped, before, &last_stop, asked).await?);

        // The same for a plain call whose caller goes away.
        let before = stopped.load(Ordering::SeqCst);
        let moving = stub.clone();
        let call = tokio::spawn(async move { moving.r#move(1_000.0, 1.0).await });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let gone = Instant::now();
        call.abort();
        if !call.await.is_err_and(|e| e.is_cancelled()) {
            anyhow::bail!("sample {sample}: the move of 1,000 mm ended by itself");
        }
        drops.push(dropped_after(&stopped, before, &last_stop, gone).await?);
        stub.r#move(0.0, 1e6).await?;
    }
    println!(
        "cancel to the method's future dropped, over loopback gRPC ({SAMPLES} each): Operations/Cancel p50 {:?} p90 {:?}; caller going away (RST_STREAM) p50 {:?} p90 {:?}",
        percentile(&mut cancels, 50),
        percentile(&mut cancels, 90),
        percentile(&mut drops, 50),
        percentile(&mut drops, 90)
    );
    hero.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// Waits until the stage counts one more stopped move than `before`; the time from `from` to
/// that drop.
async fn dropped_after(
    stopped: &std::sync::atomic::AtomicU64,
    before: u64,
    last_stop: &std::sync::Mutex<Option<Instant>>,
    from: Instant,
) -> anyhow::Result<Duration> {
    tokio::time::timeout(Duration::from_secs(5), async {
        while stopped.load(Ordering::SeqCst) == before {
            tokio::task::yield_now().await;
        }
    })
    .await?;
    let at = last_stop.lock().unwrap().expect("a stop was recorded");
    Ok(at.saturating_duration_since(from))
}

fn percentile(samples: &mut [Duration], percent: usize) -> Duration {
    samples.sort();
    samples[(samples.len() - 1) * percent / 100]
}
