//! The benchmark HERO and the server process that hosts it next to the baselines.

use bytes::Bytes;
use heros::Attribute;

use crate::proto::{Bench, BenchServer};

/// Implements `bench.v1.Bench` with no work beyond what each method says.
pub(crate) struct BenchHero {
    counter: Attribute<i64>,
}

impl BenchHero {
    pub(crate) fn server() -> BenchServer<BenchHero> {
        BenchServer::new(BenchHero { counter: Attribute::new(0) })
    }
}

impl Bench for BenchHero {
    async fn add(&self, a: f64, b: f64) -> heros::Result<f64> {
        Ok(a + b)
    }

    async fn echo(&self, data: Bytes) -> heros::Result<Bytes> {
        Ok(data)
    }

    fn counter(&self) -> &Attribute<i64> {
        &self.counter
    }
}

/// The server process: the floor, raw tonic and the HERO side by side, in one process and one
/// runtime, so that the baselines and the HERO meet the same scheduler. Prints one line with
/// their addresses, then serves until its stdin closes.
pub(crate) async fn serve_all() -> anyhow::Result<()> {
    let floor = crate::floor::serve()?;
    let raw = crate::raw::serve().await?;
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).start().await?;
    let hero = server.share(heros::Hero::new("bench").interface(BenchHero::server())).await?;
    println!("READY floor={floor} tonic={raw} hero={}", hero.url());
    crate::roles::wait_for_stdin_to_close().await;
    hero.shutdown().await;
    Ok(())
}
