//! `--discovery-scale`: many HEROs in one realm, registered by a few processes, and what a fresh
//! process pays to list them all and to connect to one by name: through etcd, and over mDNS on
//! one link for comparison. Also etcd's resident memory and its key count. Not part of the
//! default run (it takes a minute and starts etcd): see BENCHMARKS.md for the command.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use heros::Observer;

use crate::proto::BenchRemote;
use crate::roles::{field, ChildProcess};

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    /// HEROs registered through etcd.
    pub(crate) heros: usize,
    /// HEROs advertised over mDNS (fewer: see BENCHMARKS.md).
    pub(crate) mdns_heros: usize,
    /// Processes the HEROs are shared from.
    pub(crate) processes: usize,
}

/// One backend's figures.
struct Figures {
    backend: &'static str,
    heros: usize,
    register_s: f64,
    listed: usize,
    list_ms: f64,
    connect_ms: f64,
    process_ms: f64,
}

pub(crate) async fn run(scale: Scale) -> anyhow::Result<()> {
    let mut etcd = heros_testing::etcd::Etcd::start()?;
    let idle_kib = etcd.resident_kib().unwrap_or(0);
    std::env::set_var("HEROS_DISCOVERY", "etcd");
    std::env::set_var("HEROS_ETCD", etcd.url());
    let through_etcd = measure("etcd", scale.heros, scale.processes).await?;
    let loaded_kib = etcd.resident_kib().unwrap_or(0);
    std::env::set_var("HEROS_DISCOVERY", "mdns");
    std::env::remove_var("HEROS_ETCD");
    let over_mdns = measure("mdns", scale.mdns_heros, scale.processes).await?;
    etcd.stop();

    println!("| backend | HEROs | processes | register all (s) | fresh process: listed | list (ms) | connect by name (ms) | process start to connected (ms) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for f in [&through_etcd, &over_mdns] {
        println!(
            "| {} | {} | {} | {:.2} | {} | {:.1} | {:.2} | {:.1} |",
            f.backend, f.heros, scale.processes, f.register_s, f.listed, f.list_ms, f.connect_ms, f.process_ms
        );
    }
    println!(
        "etcd: {} keys; resident memory {:.1} MiB idle, {:.1} MiB with the keys",
        through_etcd.listed,
        idle_kib as f64 / 1024.0,
        loaded_kib as f64 / 1024.0
    );
    Ok(())
}

async fn measure(backend: &'static str, heros: usize, processes: usize) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let per_process = heros.div_ceil(processes);
    let mut servers = Vec::new();
    for p in 0..processes {
        let (from, count) = (p * per_process, per_process.min(heros.saturating_sub(p * per_process)));
        servers.push(ChildProcess::start("scale-heros", &[&from.to_string(), &count.to_string()])?);
    }
    for server in &mut servers {
        let line = server.line().await?;
        ensure!(line.starts_with("READY"), "a HERO process said '{line}'");
    }
    let register_s = started.elapsed().as_secs_f64();
    // A name in the middle, so that nothing favours the first or the last registered.
    let name = hero_name(heros / 2);
    let mut client = ChildProcess::start("scale-client", &[&heros.to_string(), &name])?;
    let line = client.line().await?;
    let figures = Figures {
        backend,
        heros,
        register_s,
        listed: field(&line, "listed")?.parse()?,
        list_ms: field(&line, "list_ms")?.parse()?,
        connect_ms: field(&line, "connect_ms")?.parse()?,
        process_ms: field(&line, "process_ms")?.parse()?,
    };
    client.stop().await?;
    for server in servers {
        server.stop().await?;
    }
    Ok(figures)
}

fn hero_name(i: usize) -> String {
    format!("scale-{i:05}")
}

/// Shares HEROs `scale-<from>` .. `scale-<from + count - 1>`, says READY, serves until stdin closes.
pub(crate) async fn heros_role(from: usize, count: usize) -> anyhow::Result<()> {
    let server = heros::Server::global().await?;
    let mut heros = Vec::with_capacity(count);
    for i in from..from + count {
        let hero = heros::Hero::new(hero_name(i)).interface(crate::hero::BenchHero::server());
        heros.push(server.share(hero).await.with_context(|| format!("sharing {}", hero_name(i)))?);
    }
    println!("READY shared={count}");
    crate::roles::wait_for_stdin_to_close().await;
    for hero in heros {
        hero.shutdown().await;
    }
    Ok(())
}

/// A fresh process: lists the realm until it knows `expected` HEROs (through etcd: until etcd
/// has listed it), then connects to `name` and calls it once.
pub(crate) async fn client_role(process_start: Instant, expected: usize, name: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let observer = Observer::new("heros")?;
    observer.synced(Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while observer.known().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let listed = observer.known().len();
    let list_ms = started.elapsed().as_secs_f64() * 1e3;
    let connecting = Instant::now();
    let stub = BenchRemote::connect_timeout(name, Duration::from_secs(10)).await?;
    ensure!(stub.add(1.0, 2.0).await? == 3.0, "wrong sum");
    let connect_ms = connecting.elapsed().as_secs_f64() * 1e3;
    println!(
        "LISTED listed={listed} list_ms={list_ms:.1} connect_ms={connect_ms:.2} process_ms={:.1}",
        process_start.elapsed().as_secs_f64() * 1e3
    );
    crate::roles::wait_for_stdin_to_close().await;
    Ok(())
}
