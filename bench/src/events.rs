//! Events (issue #5): how fast a HERO's reliable event reaches one subscriber and a hundred, and
//! how long one event takes from the call that emits it to its arrival; raw tonic's plain server
//! stream alongside, in alternating rounds.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use tokio_stream::StreamExt;

use crate::hero::unix_nanos;
use crate::measure::{median, Latencies};
use crate::proto::{BenchRemote, Tick};
use crate::raw::{RawClient, RawTick};
use crate::report::{Better, Report, Row};

/// Subscribers of the fan-out figure.
pub(crate) const FANOUT: usize = 100;

/// How long one burst, or one single event, may take before the run fails instead of hanging.
const STUCK: Duration = Duration::from_secs(120);

/// Filler bytes per tick: none, so a tick is its sequence number and emit time (about 14 bytes
/// encoded), a small event like Python HEROS's `tick(i)`.
const PAYLOAD: u32 = 0;

/// How many of everything, by size.
pub(crate) struct EventPlan {
    /// Rounds per side, and ticks per round, of the one-subscriber figure.
    pub(crate) rounds: usize,
    pub(crate) burst: u32,
    /// Rounds per side, and ticks per round (each to all [`FANOUT`] subscribers), of the fan-out.
    pub(crate) fanout_rounds: usize,
    pub(crate) fanout_burst: u32,
    /// Blocks per side, and single events per block, of the latency figure.
    pub(crate) latency_rounds: usize,
    pub(crate) latency_block: usize,
}

/// What a subscriber saw of one tick.
struct Seen {
    sequence: u64,
    emitted_unix_ns: u64,
}

/// One subscription's ticks, on either side.
trait TickStream: Send + 'static {
    fn next_tick(&mut self) -> impl Future<Output = anyhow::Result<Seen>> + Send;
}

impl TickStream for heros::EventStream<Tick> {
    async fn next_tick(&mut self) -> anyhow::Result<Seen> {
        match self.next().await {
            Some(Ok(heros::Received::Event(tick))) => {
                Ok(Seen { sequence: tick.sequence, emitted_unix_ns: tick.emitted_unix_ns })
            }
            Some(Ok(heros::Received::Missed(n))) => bail!("a reliable event reported {n} missed"),
            Some(Ok(other)) => bail!("unexpected {other:?}"),
            Some(Err(error)) => Err(error).context("the HERO's event stream"),
            None => bail!("the HERO's event stream ended"),
        }
    }
}

impl TickStream for tonic::Streaming<RawTick> {
    async fn next_tick(&mut self) -> anyhow::Result<Seen> {
        match self.message().await.context("raw tonic's tick stream")? {
            Some(tick) => Ok(Seen { sequence: tick.sequence, emitted_unix_ns: tick.emitted_unix_ns }),
            None => bail!("raw tonic's tick stream ended"),
        }
    }
}

/// A side of the comparison: a client that subscribes to `Ticks` and triggers bursts.
trait Side: Clone + Send + Sync + 'static {
    type Stream: TickStream;
    fn subscribe(&self) -> impl Future<Output = anyhow::Result<Self::Stream>> + Send;
    /// Emits `count` ticks; how many subscribers the last one reached.
    fn emit_burst(&self, count: u32) -> impl Future<Output = anyhow::Result<u32>> + Send;
    /// The subscribers the server counts.
    fn subscribers(&self) -> impl Future<Output = anyhow::Result<u32>> + Send;
}

impl Side for BenchRemote {
    type Stream = heros::EventStream<Tick>;

    async fn subscribe(&self) -> anyhow::Result<Self::Stream> {
        Ok(self.subscribe_ticks().await?)
    }

    async fn emit_burst(&self, count: u32) -> anyhow::Result<u32> {
        Ok(BenchRemote::emit_burst(self, count, PAYLOAD).await?)
    }

    async fn subscribers(&self) -> anyhow::Result<u32> {
        Ok(self.tick_subscribers().await?)
    }
}

impl Side for RawClient {
    type Stream = tonic::Streaming<RawTick>;

    async fn subscribe(&self) -> anyhow::Result<Self::Stream> {
        Ok(self.subscribe_ticks().await)
    }

    async fn emit_burst(&self, count: u32) -> anyhow::Result<u32> {
        Ok(RawClient::emit_burst(self, count, PAYLOAD).await)
    }

    async fn subscribers(&self) -> anyhow::Result<u32> {
        Ok(self.tick_subscribers().await)
    }
}

/// Waits until the server counts `expected` subscribers (a subscriber that left is forgotten
/// once its stream's reset has reached the server).
async fn settle(side: &impl Side, expected: usize) -> anyhow::Result<()> {
    let wait = async {
        while side.subscribers().await? as usize != expected {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .with_context(|| format!("the server did not count {expected} subscribers within 30 s"))?
}

/// `count` more subscriptions, and the wait until the server counts them all.
async fn subscribe<S: Side>(side: &S, streams: &mut Vec<S::Stream>, count: usize) -> anyhow::Result<()> {
    for _ in 0..count {
        streams.push(side.subscribe().await?);
    }
    settle(side, streams.len()).await
}

/// One burst of `count` ticks to every stream, each read on a task of its own: the time from the
/// trigger (the `EmitBurst` call) until the last subscriber has the last tick.
async fn burst<S: Side>(side: &S, streams: &mut Vec<S::Stream>, count: u32) -> anyhow::Result<Duration> {
    let readers: Vec<_> = streams
        .drain(..)
        .map(|mut stream| {
            tokio::spawn(async move {
                for expected in 0..u64::from(count) {
                    let tick = stream.next_tick().await?;
                    ensure!(tick.sequence == expected, "tick {} came where {expected} was due", tick.sequence);
                }
                anyhow::Ok((stream, Instant::now()))
            })
        })
        .collect();
    let started = Instant::now();
    let all = async {
        let reached = side.emit_burst(count).await?;
        ensure!(reached as usize == readers.len(), "the last tick reached {reached} of {} subscribers", readers.len());
        let mut last = started;
        for reader in readers {
            let (stream, done) = reader.await??;
            streams.push(stream);
            last = last.max(done);
        }
        Ok(last - started)
    };
    tokio::time::timeout(STUCK, all).await.with_context(|| format!("a burst of {count} ticks took over {STUCK:?}"))?
}

/// Single events, one at a time: from the start of the `EmitBurst(1)` call until the event is
/// read (the caller reads the stream itself), and from its emit time to its arrival.
async fn latencies<S: Side>(
    side: &S,
    stream: &mut S::Stream,
    count: usize,
    round_trip: &mut Latencies,
    one_way: &mut Latencies,
) -> anyhow::Result<()> {
    for _ in 0..count {
        let started = Instant::now();
        let arrival = async {
            let tick = stream.next_tick().await?;
            anyhow::Ok((tick, Instant::now(), unix_nanos()))
        };
        let both = async { tokio::join!(side.emit_burst(1), arrival) };
        let (reached, arrival) = tokio::time::timeout(STUCK, both).await.context("a single tick did not arrive")?;
        let (tick, arrived, arrived_unix_ns) = arrival?;
        ensure!(reached? == 1 && tick.sequence == 0, "a single tick went astray");
        round_trip.extend([arrived - started]);
        one_way.extend([Duration::from_nanos(arrived_unix_ns.saturating_sub(tick.emitted_unix_ns))]);
    }
    Ok(())
}

/// The three event figures, HERO and raw tonic alternating; `floor` is the TCP floor's p50 and
/// p99 (µs) of this run, for the latency rows.
pub(crate) async fn measure(
    hero: &BenchRemote,
    tonic: &RawClient,
    plan: &EventPlan,
    floor: (Option<f64>, Option<f64>),
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mut hero_streams, mut tonic_streams) = (Vec::new(), Vec::new());
    subscribe(hero, &mut hero_streams, 1).await?;
    subscribe(tonic, &mut tonic_streams, 1).await?;

    // Latency, one subscriber.
    let [mut hero_rtt, mut hero_oneway, mut tonic_rtt, mut tonic_oneway] =
        std::array::from_fn(|_| Latencies::default());
    let (mut warm_rtt, mut warm_oneway) = (Latencies::default(), Latencies::default());
    latencies(hero, &mut hero_streams[0], plan.latency_block, &mut warm_rtt, &mut warm_oneway).await?;
    latencies(tonic, &mut tonic_streams[0], plan.latency_block, &mut warm_rtt, &mut warm_oneway).await?;
    for _ in 0..plan.latency_rounds {
        latencies(tonic, &mut tonic_streams[0], plan.latency_block, &mut tonic_rtt, &mut tonic_oneway).await?;
        latencies(hero, &mut hero_streams[0], plan.latency_block, &mut hero_rtt, &mut hero_oneway).await?;
    }

    // Events per second, one subscriber.
    burst(hero, &mut hero_streams, plan.burst / 4).await?;
    burst(tonic, &mut tonic_streams, plan.burst / 4).await?;
    let (mut hero_rates, mut tonic_rates) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        let elapsed = burst(tonic, &mut tonic_streams, plan.burst).await?;
        tonic_rates.push(f64::from(plan.burst) / elapsed.as_secs_f64());
        let elapsed = burst(hero, &mut hero_streams, plan.burst).await?;
        hero_rates.push(f64::from(plan.burst) / elapsed.as_secs_f64());
    }

    // Fan-out: the same subscription and 99 more, all on the one connection of each side.
    subscribe(hero, &mut hero_streams, FANOUT - 1).await?;
    subscribe(tonic, &mut tonic_streams, FANOUT - 1).await?;
    burst(hero, &mut hero_streams, plan.fanout_burst / 4).await?;
    burst(tonic, &mut tonic_streams, plan.fanout_burst / 4).await?;
    let (mut hero_fanout, mut tonic_fanout) = (Vec::new(), Vec::new());
    let deliveries = (FANOUT as u32 * plan.fanout_burst) as f64;
    for _ in 0..plan.fanout_rounds {
        let elapsed = burst(tonic, &mut tonic_streams, plan.fanout_burst).await?;
        tonic_fanout.push(deliveries / elapsed.as_secs_f64());
        let elapsed = burst(hero, &mut hero_streams, plan.fanout_burst).await?;
        hero_fanout.push(deliveries / elapsed.as_secs_f64());
    }
    // Subscribers that leave are forgotten.
    drop((hero_streams, tonic_streams));
    settle(hero, 0).await?;
    settle(tonic, 0).await?;

    let (hero_rate, tonic_rate) = (median(&hero_rates), median(&tonic_rates));
    let (hero_fanout, tonic_fanout) = (median(&hero_fanout), median(&tonic_fanout));
    let rows = [
        ("events to 1 subscriber (reliable)", "events/s", hero_rate, tonic_rate, None, Better::Higher),
        ("events to 100 subscribers, all deliveries", "events/s", hero_fanout, tonic_fanout, None, Better::Higher),
        (
            "events to 100 subscribers, per subscriber",
            "events/s",
            hero_fanout / FANOUT as f64,
            tonic_fanout / FANOUT as f64,
            None,
            Better::Higher,
        ),
        ("event latency p50 (call → event)", "µs", hero_rtt.p50_us(), tonic_rtt.p50_us(), floor.0, Better::Lower),
        ("event latency p99 (call → event)", "µs", hero_rtt.p99_us(), tonic_rtt.p99_us(), floor.1, Better::Lower),
        (
            "event emit → arrival p50 (wall clock)",
            "µs",
            hero_oneway.p50_us(),
            tonic_oneway.p50_us(),
            None,
            Better::Lower,
        ),
    ];
    for (figure, unit, hero, tonic, floor, better) in rows {
        report.row(Row { figure: figure.into(), unit, hero, tonic: Some(tonic), floor, better });
    }
    report.set("events_per_s", hero_rate);
    report.set("events_tonic_per_s", tonic_rate);
    report.set("events_vs_tonic", hero_rate / tonic_rate);
    report.set("events_fanout100_per_s", hero_fanout);
    report.set("events_fanout100_per_subscriber_per_s", hero_fanout / FANOUT as f64);
    report.set("events_fanout100_tonic_per_s", tonic_fanout);
    report.set("events_fanout100_vs_tonic", hero_fanout / tonic_fanout);
    report.set("event_latency_p50_us", hero_rtt.p50_us());
    report.set("event_latency_p99_us", hero_rtt.p99_us());
    report.set("event_latency_tonic_p50_us", tonic_rtt.p50_us());
    report.set("event_latency_tonic_p99_us", tonic_rtt.p99_us());
    report.set("event_latency_p50_vs_tonic", hero_rtt.p50_us() / tonic_rtt.p50_us());
    report.set("event_oneway_p50_us", hero_oneway.p50_us());
    report.set("event_oneway_tonic_p50_us", tonic_oneway.p50_us());
    Ok(())
}
