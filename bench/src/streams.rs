//! Streaming methods (issue 15) against raw tonic on the same messages and paths, in the same
//! server process: a server stream of small messages to one caller, an upload in chunks (a
//! client stream), and a ping-pong on one bidirectional call. The two sides alternate round by
//! round, which goes first changing each time.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use crate::measure::{median, megabytes_per_second, Latencies};
use crate::probe::cpu_time;
use crate::proto::{BenchRemote, Ping};
use crate::raw::{RawChunk, RawClient};
use crate::report::{Better, Report, Row};

/// How much of each figure.
pub(crate) struct StreamPlan {
    /// Rounds of the server stream and of the upload, per side.
    pub(crate) rounds: usize,
    /// Messages in one server stream.
    pub(crate) places: u32,
    /// Bytes in one upload, sent in chunks of [`CHUNK`].
    pub(crate) upload_bytes: usize,
    /// Rounds of ping-pong, and round trips per round, per side.
    pub(crate) ping_rounds: usize,
    pub(crate) ping_block: usize,
    /// Samples of each way to cancel (`cancel.rs`).
    pub(crate) cancels: usize,
}

/// The upload's chunk size.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The two clients, and the server process they call (for its CPU time).
pub(crate) struct Callers<'a> {
    pub(crate) hero: &'a BenchRemote,
    pub(crate) tonic: &'a RawClient,
    pub(crate) server: Option<u32>,
}

/// Measures the three figures, then how soon a cancel reaches the method (`cancel.rs`).
pub(crate) async fn measure(callers: Callers<'_>, plan: &StreamPlan, report: &mut Report) -> anyhow::Result<()> {
    server_stream(&callers, plan, report).await?;
    upload(&callers, plan, report).await?;
    ping_pong(callers.hero, callers.tonic, plan, report).await?;
    crate::cancel::measure(callers.hero, callers.tonic, plan.cancels, report).await
}

/// What [`alternate`] found: the median of each side's rounds, and the CPU time each side's
/// rounds cost both processes together (this one and the server), which a busy machine does
/// not inflate as it does the time on the clock.
struct Sides {
    hero: f64,
    tonic: f64,
    hero_cpu: Duration,
    tonic_cpu: Duration,
}

/// CPU time this process and the server process `server` have used so far.
fn cpu_so_far(server: Option<u32>) -> anyhow::Result<Duration> {
    Ok(cpu_time(None)?.total() + cpu_time(server)?.total())
}

/// Runs `rounds` rounds of `hero_round` and `tonic_round`, alternating which goes first.
async fn alternate<H, T>(
    rounds: usize,
    server: Option<u32>,
    mut hero_round: impl FnMut() -> H,
    mut tonic_round: impl FnMut() -> T,
) -> anyhow::Result<Sides>
where
    H: std::future::Future<Output = anyhow::Result<f64>>,
    T: std::future::Future<Output = anyhow::Result<f64>>,
{
    let (mut hero, mut tonic) = (Vec::new(), Vec::new());
    let (mut hero_cpu, mut tonic_cpu) = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        for hero_turn in [round % 2 == 1, round % 2 == 0] {
            let before = cpu_so_far(server)?;
            if hero_turn {
                hero.push(hero_round().await?);
                hero_cpu += cpu_so_far(server)? - before;
            } else {
                tonic.push(tonic_round().await?);
                tonic_cpu += cpu_so_far(server)? - before;
            }
        }
    }
    Ok(Sides { hero: median(&hero), tonic: median(&tonic), hero_cpu, tonic_cpu })
}

/// Messages per second of one server stream of `Places`, from the call to its last message.
async fn server_stream(callers: &Callers<'_>, plan: &StreamPlan, report: &mut Report) -> anyhow::Result<()> {
    let Callers { hero, tonic, server } = *callers;
    let count = plan.places;
    let hero_round = || async {
        let started = Instant::now();
        let mut places = hero.places(count).await?;
        let mut received = 0u64;
        while let Some(place) = places.next().await {
            anyhow::ensure!(place?.sequence == received, "HERO Places out of order");
            received += 1;
        }
        anyhow::ensure!(received == u64::from(count), "HERO Places: {received} of {count}");
        Ok(f64::from(count) / started.elapsed().as_secs_f64())
    };
    let tonic_round = || async {
        let started = Instant::now();
        let mut places = tonic.places(count).await;
        let mut received = 0u64;
        while let Some(place) = places.message().await? {
            anyhow::ensure!(place.sequence == received, "raw tonic Places out of order");
            received += 1;
        }
        anyhow::ensure!(received == u64::from(count), "raw tonic Places: {received} of {count}");
        Ok(f64::from(count) / started.elapsed().as_secs_f64())
    };
    // Warm up both sides once.
    alternate(1, server, hero_round, tonic_round).await?;
    let sides = alternate(plan.rounds, server, hero_round, tonic_round).await?;
    let rate = Figure { name: format!("server stream, {count} small messages to one caller"), unit: "msgs/s" };
    let keys = ["stream_messages_per_s", "stream_tonic_messages_per_s", "stream_vs_tonic"];
    let target = ("server stream of small messages vs raw tonic", 1.0);
    let cpu_keys = ["stream_cpu_us_per_message", "stream_tonic_cpu_us_per_message", "stream_cpu_vs_tonic"];
    let cpu = ("  CPU per streamed message (both processes)", cpu_keys, (plan.rounds * count as usize) as f64);
    report_throughput(report, &sides, (rate, keys, target), cpu);
    Ok(())
}

/// Megabytes per second of one upload of `upload_bytes` in 64 KiB chunks, from the call to its
/// reply. The chunks are made before the clock starts (the HERO's share one buffer, raw tonic's
/// are `Vec<u8>`s of their own), so that only their way to the server is timed.
async fn upload(callers: &Callers<'_>, plan: &StreamPlan, report: &mut Report) -> anyhow::Result<()> {
    let Callers { hero, tonic, server } = *callers;
    let chunks = plan.upload_bytes / CHUNK;
    let buffer: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let shared = Bytes::from(buffer.clone());
    let expect = |chunks_seen: u64, bytes_seen: u64, side: &str| {
        anyhow::ensure!(
            (chunks_seen, bytes_seen) == (chunks as u64, (chunks * CHUNK) as u64),
            "{side} Upload: {chunks_seen} chunks, {bytes_seen} bytes"
        );
        Ok(())
    };
    let hero_round = || async {
        let sent: Vec<Bytes> = (0..chunks).map(|_| shared.clone()).collect();
        let started = Instant::now();
        let reply = hero.upload(tokio_stream::iter(sent)).await?;
        let elapsed = started.elapsed();
        expect(reply.chunks, reply.bytes, "HERO")?;
        Ok(megabytes_per_second(chunks * CHUNK, elapsed))
    };
    let tonic_round = || async {
        let sent: Vec<RawChunk> = (0..chunks).map(|_| RawChunk { data: buffer.clone() }).collect();
        let started = Instant::now();
        let reply = tonic.upload(tokio_stream::iter(sent)).await;
        let elapsed = started.elapsed();
        expect(reply.chunks, reply.bytes, "raw tonic")?;
        Ok(megabytes_per_second(chunks * CHUNK, elapsed))
    };
    alternate(1, server, hero_round, tonic_round).await?;
    let sides = alternate(plan.rounds, server, hero_round, tonic_round).await?;
    let mib = plan.upload_bytes / (1024 * 1024);
    let rate = Figure { name: format!("client stream upload, {mib} MiB in 64 KiB chunks"), unit: "MB/s" };
    let keys = ["upload_mbps", "upload_tonic_mbps", "upload_vs_tonic"];
    let target = ("client-stream upload in 64 KiB chunks vs raw tonic", 1.0);
    let cpu_keys = ["upload_cpu_us_per_mb", "upload_tonic_cpu_us_per_mb", "upload_cpu_vs_tonic"];
    let cpu = ("  CPU per MB uploaded (both processes)", cpu_keys, (plan.rounds * chunks * CHUNK) as f64 / 1e6);
    report_throughput(report, &sides, (rate, keys, target), cpu);
    Ok(())
}

/// One side's open ping-pong call: pings go in through a channel, pongs come back on the stream.
struct Conversation<S> {
    pings: mpsc::Sender<Ping>,
    pongs: S,
    next: u64,
}

impl<S, E> Conversation<S>
where
    S: tokio_stream::Stream<Item = Result<Ping, E>> + Unpin,
    E: std::fmt::Display,
{
    /// One round trip: a ping, and its pong.
    async fn round_trip(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let sequence = self.next;
        self.next += 1;
        self.pings.send(Ping { sequence, note: String::new() }).await?;
        match self.pongs.next().await {
            Some(Ok(pong)) if pong.sequence == sequence => Ok(started.elapsed()),
            Some(Ok(pong)) => anyhow::bail!("pong {} for ping {sequence}", pong.sequence),
            Some(Err(error)) => anyhow::bail!("ping-pong failed: {error}"),
            None => anyhow::bail!("the ping-pong stream ended"),
        }
    }

    /// `count` round trips, timed each.
    async fn take(&mut self, count: usize, latencies: &mut Latencies) -> anyhow::Result<()> {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            samples.push(self.round_trip().await?);
        }
        latencies.extend(samples);
        Ok(())
    }

    /// Ends the requests, and waits for the server to end the replies.
    async fn end(self) -> anyhow::Result<()> {
        let Conversation { pings, mut pongs, .. } = self;
        drop(pings);
        anyhow::ensure!(pongs.next().await.is_none(), "a pong after the pings ended");
        Ok(())
    }
}

/// Round trips on one open bidirectional call per side, in alternating blocks: p50 and p99.
async fn ping_pong(
    hero: &BenchRemote,
    tonic: &RawClient,
    plan: &StreamPlan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (pings, requests) = mpsc::channel(1);
    let pongs = hero.ping_pong(ReceiverStream::new(requests)).await?;
    let mut hero_side = Conversation { pings, pongs, next: 0 };
    let (pings, requests) = mpsc::channel(1);
    let pongs = tonic.ping_pong(ReceiverStream::new(requests)).await;
    let mut tonic_side = Conversation { pings, pongs, next: 0 };
    let (mut hero_times, mut tonic_times) = (Latencies::default(), Latencies::default());
    // Warm up both calls.
    hero_side.take(plan.ping_block, &mut Latencies::default()).await?;
    tonic_side.take(plan.ping_block, &mut Latencies::default()).await?;
    for round in 0..plan.ping_rounds {
        for hero_turn in [round % 2 == 1, round % 2 == 0] {
            if hero_turn {
                hero_side.take(plan.ping_block, &mut hero_times).await?;
            } else {
                tonic_side.take(plan.ping_block, &mut tonic_times).await?;
            }
        }
    }
    hero_side.end().await?;
    tonic_side.end().await?;
    let (hero_p50, tonic_p50) = (hero_times.p50_us(), tonic_times.p50_us());
    let figure = Figure { name: "bidirectional ping-pong p50 (one open call)".into(), unit: "µs" };
    let keys = ["pingpong_p50_us", "pingpong_tonic_p50_us", "pingpong_p50_vs_tonic"];
    let target = ("bidirectional ping-pong p50 vs raw tonic", 1.10);
    compare(report, (figure, Better::Lower), keys, (hero_p50, tonic_p50), Some(target));
    let (hero_p99, tonic_p99) = (hero_times.p99_us(), tonic_times.p99_us());
    report.row(Row {
        figure: "bidirectional ping-pong p99 (one open call)".into(),
        unit: "µs",
        hero: hero_p99,
        tonic: Some(tonic_p99),
        floor: None,
        better: Better::Lower,
    });
    report.set("pingpong_p99_us", hero_p99);
    report.set("pingpong_tonic_p99_us", tonic_p99);
    Ok(())
}

/// A figure's name in the table, and its unit.
struct Figure {
    name: String,
    unit: &'static str,
}

/// Reports a throughput measured by [`alternate`] against raw tonic (`rate`: the figure, its
/// JSON keys and its target), and under it the CPU time both processes spent per unit of work
/// (`cpu`: the row's name, its JSON keys, and how many units all the rounds of one side did).
fn report_throughput(
    report: &mut Report,
    sides: &Sides,
    (rate, keys, target): (Figure, [&str; 3], (&'static str, f64)),
    (cpu_name, cpu_keys, units): (&str, [&str; 3], f64),
) {
    compare(report, (rate, Better::Higher), keys, (sides.hero, sides.tonic), Some(target));
    let per_unit = |cpu: Duration| cpu.as_secs_f64() * 1e6 / units;
    let figure = Figure { name: cpu_name.to_owned(), unit: "µs" };
    compare(report, (figure, Better::Lower), cpu_keys, (per_unit(sides.hero_cpu), per_unit(sides.tonic_cpu)), None);
}

/// Reports a figure against raw tonic: its row, its JSON keys (HERO, raw tonic, their ratio)
/// and, if it has one, its target (what, bound).
fn compare(
    report: &mut Report,
    (figure, better): (Figure, Better),
    keys: [&str; 3],
    (hero, tonic): (f64, f64),
    target: Option<(&'static str, f64)>,
) {
    report.row(Row { figure: figure.name, unit: figure.unit, hero, tonic: Some(tonic), floor: None, better });
    report.set(keys[0], hero);
    report.set(keys[1], tonic);
    report.set(keys[2], hero / tonic);
    if let Some((what, bound)) = target {
        report.target(what, Some(hero / tonic), bound, better);
    }
}
