//! The first HERO of the HEROS usage guide: a `TestObject` called "my_hero" whose `testme`
//! attribute starts at 5. It serves until Ctrl-C or SIGTERM, then says goodbye on mDNS.
//!
//! mDNS must not leave a machine without a LAN of its own (like the CI machines), so run it
//! inside a private network namespace, as root:
//!
//! ```sh
//! unshare -n sh -c 'ip link set lo up && cargo run --example share_local_hero_simple'
//! ```
//!
//! and run `access_remote_hero_simple` in the same namespace (`nsenter -n -t <pid>`), or just
//! `cargo run --example quickstart`, which does both. `HEROS_LOG=debug` shows what happens.

mod proto {
    heros::include_proto!("examples.v1");
}

use heros::Attribute;
use proto::{TestObject, TestObjectServer};

/// The object behind the HERO.
pub(crate) struct MyTestObject {
    testme: Attribute<i64>,
    firmware: Attribute<String>,
}

impl MyTestObject {
    pub(crate) fn new(start: i64) -> Self {
        MyTestObject { testme: Attribute::new(start), firmware: Attribute::new("1.0.0".to_owned()) }
    }
}

impl TestObject for MyTestObject {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        Ok((f64::from(max) + f64::from(min)) / 2.0)
    }

    async fn hello(&self) -> heros::Result<String> {
        self.testme.update(|n| *n += 1);
        Ok("world".to_owned())
    }

    fn testme(&self) -> &Attribute<i64> {
        &self.testme
    }

    fn firmware(&self) -> &Attribute<String> {
        &self.firmware
    }
}

/// Shares "my_hero" and serves it until `stop` resolves.
pub(crate) async fn run(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let hero = heros::share("my_hero", TestObjectServer::new(MyTestObject::new(5))).await?;
    println!("HERO 'my_hero' is ready at {}", hero.url());
    stop.await;
    hero.shutdown().await;
    println!("HERO 'my_hero' has left");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[allow(dead_code)] // quickstart includes this file as a module and has its own main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    run(interrupted()).await
}
