//! One run of the benchmark: start the server process, measure every figure against its
//! baselines (interleaved, so that a noisy neighbour hits all sides alike), and fill the report.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::events::EventPlan;
use crate::floor::FloorClient;
use crate::measure::{calls_per_second, median, megabytes_per_second, Latencies};
use crate::proto::BenchRemote;
use crate::raw::RawClient;
use crate::report::{Better, Report, Row};
use crate::roles::{field, ChildProcess};
use crate::streams::StreamPlan;
use crate::{Options, Size};

/// How many of everything, by size.
struct Plan {
    /// Rounds of sequential calls, and calls per round for each side.
    rounds: usize,
    block: usize,
    /// Length of one in-flight round, and rounds per setting.
    in_flight_time: Duration,
    in_flight_rounds: usize,
    /// Echoes per payload size.
    echoes: [(usize, usize); 4],
    discovery_rounds: usize,
    /// Handles the client holds at once while the server's memory is measured.
    table_entries: usize,
    events: EventPlan,
    streams: StreamPlan,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

impl Plan {
    fn of(size: Size) -> Plan {
        match size {
            Size::Smoke => Plan {
                rounds: 2,
                block: 20,
                in_flight_time: Duration::from_millis(50),
                in_flight_rounds: 1,
                echoes: [(KIB, 3), (MIB, 2), (16 * MIB, 1), (64 * MIB, 1)],
                discovery_rounds: 1,
                table_entries: 2_000,
                events: EventPlan {
                    rounds: 1,
                    burst: 400,
                    fanout_rounds: 1,
                    fanout_burst: 20,
                    latency_rounds: 1,
                    latency_block: 20,
                },
                streams: StreamPlan {
                    rounds: 1,
                    places: 1_000,
                    upload_bytes: MIB,
                    ping_rounds: 1,
                    ping_block: 20,
                    cancels: 3,
                },
            },
            Size::Quick => Plan {
                rounds: 8,
                block: 250,
                in_flight_time: Duration::from_millis(250),
                in_flight_rounds: 5,
                echoes: [(KIB, 300), (MIB, 20), (16 * MIB, 5), (64 * MIB, 3)],
                discovery_rounds: 1,
                table_entries: 20_000,
                events: EventPlan {
                    rounds: 3,
                    burst: 100_000,
                    fanout_rounds: 3,
                    fanout_burst: 1_000,
                    latency_rounds: 8,
                    latency_block: 125,
                },
                streams: StreamPlan {
                    rounds: 3,
                    places: 100_000,
                    upload_bytes: 64 * MIB,
                    ping_rounds: 8,
                    ping_block: 250,
                    cancels: 30,
                },
            },
            Size::Full => Plan {
                rounds: 20,
                block: 500,
                in_flight_time: Duration::from_millis(900),
                in_flight_rounds: 5,
                echoes: [(KIB, 2000), (MIB, 60), (16 * MIB, 15), (64 * MIB, 5)],
                discovery_rounds: 5,
                table_entries: 100_000,
                events: EventPlan {
                    rounds: 7,
                    burst: 300_000,
                    fanout_rounds: 5,
                    fanout_burst: 2_000,
                    latency_rounds: 20,
                    latency_block: 250,
                },
                streams: StreamPlan {
                    rounds: 25,
                    places: 100_000,
                    upload_bytes: 64 * MIB,
                    ping_rounds: 20,
                    ping_block: 500,
                    cancels: 100,
                },
            },
        }
    }
}

/// Progress on stderr, so that `--json` output stays clean.
struct Progress {
    step: usize,
    started: Instant,
}

impl Progress {
    const STEPS: usize = 12;

    fn next(&mut self, what: &str) {
        self.step += 1;
        eprintln!("[{}/{}] {:>5.1} s  {what}", self.step, Self::STEPS, self.started.elapsed().as_secs_f64());
    }
}

const STREAMS: &str =
    "streaming methods: server stream of small messages, 64 KiB-chunk upload, bidi ping-pong; cancel → method dropped";

/// The three clients every comparison uses.
struct Clients {
    floor: Option<FloorClient>,
    tonic: RawClient,
    hero: BenchRemote,
}

impl Clients {
    /// The HERO and raw tonic clients, for the streaming figures against `server`.
    fn streams(&self, server: Option<u32>) -> crate::streams::Callers<'_> {
        crate::streams::Callers { hero: &self.hero, tonic: &self.tonic, server }
    }

    /// `count` floor round trips, off the async workers (the floor client blocks).
    async fn floor(&mut self, count: usize) -> anyhow::Result<Vec<Duration>> {
        let mut floor = self.floor.take().expect("floor client");
        let (floor, times) = tokio::task::spawn_blocking(move || {
            let times = floor.round_trips(count);
            (floor, times)
        })
        .await?;
        self.floor = Some(floor);
        Ok(times?)
    }
}

pub(crate) async fn run(
    options: &Options,
    python: Option<anyhow::Result<crate::python::PythonHeros>>,
) -> anyhow::Result<Report> {
    let plan = Plan::of(options.size);
    let mut progress = Progress { step: 0, started: Instant::now() };
    let mut report = Report::default();
    report.set_value("date", json!(today()));
    report.set_value("machine", machine());
    report.set_value("size", json!(format!("{:?}", options.size).to_lowercase()));

    progress.next("starting the server process (floor, raw tonic, HERO)");
    let server = ChildProcess::start("server", &[])?;
    let mut server = server;
    let ready = server.line().await?;
    let floor_address: SocketAddr = field(&ready, "floor")?.parse()?;
    let tonic_address: SocketAddr = field(&ready, "tonic")?.parse()?;
    let mut clients = Clients {
        floor: Some(FloorClient::connect(floor_address)?),
        tonic: RawClient::connect(tonic_address).await?,
        hero: BenchRemote::connect(field(&ready, "hero")?).await.context("connecting to the benchmark HERO")?,
    };

    if options.streams_only {
        progress.step = Progress::STEPS - 1;
        progress.next(STREAMS);
        crate::streams::measure(clients.streams(server.pid()), &plan.streams, &mut report).await?;
        server.stop().await?;
        return Ok(report);
    }

    progress.next("sequential calls: floor, raw tonic, HERO method, attribute get and set");
    let call_p50 = sequential(&mut clients, &plan, &mut report).await?;

    progress.next("calls in flight: 1, 32, 128");
    in_flight(&clients, &plan, &mut report).await;

    progress.next("echo 1 KiB, 1 MiB, 16 MiB, 64 MiB");
    echo(&clients, &plan, &mut report).await?;

    progress.next("handles: open + pass back + release against 2 calls; bytes per table entry (own server)");
    handle_cycles(&clients, &plan, &mut report).await?;
    table_footprint(&plan, &mut report).await?;

    progress.next("nested calls: through a stub from a reference, and child() + resolve + call");
    nested(&clients, &plan, &mut report).await?;

    progress
        .next(&format!("events (reliable): call → event latency, 1 subscriber, {} subscribers", crate::events::FANOUT));
    let floor = |key: &str| report.json.get(key).and_then(Value::as_f64);
    let floor = (floor("floor_p50_us"), floor("floor_p99_us"));
    crate::events::measure(&clients.hero, &clients.tonic, &plan.events, floor, &mut report).await?;

    progress.next(STREAMS);
    crate::streams::measure(clients.streams(server.pid()), &plan.streams, &mut report).await?;

    progress.next("same-process call");
    same_process(call_p50, &plan, &mut report).await?;
    server.stop().await?;

    progress.next("discovery: HERO start to first call, connect to a known HERO");
    let discovery = crate::discovery::measure(plan.discovery_rounds).await?;
    let first_call_ms = median(&discovery.start_to_first_call_ms);
    report.row(Row {
        figure: "HERO start → first call (fresh process)".into(),
        unit: "ms",
        hero: first_call_ms,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.row(Row {
        figure: "connect to a known HERO".into(),
        unit: "µs",
        hero: discovery.connect_known_us,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.set("discovery_first_call_ms", first_call_ms);
    report.set("connect_known_us", discovery.connect_known_us);

    progress.next("Python HEROS");
    python_side(options, python, &mut report).await;

    // Last: it gives this process TLS credentials for every later connection.
    progress.next("mTLS: call p50 and 16 MiB echo, HERO and raw tonic with the same TLS");
    crate::tls::measure(plan.rounds, plan.block, plan.echoes[2].1, &mut report).await?;
    Ok(report)
}

/// Sequential latency of the floor, raw tonic and the HERO, in interleaved blocks; returns the
/// HERO call p50 (µs).
async fn sequential(clients: &mut Clients, plan: &Plan, report: &mut Report) -> anyhow::Result<f64> {
    let [mut floor, mut tonic, mut call, mut get, mut set] = std::array::from_fn(|_| Latencies::default());
    // Warm up connections, allocators and caches.
    clients.floor(plan.block).await?;
    for _ in 0..plan.block {
        clients.tonic.add(1.0, 2.0).await;
        clients.hero.add(1.0, 2.0).await?;
    }
    for _ in 0..plan.rounds {
        floor.extend(clients.floor(plan.block).await?);
        let raw = &clients.tonic;
        tonic.take(plan.block, || async { assert_eq!(raw.add(1.0, 2.0).await, 3.0) }).await;
        let hero = &clients.hero;
        call.take(plan.block, || async { assert_eq!(hero.add(1.0, 2.0).await.expect("HERO add"), 3.0) }).await;
        get.take(plan.block / 2, || async {
            hero.counter().await.expect("HERO counter get");
        })
        .await;
        set.take(plan.block / 2, || async { hero.set_counter(7).await.expect("HERO counter set") }).await;
    }
    let floor_p50 = floor.p50_us();
    let (call_p50, tonic_p50) = (call.p50_us(), tonic.p50_us());
    report.row(Row {
        figure: "call p50 (sequential)".into(),
        unit: "µs",
        hero: call_p50,
        tonic: Some(tonic_p50),
        floor: Some(floor_p50),
        better: Better::Lower,
    });
    report.row(Row {
        figure: "call p99 (sequential)".into(),
        unit: "µs",
        hero: call.p99_us(),
        tonic: Some(tonic.p99_us()),
        floor: Some(floor.p99_us()),
        better: Better::Lower,
    });
    report.row(Row {
        figure: "attribute get p50".into(),
        unit: "µs",
        hero: get.p50_us(),
        tonic: Some(tonic_p50),
        floor: Some(floor_p50),
        better: Better::Lower,
    });
    report.row(Row {
        figure: "attribute set p50".into(),
        unit: "µs",
        hero: set.p50_us(),
        tonic: Some(tonic_p50),
        floor: Some(floor_p50),
        better: Better::Lower,
    });
    report.set("floor_p50_us", floor_p50);
    report.set("floor_p99_us", floor.p99_us());
    report.set("tonic_p50_us", tonic_p50);
    report.set("tonic_p99_us", tonic.p99_us());
    report.set("call_p50_us", call_p50);
    report.set("call_p99_us", call.p99_us());
    report.set("call_p50_vs_tonic", call_p50 / tonic_p50);
    report.set("call_p50_vs_floor", call_p50 / floor_p50);
    report.set("attribute_get_p50_us", get.p50_us());
    report.set("attribute_set_p50_us", set.p50_us());
    report.target("call p50 vs raw tonic", Some(call_p50 / tonic_p50), 1.10, Better::Lower);
    report.target("call p50 vs TCP floor (aim)", Some(call_p50 / floor_p50), 1.25, Better::Lower);
    Ok(call_p50)
}

/// Calls per second with 1, 32 and 128 calls in flight on one connection.
async fn in_flight(clients: &Clients, plan: &Plan, report: &mut Report) {
    for in_flight in [1, 32, 128] {
        let (mut tonic, mut hero) = (Vec::new(), Vec::new());
        // Which side goes first alternates, so that neither always runs right after the other.
        for round in 0..plan.in_flight_rounds {
            for hero_turn in [round % 2 == 1, round % 2 == 0] {
                if hero_turn {
                    let stub = clients.hero.clone();
                    hero.push(
                        calls_per_second(stub, in_flight, plan.in_flight_time, |stub: BenchRemote| async move {
                            stub.add(1.0, 2.0).await.expect("HERO add");
                        })
                        .await,
                    );
                } else {
                    let raw = clients.tonic.clone();
                    tonic.push(
                        calls_per_second(raw, in_flight, plan.in_flight_time, |raw: RawClient| async move {
                            raw.add(1.0, 2.0).await;
                        })
                        .await,
                    );
                }
            }
        }
        let (tonic, hero) = (median(&tonic), median(&hero));
        report.row(Row {
            figure: format!("calls/s, {in_flight} in flight"),
            unit: "calls/s",
            hero,
            tonic: Some(tonic),
            floor: None,
            better: Better::Higher,
        });
        report.set(&format!("inflight{in_flight}_calls_per_s"), hero);
        report.set(&format!("inflight{in_flight}_tonic_calls_per_s"), tonic);
        report.set(&format!("inflight{in_flight}_vs_tonic"), hero / tonic);
        if in_flight == 128 {
            report.target("128 in flight vs raw tonic", Some(hero / tonic), 1.0, Better::Higher);
        }
    }
}

/// Echo throughput by payload size, raw tonic (`Vec<u8>`) and HERO (`Bytes`) alternating. Each
/// side feeds the reply into the next call, as a user who reuses the buffer would.
async fn echo(clients: &Clients, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    for (size, count) in plan.echoes {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let (mut tonic_data, mut hero_data) = (payload.clone(), Bytes::from(payload.clone()));
        let (mut tonic, mut hero) = (Vec::new(), Vec::new());
        for _ in 0..count {
            let started = Instant::now();
            tonic_data = clients.tonic.echo(tonic_data).await;
            tonic.push(megabytes_per_second(size, started.elapsed()));
            let started = Instant::now();
            hero_data = clients.hero.echo(hero_data).await?;
            hero.push(megabytes_per_second(size, started.elapsed()));
        }
        anyhow::ensure!(tonic_data == payload, "raw tonic echo of {size} bytes came back changed");
        anyhow::ensure!(hero_data == payload, "HERO echo of {size} bytes came back changed");
        let (tonic, hero) = (median(&tonic), median(&hero));
        let label = if size >= MIB { format!("{} MiB", size / MIB) } else { format!("{} KiB", size / KIB) };
        report.row(Row {
            figure: format!("echo {label}"),
            unit: "MB/s",
            hero,
            tonic: Some(tonic),
            floor: None,
            better: Better::Higher,
        });
        let key = if size >= MIB { format!("echo{}m", size / MIB) } else { format!("echo{}k", size / KIB) };
        report.set(&format!("{key}_mbps"), hero);
        report.set(&format!("{key}_tonic_mbps"), tonic);
        report.set(&format!("{key}_vs_tonic"), hero / tonic);
        if size == 16 * MIB {
            report.target("16 MiB echo vs raw tonic (Vec<u8>)", Some(hero / tonic), 2.0, Better::Higher);
        }
    }
    Ok(())
}

/// One handle's life: the server keeps a value and returns a handle (`Open`), the handle is
/// passed back (`Read`), and the last clone drops (a release, sent in the background).
async fn handle_cycle(hero: &BenchRemote, value: u64) -> anyhow::Result<()> {
    let thing = hero.open(value).await?;
    anyhow::ensure!(hero.read(&thing).await? == value, "a handle came back to another value");
    drop(thing);
    Ok(())
}

/// Waits until the server's handle table is empty: releases leave in the background, so a loop
/// of handles is only done when they have all arrived.
async fn table_empty(hero: &BenchRemote) -> anyhow::Result<()> {
    let wait = async {
        while hero.target().handle_stats().await?.entries > 0 {
            tokio::task::yield_now().await;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .context("the server's handle table did not empty within 30 s of the last release")?
}

/// Handle cycles per second (open, pass back, release, and the wait until the table is empty
/// again), in blocks alternating with blocks of twice as many plain `Add` calls.
async fn handle_cycles(clients: &Clients, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let hero = &clients.hero;
    // Warm up; the first handle call also opens this process's session with the server.
    for value in 0..plan.block as u64 {
        handle_cycle(hero, value).await?;
    }
    table_empty(hero).await?;
    let (mut cycles, mut pairs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        let started = Instant::now();
        for value in 0..plan.block as u64 {
            handle_cycle(hero, value).await?;
        }
        table_empty(hero).await?;
        let cycle_time = started.elapsed();
        let started = Instant::now();
        for _ in 0..2 * plan.block {
            assert_eq!(hero.add(1.0, 2.0).await?, 3.0);
        }
        let pair_time = started.elapsed();
        cycles.push(plan.block as f64 / cycle_time.as_secs_f64());
        pairs.push(plan.block as f64 / pair_time.as_secs_f64());
        ratios.push(cycle_time.as_secs_f64() / pair_time.as_secs_f64());
    }
    let (cycles, pairs, ratio) = (median(&cycles), median(&pairs), median(&ratios));
    report.row(Row {
        figure: format!("handle open + pass back + release ({ratio:.2}x 2 calls)"),
        unit: "cycles/s",
        hero: cycles,
        tonic: None,
        floor: None,
        better: Better::Higher,
    });
    report.row(Row {
        figure: "2 plain calls, the same blocks".into(),
        unit: "cycles/s",
        hero: pairs,
        tonic: None,
        floor: None,
        better: Better::Higher,
    });
    report.set("handle_cycles_per_s", cycles);
    report.set("handle_two_calls_per_s", pairs);
    report.set("handle_cycle_vs_two_calls", ratio);
    Ok(())
}

/// Opens `count` handles, 32 calls in flight, and returns them all.
async fn hold_handles(hero: &BenchRemote, count: usize) -> anyhow::Result<Vec<heros::Handle>> {
    const IN_FLIGHT: usize = 32;
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|worker| {
            let (stub, share) = (hero.clone(), (count + IN_FLIGHT - 1 - worker) / IN_FLIGHT);
            tokio::spawn(async move {
                let mut held = Vec::with_capacity(share);
                for value in 0..share as u64 {
                    held.push(stub.open(value).await?);
                }
                Ok::<_, heros::Error>(held)
            })
        })
        .collect();
    let mut handles = Vec::with_capacity(count);
    for worker in workers {
        handles.extend(worker.await??);
    }
    Ok(handles)
}

/// The server's resident memory per handle table entry: its RSS (after `malloc_trim`) before
/// and while this process holds `table_entries` handles to a `u64` each. Measured on a server
/// process of its own: the main one has moved large payloads, after which glibc keeps freed
/// memory resident (raised trim thresholds, arena tops `malloc_trim` does not give back) and
/// new entries would fill it unseen.
async fn table_footprint(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let mut server = ChildProcess::start("table-server", &[])?;
    let ready = server.line().await?;
    let hero = BenchRemote::connect(field(&ready, "hero")?).await.context("connecting to the table HERO")?;
    // Warm up the connection, the session and the allocator's arenas, with few entries at once.
    for _ in 0..4 {
        drop(hold_handles(&hero, 256).await?);
        table_empty(&hero).await?;
    }
    let before = hero.footprint().await?;
    let handles = hold_handles(&hero, plan.table_entries).await?;
    let entries = hero.target().handle_stats().await?.entries;
    anyhow::ensure!(
        entries == plan.table_entries as u64,
        "the table holds {entries} entries, not {}",
        plan.table_entries
    );
    let after = hero.footprint().await?;
    drop(handles);
    table_empty(&hero).await?;
    drop(hero);
    server.stop().await?;
    let per_entry = (after as f64 - before as f64) / plan.table_entries as f64;
    report.row(Row {
        figure: format!("server memory per handle ({}k held)", plan.table_entries / 1000),
        unit: "bytes",
        hero: per_entry,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.set("handle_entry_bytes", per_entry);
    Ok(())
}

/// Calls to a HERO reached through a reference that another HERO returned: through a stub
/// resolved once, and with `child()` and the resolution every time; both against plain calls
/// on the root HERO, in alternating blocks.
async fn nested(clients: &Clients, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let root = &clients.hero;
    let child = root.child().await?;
    anyhow::ensure!(child.target().name() == "bench-child", "Child returned '{}'", child.target().name());
    let [mut plain, mut nested, mut full] = std::array::from_fn(|_| Latencies::default());
    let add = |stub: &BenchRemote| {
        let stub = stub.clone();
        async move { assert_eq!(stub.add(1.0, 2.0).await.expect("HERO add"), 3.0) }
    };
    let resolve_and_add = || async {
        let child = root.child().await.expect("HERO child");
        assert_eq!(child.add(1.0, 2.0).await.expect("nested add"), 3.0);
    };
    // Warm up.
    for _ in 0..plan.block / 2 {
        add(&child).await;
        resolve_and_add().await;
    }
    for _ in 0..plan.rounds {
        plain.take(plan.block, || add(root)).await;
        nested.take(plan.block, || add(&child)).await;
        full.take(plan.block / 2, resolve_and_add).await;
    }
    let (plain, nested, full) = (plain.p50_us(), nested.p50_us(), full.p50_us());
    report.row(Row {
        figure: format!("nested call p50 ({:.2}x plain call)", nested / plain),
        unit: "µs",
        hero: nested,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.row(Row {
        figure: format!("child() + resolve + call p50 ({:.2}x plain call)", full / plain),
        unit: "µs",
        hero: full,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.set("nested_plain_p50_us", plain);
    report.set("nested_call_p50_us", nested);
    report.set("nested_vs_plain", nested / plain);
    report.set("nested_resolve_and_call_p50_us", full);
    report.set("nested_resolve_and_call_vs_plain", full / plain);
    Ok(())
}

/// A HERO of this process called through its stub, against the loopback call of the same run.
async fn same_process(call_p50: f64, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).start().await?;
    let hero = server.share(heros::Hero::new("bench-local").interface(crate::hero::BenchHero::server())).await?;
    let stub = BenchRemote::connect(&hero.url()).await?;
    let mut local = Latencies::default();
    for _ in 0..plan.rounds {
        local.take(plan.block, || async { assert_eq!(stub.add(1.0, 2.0).await.expect("local add"), 3.0) }).await;
    }
    let local_p50 = local.p50_us();
    report.row(Row {
        figure: "same-process call p50".into(),
        unit: "µs",
        hero: local_p50,
        tonic: None,
        floor: None,
        better: Better::Lower,
    });
    report.set("local_call_p50_us", local_p50);
    report.set("loopback_vs_local", call_p50 / local_p50);
    report.target("same-process call, times faster than loopback", Some(call_p50 / local_p50), 50.0, Better::Higher);
    hero.shutdown().await;
    server.shutdown().await;
    Ok(())
}

/// Python HEROS figures and their ratios, or a note saying why there are none.
async fn python_side(
    options: &Options,
    python: Option<anyhow::Result<crate::python::PythonHeros>>,
    report: &mut Report,
) {
    let keys = ["python_call_p50_us", "python_echo16m_mbps", "python_events_per_s"];
    let figures = match python {
        None => Err(anyhow::anyhow!("skipped (--no-python or --smoke)")),
        Some(Err(error)) => Err(error.context("Python HEROS could not be installed")),
        Some(Ok(python)) => python.measure(options.size != Size::Full).await,
    };
    let figures = match figures {
        Ok(figures) => figures,
        Err(error) => {
            report.notes.push(format!("Python HEROS: {error:#}"));
            for key in keys.into_iter().chain(["events_vs_python"]) {
                report.set(key, None);
            }
            report.target("16 MiB echo vs Python HEROS", None, 3.0, Better::Higher);
            report.target("events to one subscriber vs Python HEROS", None, 20.0, Better::Higher);
            return;
        }
    };
    let number = |key: &str| figures.get(key).and_then(Value::as_f64);
    let (call_p50, echo16m) = (number("call_p50_us"), number("echo16m_mbps"));
    report.set("python_call_p50_us", call_p50);
    report.set("python_echo16m_mbps", echo16m);
    report.set("python_events_per_s", number("events_per_s"));
    report.set_value("python_heros_version", figures.get("heros_version").cloned().unwrap_or(Value::Null));
    let hero_call = report.json.get("call_p50_us").and_then(Value::as_f64);
    let hero_echo = report.json.get("echo16m_mbps").and_then(Value::as_f64);
    let hero_events = report.json.get("events_per_s").and_then(Value::as_f64);
    if let Some(call_p50) = call_p50 {
        report.row(Row {
            figure: "Python HEROS call p50".into(),
            unit: "µs",
            hero: call_p50,
            tonic: None,
            floor: None,
            better: Better::Lower,
        });
    }
    if let Some(echo16m) = echo16m {
        report.row(Row {
            figure: "Python HEROS echo 16 MiB".into(),
            unit: "MB/s",
            hero: echo16m,
            tonic: None,
            floor: None,
            better: Better::Higher,
        });
    }
    if let Some(events) = number("events_per_s") {
        report.row(Row {
            figure: "Python HEROS events to one subscriber".into(),
            unit: "events/s",
            hero: events,
            tonic: None,
            floor: None,
            better: Better::Higher,
        });
    }
    report.set("call_vs_python", hero_call.zip(call_p50).map(|(hero, python)| python / hero));
    let echo_ratio = hero_echo.zip(echo16m).map(|(hero, python)| hero / python);
    report.set("echo16m_vs_python", echo_ratio);
    report.target("16 MiB echo vs Python HEROS", echo_ratio, 3.0, Better::Higher);
    let events_ratio = hero_events.zip(number("events_per_s")).map(|(hero, python)| hero / python);
    report.set("events_vs_python", events_ratio);
    report.target("events to one subscriber vs Python HEROS", events_ratio, 20.0, Better::Higher);
    if let Some(errors) = figures.get("errors").and_then(Value::as_array) {
        for error in errors {
            report.notes.push(format!("Python HEROS: {}", error.as_str().unwrap_or_default()));
        }
    }
}

/// Today's date (UTC), from the system clock, without a date crate.
fn today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// What the figures were measured on.
fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_owned()).ok();
    let cpu = read("/proc/cpuinfo").and_then(|info| {
        info.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
    });
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu": cpu,
        "kernel": read("/proc/sys/kernel/osrelease"),
    })
}
