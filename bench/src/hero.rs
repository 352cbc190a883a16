//! The benchmark HERO and the server process that hosts it next to the baselines.

use std::sync::Arc;

use bytes::Bytes;
use heros::{AsHeroRef, Attribute};

use crate::proto::{Bench, BenchServer, Ping, Place, Tick, UploadReply};

/// Implements `bench.v1.Bench` with no work beyond what each method says.
pub(crate) struct BenchHero {
    counter: Attribute<i64>,
    /// What `Child` returns: the second HERO of the server process, if there is one.
    child: Option<heros::proto::HeroRef>,
    ticks: heros::Event<Tick>,
    /// When the last `Hold` was dropped before its end.
    dropped: crate::cancel::DropNote,
}

impl BenchHero {
    fn new(child: Option<heros::proto::HeroRef>) -> BenchHero {
        BenchHero { counter: Attribute::new(0), child, ticks: heros::Event::new(), dropped: Default::default() }
    }

    pub(crate) fn server() -> BenchServer<BenchHero> {
        BenchServer::new(BenchHero::new(None))
    }

    /// A benchmark HERO whose `Child` returns a reference to `child`.
    fn with_child(child: &impl AsHeroRef) -> BenchServer<BenchHero> {
        BenchServer::new(BenchHero::new(Some(child.hero_ref())))
    }
}

/// Now on the wall clock, in nanoseconds since the Unix epoch (what `Tick.emitted_unix_ns` holds).
pub(crate) fn unix_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Bench for BenchHero {
    /// The smallest value a handle can keep.
    type Thing = u64;

    async fn add(&self, a: f64, b: f64) -> heros::Result<f64> {
        Ok(a + b)
    }

    async fn echo(&self, data: Bytes) -> heros::Result<Bytes> {
        Ok(data)
    }

    fn counter(&self) -> &Attribute<i64> {
        &self.counter
    }

    async fn open(&self, value: u64) -> heros::Result<Arc<u64>> {
        Ok(Arc::new(value))
    }

    async fn read(&self, thing: Arc<u64>) -> heros::Result<u64> {
        Ok(*thing)
    }

    async fn child(&self) -> heros::Result<heros::proto::HeroRef> {
        self.child.clone().ok_or_else(|| heros::Error::invalid_argument("this benchmark HERO has no child"))
    }

    async fn footprint(&self) -> heros::Result<u64> {
        trim_heap();
        resident_bytes().map_err(|error| heros::Error::failed("RSS", format!("reading /proc/self/status: {error}")))
    }

    async fn emit_burst(&self, count: u32, payload_bytes: u32) -> heros::Result<u32> {
        let payload = Bytes::from(vec![7u8; payload_bytes as usize]);
        let mut reached = 0;
        for sequence in 0..u64::from(count) {
            let tick = Tick { sequence, emitted_unix_ns: unix_nanos(), payload: payload.clone() };
            reached = self.ticks.emit(tick).await;
        }
        Ok(reached as u32)
    }

    async fn tick_subscribers(&self) -> heros::Result<u32> {
        Ok(self.ticks.subscriber_count() as u32)
    }

    fn ticks(&self) -> &heros::Event<Tick> {
        &self.ticks
    }

    async fn places(&self, count: u32) -> heros::Result<heros::Streaming<Place>> {
        Ok(Box::pin(tokio_stream::iter((0..u64::from(count)).map(|sequence| Ok(place(sequence))))))
    }

    async fn upload(&self, mut chunks: heros::Streaming<Bytes>) -> heros::Result<UploadReply> {
        let mut reply = UploadReply::default();
        while let Some(chunk) = tokio_stream::StreamExt::next(&mut chunks).await {
            reply.chunks += 1;
            reply.bytes += chunk?.len() as u64;
        }
        Ok(reply)
    }

    async fn ping_pong(&self, pings: heros::Streaming<Ping>) -> heros::Result<heros::Streaming<Ping>> {
        Ok(Box::pin(pings))
    }

    async fn hold(&self, milliseconds: u32) -> heros::Result<()> {
        self.dropped.hold(milliseconds).await;
        Ok(())
    }

    async fn last_drop(&self) -> heros::Result<u64> {
        Ok(self.dropped.last())
    }
}

/// The `sequence`th message of `Places`: a point on a line, as the route guide's features.
pub(crate) fn place(sequence: u64) -> Place {
    Place { sequence, latitude: 400_000_000, longitude: -740_000_000 + (sequence % 100_000) as i32 * 10 }
}

/// Gives freed heap pages back to the kernel, so that RSS shows what is really in use.
#[allow(unsafe_code)] // one libc call without preconditions
fn trim_heap() {
    // SAFETY: malloc_trim takes no pointers; it only walks the allocator's own free lists (under
    // the allocator's locks), which is sound at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident memory (VmRSS), in bytes.
fn resident_bytes() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| std::io::Error::other("no VmRSS line in kB"))
}

/// The server process: the floor, raw tonic and the HERO side by side, in one process and one
/// runtime, so that the baselines and the HERO meet the same scheduler. A second benchmark HERO,
/// `bench-child`, is what the first one's `Child` refers to. Prints one line with their
/// addresses, then serves until its stdin closes.
pub(crate) async fn serve_all() -> anyhow::Result<()> {
    let floor = crate::floor::serve()?;
    let raw = crate::raw::serve().await?;
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).start().await?;
    let child = server.share(heros::Hero::new("bench-child").interface(BenchHero::server())).await?;
    let hero = server.share(heros::Hero::new("bench").interface(BenchHero::with_child(&child))).await?;
    println!("READY floor={floor} tonic={raw} hero={}", hero.url());
    crate::roles::wait_for_stdin_to_close().await;
    hero.shutdown().await;
    child.shutdown().await;
    Ok(())
}

/// A server process with one benchmark HERO and nothing else, for the handle table's memory:
/// no payloads have passed through it, so its RSS grows with what the table holds.
pub(crate) async fn serve_table() -> anyhow::Result<()> {
    // The measuring client holds up to 100,000 handles in its one session.
    let mut limits = heros::Config::from_env()?.limits;
    limits.max_handles_per_session = limits.max_handles_per_session.max(1_000_000);
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).limits(limits).start().await?;
    let hero = server.share(heros::Hero::new("bench-table").interface(BenchHero::server())).await?;
    println!("READY hero={}", hero.url());
    crate::roles::wait_for_stdin_to_close().await;
    hero.shutdown().await;
    Ok(())
}
