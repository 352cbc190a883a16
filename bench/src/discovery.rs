//! Discovery figures: how long from starting a HERO process until a fresh process has called it
//! by name over real mDNS, and what `connect` costs once a HERO is known.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::proto::BenchRemote;
use crate::roles::ChildProcess;

/// The discovery figures of one run.
pub(crate) struct DiscoveryFigures {
    /// HERO process started → a fresh client process's first call answered, per round (ms).
    pub(crate) start_to_first_call_ms: Vec<f64>,
    /// `connect` to a HERO this process already knows (µs, median of many).
    pub(crate) connect_known_us: f64,
}

/// Measures `rounds` HERO starts, each with a new name and a new client process.
pub(crate) async fn measure(rounds: usize) -> anyhow::Result<DiscoveryFigures> {
    let mut start_to_first_call_ms = Vec::new();
    let mut connect_known_us = f64::NAN;
    for round in 0..rounds {
        let name = format!("bench-discovery-{}-{round}", std::process::id());
        let started = Instant::now();
        let hero = ChildProcess::start("discovery-hero", &[&name])?;
        let mut client = ChildProcess::start("discovery-client", &[&name])?;
        let answer = client.line().await?;
        anyhow::ensure!(answer == "CALLED", "the discovery client said '{answer}'");
        start_to_first_call_ms.push(started.elapsed().as_secs_f64() * 1e3);
        client.stop().await?;
        if round == 0 {
            connect_known_us = connect_known(&name).await?;
        }
        hero.stop().await?;
    }
    Ok(DiscoveryFigures { start_to_first_call_ms, connect_known_us })
}

/// The median time of `connect(name)` once this process's discovery cache knows `name`.
async fn connect_known(name: &str) -> anyhow::Result<f64> {
    BenchRemote::connect(name).await.context("connecting to the discovery HERO")?;
    let mut times = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let stub = BenchRemote::connect(name).await?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
        drop(stub);
    }
    Ok(crate::measure::median(&times))
}

/// A HERO process announced over mDNS; serves until its stdin closes.
pub(crate) async fn hero_role(name: &str) -> anyhow::Result<()> {
    let hero = heros::share(name.to_owned(), crate::hero::BenchHero::server()).await?;
    crate::roles::wait_for_stdin_to_close().await;
    hero.shutdown().await;
    Ok(())
}

/// A fresh process that finds `name` and calls it once, then says so.
pub(crate) async fn client_role(name: &str) -> anyhow::Result<()> {
    let stub = BenchRemote::connect_timeout(name, Duration::from_secs(20)).await?;
    anyhow::ensure!(stub.add(1.0, 2.0).await? == 3.0, "wrong sum");
    println!("CALLED");
    crate::roles::wait_for_stdin_to_close().await;
    Ok(())
}
