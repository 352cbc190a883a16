//! Serves the example HEROs for clients of your own (Python, Go, grpcurl, ...), until Ctrl-C or
//! SIGTERM: everything a HERO can do, on one server, without discovery.
//!
//! ```sh
//! cargo run --example serve_examples                 # on 127.0.0.1, a free port
//! HEROS_BIND=127.0.0.1:50051 cargo run --example serve_examples
//! ```
//!
//! It prints `listening on <host:port>` first, then one `heros://` URL per HERO, and serves until
//! it gets SIGINT (Ctrl-C) or SIGTERM; stdin is not read, so it runs in the background or under a
//! supervisor as well. Then its HEROs leave (their event streams end with `UNAVAILABLE`) and it
//! prints `stopped`. The HEROs (docs/PROTOCOL.md, "Worked example"):
//!
//! | name | realm | what |
//! | --- | --- | --- |
//! | `my_hero` | `heros` | the usage guide's TestObject (`testme` at 5, read-only `firmware` 1.0.0) |
//! | `interop-test` | `heros` | a TestObject (`testme` at 5) and a Furnace (events `Overheated`, `Readings`; `Heat`, `Burst` emit) |
//! | `interop-instrument` | `heros` | an Instrument: `Open` returns a handle, `Read` and `Configure` take it back |
//! | `interop-root`, `interop-child` | `heros` | Nodes: `Child(0)` of the root is a reference to the child |
//! | `interop-realm-test` | `interop-lab` | a TestObject (`testme` at 7) in another realm |
//! | `interop-guide` | `heros` | gRPC's route guide (all four rpc kinds), 8192 features of 4 KiB |
//! | `interop-stage` | `heros` | a stage: `Move` is long-running (operations: progress, cancel) |
//!
//! These are the HEROs the interop suites drive (`tests/interop_python.rs`), plus `my_hero`. No
//! mDNS unless `HEROS_DISCOVERY=on` (then run it where multicast may go, e.g. in a private
//! network namespace: `unshare -n sh -c 'ip link set lo up && cargo run --example serve_examples'`).

mod proto {
    heros::include_proto!("examples.v1");
}

#[allow(dead_code, unreachable_pub)] // shared with the tests, which use more of it
#[path = "support/interop_heros.rs"]
mod interop_heros;
#[allow(dead_code, unreachable_pub)]
#[path = "support/lab.rs"]
mod lab;
#[path = "support/route_guide_hero.rs"]
mod route_guide_hero;
#[path = "support/stage_hero.rs"]
mod stage_hero;

use std::io::Write;

use heros::{Hero, Server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    let mut builder = Server::builder().mdns(std::env::var("HEROS_DISCOVERY").as_deref() == Ok("on"));
    if std::env::var_os("HEROS_BIND").is_none() {
        builder = builder.bind("127.0.0.1:0".parse()?);
    }
    let server = builder.start().await?;
    let features =
        route_guide_hero::long_features(interop_heros::INTEROP_GUIDE_FEATURES, interop_heros::INTEROP_GUIDE_PADDING);
    let included = interop_heros::IncludedHeros::new(
        route_guide_hero::routeguide::RouteGuideServer::new(route_guide_hero::RouteGuideHero::new(features)),
        proto::StageServer::new(stage_hero::StageHero::default()),
    );
    let mut heros = interop_heros::share_interop_heros(&server, included).await;
    let my_hero = Hero::new("my_hero").interface(proto::TestObjectServer::new(lab::TestHero::new(5)));
    heros.push(server.share(my_hero).await?);

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.local_addr())?;
    for hero in &heros {
        writeln!(out, "{}", hero.url())?;
    }
    // Whoever reads the output learns at once that the HEROs are there.
    out.flush()?;
    drop(out);

    stopped().await?;
    for hero in heros {
        hero.shutdown().await;
    }
    server.shutdown().await;
    println!("stopped");
    Ok(())
}

/// Resolves at SIGINT (Ctrl-C) or SIGTERM.
async fn stopped() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
