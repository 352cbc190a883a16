//! Sequential call latency of a HERO method through the generated stub, against raw tonic on the
//! same messages, in the same run (both over TCP loopback, one process, no mDNS):
//!
//! ```sh
//! cargo run --release --example call_latency -- [calls]
//! ```
//!
//! The raw baseline is a plain tonic service (routed by tonic's own router, nodelay on) answering
//! `examples.v1.TestObject/ReadTemp`; the HERO side adds routing by `heros-name`, the realm check
//! and the skeleton call. Client and server share one process here (and the server is built
//! with `in_process(false)`, so the stub still goes over loopback); the full benchmark suite,
//! with two processes, the TCP floor and Python HEROS, is `cargo run --release -p heros-bench`
//! (BENCHMARKS.md).

mod proto {
    heros::include_proto!("examples.v1");
}

use std::time::{Duration, Instant};

use heros::Attribute;
use proto::{ReadTempReply, ReadTempRequest, TestObject, TestObjectRemote, TestObjectServer};

struct Object {
    testme: Attribute<i64>,
    firmware: Attribute<String>,
}

impl TestObject for Object {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        Ok((f64::from(max) + f64::from(min)) / 2.0)
    }
    async fn hello(&self) -> heros::Result<String> {
        Ok("world".into())
    }
    fn testme(&self) -> &Attribute<i64> {
        &self.testme
    }
    fn firmware(&self) -> &Attribute<String> {
        &self.firmware
    }
}

/// The raw tonic service: decode, compute, encode — nothing else.
#[derive(Clone)]
struct RawReadTemp;

impl tonic::server::NamedService for RawReadTemp {
    const NAME: &'static str = "examples.v1.TestObject";
}

impl tonic::server::UnaryService<ReadTempRequest> for RawReadTemp {
    type Response = ReadTempReply;
    type Future = std::future::Ready<Result<tonic::Response<ReadTempReply>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<ReadTempRequest>) -> Self::Future {
        let ReadTempRequest { min, max } = request.into_inner();
        std::future::ready(Ok(tonic::Response::new(ReadTempReply { value: (f64::from(max) + f64::from(min)) / 2.0 })))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for RawReadTemp {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(tonic_prost::ProstCodec::<ReadTempReply, ReadTempRequest>::default());
            Ok(grpc.unary(RawReadTemp, request).await)
        })
    }
}

async fn raw_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(tonic::transport::Server::builder().add_service(RawReadTemp).serve_with_incoming(incoming));
    addr
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(5000);
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).in_process(false).start().await?;
    let hero = server
        .share(heros::Hero::new("bench").interface(TestObjectServer::new(Object {
            testme: Attribute::new(0),
            firmware: Attribute::new(String::new()),
        })))
        .await?;
    let stub = TestObjectRemote::connect(&hero.url()).await?;

    let raw_addr = raw_server().await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{raw_addr}"))?.tcp_nodelay(true).connect().await?;
    let raw = tonic::client::Grpc::new(channel);
    let raw_call = |min: i32, max: i32| {
        let mut raw = raw.clone();
        async move {
            raw.ready().await.unwrap();
            let path = http::uri::PathAndQuery::from_static("/examples.v1.TestObject/ReadTemp");
            let codec = tonic_prost::ProstCodec::<ReadTempRequest, ReadTempReply>::default();
            raw.unary(tonic::Request::new(ReadTempRequest { min, max }), path, codec).await.unwrap().into_inner().value
        }
    };

    // Interleaved blocks, so that drift of a noisy VM hits both sides alike.
    let (mut hero_times, mut raw_times) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..500 {
        stub.read_temp(0, 10).await?;
        raw_call(0, 10).await;
    }
    let block = 250;
    for _ in 0..calls.div_ceil(block) {
        for _ in 0..block {
            let t = Instant::now();
            assert_eq!(stub.read_temp(0, 10).await?, 5.0);
            hero_times.push(t.elapsed());
        }
        for _ in 0..block {
            let t = Instant::now();
            assert_eq!(raw_call(0, 10).await, 5.0);
            raw_times.push(t.elapsed());
        }
    }
    hero_times.sort();
    raw_times.sort();
    let (hero_p50, raw_p50) = (percentile(&hero_times, 0.5), percentile(&raw_times, 0.5));
    println!("{:<28} {:>10} {:>10}", "sequential read_temp", "p50 us", "p99 us");
    println!("{:<28} {:>10.1} {:>10.1}", "HERO stub", hero_p50, percentile(&hero_times, 0.99));
    println!("{:<28} {:>10.1} {:>10.1}", "raw tonic, same messages", raw_p50, percentile(&raw_times, 0.99));
    println!("HERO / raw tonic p50 = {:.2}x over {} calls each", hero_p50 / raw_p50, hero_times.len());
    hero.shutdown().await;
    Ok(())
}
