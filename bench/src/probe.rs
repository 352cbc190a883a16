//! `--probe`: a fixed number of `Add` calls with N in flight, on one side only (HERO or raw
//! tonic, or one's client against the other's server), against a server process of its own,
//! reporting CPU time, write calls and context switches per call of each process. Wall-clock
//! rates on these VMs move with the neighbours' work; instruction counts under
//! `valgrind --tool=callgrind` move far less (a few hundred per call, with how many calls each
//! wake-up finds ready):
//!
//! ```sh
//! # client side: instructions of this process (its server runs natively)
//! valgrind --tool=callgrind heros-bench --probe hero --calls 12000
//! # server side: HEROS_BENCH_SERVER_WRAPPER runs the server process under the tool
//! HEROS_BENCH_SERVER_WRAPPER="valgrind --tool=callgrind" heros-bench --probe hero --calls 12000
//! ```
//!
//! Per-call figures come from the difference of two counts (BENCHMARKS.md used 12000 and 4000
//! calls), which takes out start-up, connection set-up and the warm-up. Not part of the suite.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::measure::time_calls;
use crate::proto::BenchRemote;
use crate::raw::RawClient;
use crate::roles::{field, ChildProcess};

/// What to call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Hero,
    Tonic,
    /// The HERO stub's client (its connection, codec, headers) against the raw tonic server.
    HeroClientTonicServer,
    /// The raw tonic client (naming the HERO in the headers) against the HERO server.
    TonicClientHeroServer,
}

/// The probe's command line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) side: Side,
    pub(crate) calls: u64,
    pub(crate) in_flight: usize,
}

impl Probe {
    pub(crate) fn side(name: &str) -> anyhow::Result<Side> {
        match name {
            "hero" => Ok(Side::Hero),
            "tonic" => Ok(Side::Tonic),
            "hero-client" => Ok(Side::HeroClientTonicServer),
            "tonic-client" => Ok(Side::TonicClientHeroServer),
            other => bail!("--probe takes 'hero', 'tonic', 'hero-client' or 'tonic-client', not '{other}'"),
        }
    }
}

/// Calls before the counted ones: connections, allocator and caches warm.
const WARM_UP: u64 = 2_000;

/// CPU time of process `pid` so far (`None`: this process): user, system.
pub(crate) fn cpu_time(pid: Option<u32>) -> anyhow::Result<Cpu> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').context("no ')' in /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // In USER_HZ, which Linux fixes at 100 for everything it reports to user space.
    let ticks = |i: usize| fields[i].parse::<u64>().map(|t| Duration::from_millis(t * 10));
    Ok(Cpu { user: ticks(11)?, system: ticks(12)? })
}

/// CPU time, user and system.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cpu {
    user: Duration,
    system: Duration,
}

impl Cpu {
    /// User and system time together.
    pub(crate) fn total(self) -> Duration {
        self.user + self.system
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, before: Cpu) -> Cpu {
        Cpu { user: self.user - before.user, system: self.system - before.system }
    }
}

/// Counters of process `pid` (`None`: this process) that say how a call's work was cut up:
/// write system calls (`/proc/<pid>/io`: `syscw`; socket reads are not counted there) and
/// context switches, voluntary and not, summed over its threads.
#[derive(Clone, Copy, Default, Debug)]
struct Counts {
    writes: u64,
    voluntary: u64,
    involuntary: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, before: Counts) -> Counts {
        Counts {
            writes: self.writes - before.writes,
            voluntary: self.voluntary - before.voluntary,
            involuntary: self.involuntary - before.involuntary,
        }
    }
}

fn counts(pid: Option<u32>) -> anyhow::Result<Counts> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_owned(),
    };
    let number = |text: &str, key: &str| -> u64 {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    let io = std::fs::read_to_string(format!("{dir}/io")).with_context(|| format!("reading {dir}/io"))?;
    let mut counts = Counts { writes: number(&io, "syscw:"), ..Counts::default() };
    for task in std::fs::read_dir(format!("{dir}/task"))? {
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else { continue };
        counts.voluntary += number(&status, "voluntary_ctxt_switches:");
        counts.involuntary += number(&status, "nonvoluntary_ctxt_switches:");
    }
    Ok(counts)
}

/// What one process spent: CPU time and counters.
type Spent = (Cpu, Counts);

/// This process's and the server's counters now.
fn spent_so_far(server: Option<u32>) -> anyhow::Result<[Spent; 2]> {
    Ok([(cpu_time(None)?, counts(None)?), (cpu_time(server)?, counts(server)?)])
}

/// Warms up, then makes `probe.calls` calls of `call`; returns how long they took and what this
/// process and the server spent on them.
async fn timed<C, F, Fut>(
    client: C,
    call: F,
    probe: Probe,
    server: Option<u32>,
) -> anyhow::Result<(Duration, [Spent; 2])>
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    time_calls(client.clone(), probe.in_flight, WARM_UP, call.clone()).await;
    let before = spent_so_far(server)?;
    let elapsed = time_calls(client, probe.in_flight, probe.calls, call).await;
    let after = spent_so_far(server)?;
    let spent = |i: usize| (after[i].0 - before[i].0, after[i].1 - before[i].1);
    Ok((elapsed, [spent(0), spent(1)]))
}

pub(crate) async fn run(probe: Probe) -> anyhow::Result<()> {
    let wrapper = std::env::var("HEROS_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let wrapper: Vec<&str> = wrapper.split_whitespace().collect();
    let mut server = ChildProcess::start_wrapped(&wrapper, "server", &[])?;
    let pid = server.pid();
    let ready = server.line().await?;
    let started = Instant::now();
    let hero =
        || async { BenchRemote::connect(field(&ready, "hero")?).await.context("connecting to the benchmark HERO") };
    let add = |stub: BenchRemote| async move {
        stub.add(1.0, 2.0).await.expect("HERO add");
    };
    let (elapsed, [client, server_spent]) = match probe.side {
        Side::Hero => timed(hero().await?, add, probe, pid).await?,
        Side::HeroClientTonicServer => {
            // The raw server answers the same paths and ignores the HEROS headers.
            let mut info = hero().await?.target().info().clone();
            info.endpoints = vec![format!("http://{}", field(&ready, "tonic")?)];
            let stub = <BenchRemote as heros::Remote>::from_target(heros::Target::from_info(info, false).await?);
            timed(stub, add, probe, pid).await?
        }
        Side::TonicClientHeroServer => {
            let url: heros::HeroUrl = field(&ready, "hero")?.parse()?;
            let raw = RawClient::connect(url.endpoint.trim_start_matches("http://").parse()?).await?;
            let mut headers = http::HeaderMap::new();
            headers.insert(heros::wire::NAME_HEADER, http::HeaderValue::from_str(&url.name)?);
            let realm = url.realm.as_deref().unwrap_or(heros::DEFAULT_REALM);
            headers.insert(heros::wire::REALM_HEADER, http::HeaderValue::from_str(realm)?);
            let headers = std::sync::Arc::new(headers);
            let call = move |raw: RawClient| {
                let headers = headers.clone();
                async move {
                    raw.add_with_headers(1.0, 2.0, &headers).await;
                }
            };
            timed(raw, call, probe, pid).await?
        }
        Side::Tonic => {
            let raw = RawClient::connect(field(&ready, "tonic")?.parse()?).await?;
            let call = |raw: RawClient| async move {
                raw.add(1.0, 2.0).await;
            };
            timed(raw, call, probe, pid).await?
        }
    };
    let per_call = |(cpu, _): Spent| {
        let us = |d: Duration| d.as_secs_f64() * 1e6 / probe.calls as f64;
        format!("{:.2} ({:.2} user + {:.2} system)", us(cpu.user + cpu.system), us(cpu.user), us(cpu.system))
    };
    let per_100 = |(_, counts): Spent| {
        let per_100 = |n: u64| n as f64 * 100.0 / probe.calls as f64;
        format!(
            "writes={:.1} switches={:.1}+{:.1}",
            per_100(counts.writes),
            per_100(counts.voluntary),
            per_100(counts.involuntary)
        )
    };
    println!(
        "{:?} calls={} in_flight={} elapsed_s={:.3} calls_per_s={:.0} cpu_us_per_call: client={} server={}; \
         per 100 calls: client {} server {}; total_s={:.1}",
        probe.side,
        probe.calls,
        probe.in_flight,
        elapsed.as_secs_f64(),
        probe.calls as f64 / elapsed.as_secs_f64(),
        per_call(client),
        per_call(server_spent),
        per_100(client),
        per_100(server_spent),
        started.elapsed().as_secs_f64(),
    );
    server.stop().await
}
