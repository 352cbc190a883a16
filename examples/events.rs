//! Events: a HERO announces what happens to it, and any number of clients listen (HEROS's
//! `@event`), as a stream, through a callback, or across a whole realm at once.
//!
//! ```sh
//! cargo run --example events
//! ```
//!
//! Two processes, as in `callbacks` (a private network namespace; `HEROS_NETNS=host` uses the
//! real network): this one starts the *furnaces process*, which shares `furnace-a`, `furnace-b`
//! and `furnace-c` (`schema/examples/furnace.proto`) and heats them when asked. Then this process
//!
//! 1. connects to `furnace-a` by name, subscribes to its `Readings` (reliable: none lost) as a
//!    stream, connects a callback to its `Overheated` alarms (best-effort), and heats it past the
//!    limit of 80 °C: each heat brings a reading, and the hot ones an alarm too;
//! 2. subscribes to the alarms again but does not read while a burst of 200 big alarms runs: a
//!    best-effort subscriber that falls behind loses alarms, and is told how many (`Missed(n)`);
//! 3. observes `Overheated` on every `furnace-*` of the realm with one `EventObserver` (no stub
//!    per furnace, furnaces that come later are followed too) and heats each furnace: every
//!    alarm names the furnace it came from.

mod proto {
    heros::include_proto!("examples.v1");
}

#[path = "support/second_process.rs"]
mod second_process;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use heros::{Event, EventObserver, HeroFilter, Observed, Received};
use proto::{Alarm, Furnace, FurnaceReading, FurnaceRemote, FurnaceServer};
use tokio_stream::StreamExt;

const LIMIT: f64 = 80.0;
const FURNACES: [&str; 3] = ["furnace-a", "furnace-b", "furnace-c"];
/// 50 MiB of alarms: far more than the subscriber's buffer (8 alarms) plus what HTTP/2 and the
/// sockets hold on the way, so some are dropped for a subscriber that does not read.
const BURST: u32 = 200;
const BURST_PAYLOAD: u32 = 256 * 1024;

/// A furnace: emits a reading whenever it heats, and an alarm when that is above the limit.
struct Heater {
    name: &'static str,
    overheated: Event<Alarm>,
    readings: Event<FurnaceReading>,
    sequence: AtomicU64,
}

impl Heater {
    /// Emits one reading (and maybe an alarm); returns how many subscribers the reading reached.
    async fn report(&self, celsius: f64, payload: bytes::Bytes, alarm: bool) -> u32 {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        if alarm {
            // Best-effort: returns at once, whether or not each subscriber had room.
            self.overheated.emit(Alarm { celsius, limit: LIMIT, sequence, payload: payload.clone() }).await;
        }
        // Reliable: waits until every subscriber has room.
        self.readings.emit(FurnaceReading { celsius, sequence, payload }).await as u32
    }
}

impl Furnace for Heater {
    async fn heat(&self, celsius: f64) -> heros::Result<()> {
        let hot = celsius > LIMIT;
        println!("{}: heated to {celsius:.1} °C{}", self.name, if hot { ", above the limit: alarm" } else { "" });
        self.report(celsius, bytes::Bytes::new(), hot).await;
        Ok(())
    }

    async fn burst(&self, count: u32, payload_bytes: u32, alarms: bool) -> heros::Result<u32> {
        let payload = bytes::Bytes::from(vec![0u8; payload_bytes as usize]);
        let mut reached = 0;
        for _ in 0..count {
            reached = self.report(LIMIT + 1.0, payload.clone(), alarms).await;
        }
        let what = if alarms { "readings and alarms" } else { "readings" };
        println!("{}: burst of {count} {what} of {} KiB emitted", self.name, payload_bytes / 1024);
        Ok(reached)
    }

    fn overheated(&self) -> &Event<Alarm> {
        &self.overheated
    }

    fn readings(&self) -> &Event<FurnaceReading> {
        &self.readings
    }
}

/// The furnaces process: shares the three furnaces, says READY, and serves until `stop`.
async fn serve_furnaces(stop: second_process::Stop) -> anyhow::Result<()> {
    let mut shared = Vec::new();
    for name in FURNACES {
        let heater = Heater { name, overheated: Event::new(), readings: Event::new(), sequence: AtomicU64::new(0) };
        shared.push(heros::share(name, FurnaceServer::new(heater)).await?);
    }
    println!("READY: {} shared", FURNACES.join(", "));
    stop.await;
    for hero in shared {
        hero.shutdown().await;
    }
    println!("the furnaces have left");
    Ok(())
}

/// Waits for `future`, or fails naming what never came: the example ends by itself either way.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(Duration::from_secs(10), future).await.map_err(|_| anyhow::anyhow!("no {what} in 10 s"))
}

/// This process's side: the three ways of listening, in turn.
async fn listen() -> anyhow::Result<()> {
    // 1. One furnace by name: a stream of its readings, a callback for its alarms.
    let furnace = FurnaceRemote::connect("furnace-a").await?;
    println!("connected to 'furnace-a' at {}", furnace.target().endpoint());
    let mut readings = furnace.subscribe_readings().await?;
    // The callback runs on a task of its own; it tells this one about each alarm, so that we
    // wait for exactly the alarms we caused instead of sleeping.
    let (alarmed, mut alarms) = tokio::sync::mpsc::unbounded_channel();
    let callback = furnace
        .connect_overheated(move |item| match item {
            Received::Event(alarm) => {
                println!("callback: ALARM #{}: {:.1} °C, limit {:.1} °C", alarm.sequence, alarm.celsius, alarm.limit);
                let _ = alarmed.send(());
            }
            other => println!("callback: {other:?}"),
        })
        .await?;
    for celsius in [60.0, 85.0, 95.0] {
        furnace.heat(celsius).await?;
        match within("reading", readings.next()).await?.context("the readings ended")?? {
            Received::Event(reading) => println!("reading #{}: {:.1} °C", reading.sequence, reading.celsius),
            other => println!("readings: {other:?}"),
        }
        if celsius > LIMIT {
            within("alarm", alarms.recv()).await?;
        }
    }
    // Both unsubscribe: the furnace forgets them, and the burst below waits for neither.
    callback.disconnect();
    drop(readings);
    println!("callback disconnected, readings dropped");

    // 2. A best-effort subscriber that does not keep up loses alarms, and is told how many.
    let mut slow = furnace.subscribe_overheated().await?;
    let reached = furnace.burst(BURST, BURST_PAYLOAD, true).await?;
    println!(
        "burst of {BURST} alarms of {} KiB done (last reading reached {reached}); now reading",
        BURST_PAYLOAD / 1024
    );
    let (mut delivered, mut missed) = (0, 0);
    // Each alarm of the burst comes either as itself or within a count: stop when all are in.
    while delivered + missed < u64::from(BURST) {
        match within("alarm", slow.next()).await?.context("the alarms ended")?? {
            Received::Event(_) => delivered += 1,
            Received::Missed(count) => {
                println!("slow subscriber: Missed({count}) after {delivered} alarms");
                missed += count;
            }
            other => println!("slow subscriber: {other:?}"),
        }
    }
    println!("slow subscriber: {delivered} delivered + {missed} missed = {BURST} alarms, none lost silently");
    drop(slow);

    // 3. One event across the realm: every furnace-*, found by discovery, no stub each.
    let mut observer = EventObserver::<Alarm>::new(
        furnace.target().realm(),
        HeroFilter::any().name("furnace-*"),
        "examples.v1.Furnace",
        "Overheated",
    )?;
    // Alarms emitted before the observer has subscribed to a furnace never reach it: wait
    // until it follows all three.
    let deadline = Instant::now() + Duration::from_secs(10);
    while observer.subscribed() < FURNACES.len() {
        anyhow::ensure!(Instant::now() < deadline, "the observer follows {} furnaces", observer.subscribed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("observer: following {} furnaces", observer.subscribed());
    for (name, celsius) in FURNACES.into_iter().zip([90.0, 100.0, 110.0]) {
        FurnaceRemote::connect(name).await?.heat(celsius).await?;
    }
    // Arrival order across furnaces is not fixed: each furnace has its own subscription.
    let mut heard = 0;
    while heard < FURNACES.len() {
        let Observed { hero, received } = within("observed alarm", observer.next()).await?.context("no discovery")?;
        match received {
            Received::Event(alarm) => {
                println!("observer: {hero} overheated: {:.1} °C", alarm.celsius);
                heard += 1;
            }
            other => println!("observer: {hero}: {other:?}"),
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    second_process::run("events", "furnaces", serve_furnaces, listen)
}
