//! `heros-bench`: the HEROS benchmark suite. One run measures, in a private network namespace of
//! its own, the TCP floor, raw tonic and HEROS on the same messages, and prints each figure with
//! its ratio to the baselines of the same run (these VMs are too noisy for absolute figures).
//!
//! ```sh
//! cargo run --release -p heros-bench -- [--quick] [--json] [--no-python] [--streams]
//! ```
//!
//! See BENCHMARKS.md for what each figure means.

mod cancel;
mod discovery;
mod events;
mod floor;
mod hero;
mod measure;
mod probe;
mod python;
mod raw;
mod report;
mod roles;
mod scale;
mod streams;
mod suite;
mod tls;

mod proto {
    heros::include_proto!("bench.v1");
}

use anyhow::{bail, Context};

/// How much of everything to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Size {
    /// The least that still runs every code path (the test suite's smoke test).
    Smoke,
    /// Under a minute.
    Quick,
    /// The figures for BENCHMARKS.md.
    Full,
}

/// The command line.
pub(crate) struct Options {
    pub(crate) size: Size,
    pub(crate) json: bool,
    pub(crate) python: bool,
    /// `--streams`: only the streaming methods' figures.
    pub(crate) streams_only: bool,
    /// `--probe`: a fixed number of calls on one side, CPU time per call (see `probe.rs`).
    pub(crate) probe: Option<probe::Probe>,
    /// `--discovery-scale`: many HEROs in one realm, through etcd and over mDNS (`scale.rs`).
    pub(crate) scale: Option<scale::Scale>,
}

const USAGE: &str = "usage: heros-bench [--quick | --smoke] [--json] [--no-python] [--streams]
  --quick      under a minute (fewer calls, shorter rounds)
  --smoke      the smallest run that touches every figure (for the test suite; no Python)
  --json       print one JSON object instead of the table
  --no-python  skip the Python HEROS comparison
  --streams    only the streaming methods (server stream, upload, ping-pong) against raw tonic
  --probe hero|tonic|hero-client|tonic-client [--calls N] [--in-flight K]
               only N Add calls (default 20000) with K in flight (default 128) on one side
               (or crossed: one side's client against the other's server), against a server
               process of its own; prints CPU time, writes and context switches per call of
               both processes (for callgrind; see bench/src/probe.rs). No network namespace.
  --discovery-scale [--heros N] [--mdns-heros M] [--processes P]
               only discovery at scale: N HEROs (default 1000) through a private etcd and M
               (default 200) over mDNS, shared from P processes (default 4); a fresh process
               lists them and connects to one by name (needs etcd; see bench/src/scale.rs)
Runs inside a private network namespace of its own (needs root); HEROS_NETNS=host runs on the
machine's network instead.";

fn options() -> anyhow::Result<Options> {
    let mut options =
        Options { size: Size::Full, json: false, python: true, streams_only: false, probe: None, scale: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().with_context(|| format!("{arg} takes {what}"));
        match arg.as_str() {
            "--probe" => {
                let side = probe::Probe::side(&value("a side")?)?;
                options.probe = Some(probe::Probe { side, calls: 20_000, in_flight: 128 });
            }
            "--calls" | "--in-flight" => {
                let number: u64 = value("a number")?.parse()?;
                let Some(probe) = options.probe.as_mut() else { bail!("{arg} needs --probe first\n{USAGE}") };
                match arg.as_str() {
                    "--calls" => probe.calls = number,
                    _ => probe.in_flight = number as usize,
                }
            }
            "--discovery-scale" => options.scale = Some(scale::Scale { heros: 1000, mdns_heros: 200, processes: 4 }),
            "--heros" | "--mdns-heros" | "--processes" => {
                let number: usize = value("a number")?.parse()?;
                let Some(scale) = options.scale.as_mut() else { bail!("{arg} needs --discovery-scale first\n{USAGE}") };
                match arg.as_str() {
                    "--heros" => scale.heros = number,
                    "--mdns-heros" => scale.mdns_heros = number,
                    _ => scale.processes = number.max(1),
                }
            }
            "--quick" => options.size = Size::Quick,
            "--smoke" => options.size = Size::Smoke,
            "--json" => options.json = true,
            "--no-python" => options.python = false,
            "--streams" => options.streams_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n{USAGE}"),
        }
    }
    if options.size == Size::Smoke || options.streams_only || options.scale.is_some() {
        options.python = false;
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    if let Some(result) = roles::run_role_if_child() {
        return result;
    }
    let options = options()?;
    if let Some(probe) = options.probe {
        return tokio::runtime::Runtime::new()?.block_on(probe::run(probe));
    }
    // PyPI is out of reach once inside the namespace, so install first.
    let python = options.python.then(python::install);
    // Before any thread exists, so that every thread and child process is inside it.
    if std::env::var("HEROS_NETNS").as_deref() != Ok("host") {
        heros_testing::netns::enter_private_network()
            .map_err(|e| anyhow::anyhow!("{e}\n(run as root, or set HEROS_NETNS=host to use the real network)"))?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    if let Some(scale) = options.scale {
        return runtime.block_on(scale::run(scale));
    }
    let report = runtime.block_on(suite::run(&options, python))?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
