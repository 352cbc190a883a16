//! The remote side of the HEROS usage guide: finds "my_hero" by name, calls its methods, and sets
//! and reads back its `testme` attribute.
//!
//! Start `share_local_hero_simple` first, in the same private network namespace (see there), then:
//!
//! ```sh
//! nsenter -n -t <pid of share_local_hero_simple> cargo run --example access_remote_hero_simple
//! ```
//!
//! Without mDNS, give the address: `HEROS_PEERS=127.0.0.1:<port>` or a `heros://host:port/my_hero`
//! URL as the first argument.

mod proto {
    heros::include_proto!("examples.v1");
}

use proto::TestObjectRemote;

/// Connects to `name` and does what the usage guide does.
pub(crate) async fn run(name: &str) -> anyhow::Result<()> {
    let obj = TestObjectRemote::connect(name).await?;
    println!("read_temp(0, 10) = {}", obj.read_temp(0, 10).await?);
    println!("hello() = {}", obj.hello().await?);
    println!("testme = {}", obj.testme().await?);
    obj.set_testme(10).await?;
    println!("testme = {} after set_testme(10)", obj.testme().await?);
    Ok(())
}

#[allow(dead_code)] // quickstart includes this file as a module and has its own main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    let name = std::env::args().nth(1).unwrap_or_else(|| "my_hero".to_owned());
    run(&name).await
}
