//! Shared by the integration tests: the test interfaces' implementations, servers on port 0,
//! raw gRPC calls (to send what a typed stub never would), and child processes for tests that
//! need a second process or host.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::sync::Arc;
use std::time::Duration;

use heros::{Attribute, Hero, LocalHero, Server};
use tokio::sync::Notify;

pub mod interop;
pub mod lab;
pub mod process;
pub mod raw_h2;

pub mod proto {
    heros::include_proto!("examples.v1");
}

pub mod climate {
    heros::include_proto!("lab.climate.v1");
}

/// Handles and references in streamed messages (tests/streaming.rs).
pub mod stock {
    heros::include_proto!("lab.stock.v1");
}

/// The usage guide's TestObject, plus a way to hold a call in flight.
pub struct TestHero {
    pub testme: Attribute<i64>,
    pub firmware: Attribute<String>,
    /// `read_temp(-1, -1)` waits on this, so a test can keep a call in flight.
    pub gate: Arc<Notify>,
    pub entered: Arc<Notify>,
}

impl TestHero {
    pub fn new(start: i64) -> Self {
        TestHero {
            testme: Attribute::new(start),
            firmware: Attribute::new("1.0.0".into()),
            gate: Arc::new(Notify::new()),
            entered: Arc::new(Notify::new()),
        }
    }
}

impl proto::TestObject for TestHero {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        if (min, max) == (-1, -1) {
            self.entered.notify_one();
            self.gate.notified().await;
        }
        if min > max {
            return Err(heros::Error::invalid_argument(format!("min {min} is above max {max}")));
        }
        Ok((f64::from(max) + f64::from(min)) / 2.0)
    }

    async fn hello(&self) -> heros::Result<String> {
        self.testme.update(|n| *n += 1);
        Ok("world".into())
    }

    fn testme(&self) -> &Attribute<i64> {
        &self.testme
    }

    fn firmware(&self) -> &Attribute<String> {
        &self.firmware
    }
}

/// The test-only thermostat. `check` panics below absolute zero, so that tests see a HERO method
/// panic.
pub struct TestThermostat {
    pub mode: std::sync::Mutex<i32>,
    pub setpoint: Attribute<climate::Temperature>,
    pub serial: Attribute<String>,
}

impl Default for TestThermostat {
    fn default() -> Self {
        TestThermostat {
            mode: std::sync::Mutex::new(climate::Mode::Heat as i32),
            setpoint: Attribute::new(climate::Temperature { celsius: 21.0, tolerance: 0.5 }),
            serial: Attribute::new("TH-0001".into()),
        }
    }
}

impl climate::Thermostat for TestThermostat {
    async fn read(&self) -> heros::Result<climate::Reading> {
        Ok(climate::Reading {
            celsius: 20.5,
            at: Some(heros::codegen::prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            mode: *self.mode.lock().unwrap(),
            history: vec![19.0, 20.0, 20.5],
        })
    }

    async fn set_mode(&self, mode: i32) -> heros::Result<i32> {
        climate::Mode::try_from(mode).map_err(|_| heros::Error::invalid_argument(format!("no mode {mode}")))?;
        Ok(std::mem::replace(&mut *self.mode.lock().unwrap(), mode))
    }

    async fn calibrate(
        &self,
        blob: bytes::Bytes,
        offsets: std::collections::HashMap<String, f64>,
        reference: Option<climate::calibrate_request::Reference>,
    ) -> heros::Result<climate::CalibrateReply> {
        if reference.is_none() {
            return Err(heros::Error::invalid_argument("a calibration needs a reference"));
        }
        // A slow calibration, to run into the method's `timeout_ms` (2 s).
        if let Some(sleep_ms) = offsets.get("sleep_ms") {
            tokio::time::sleep(Duration::from_millis(*sleep_ms as u64)).await;
        }
        Ok(climate::CalibrateReply { kept: blob.len() as u64, offsets: offsets.len() as u32 })
    }

    async fn check(&self, celsius: f64) -> heros::Result<()> {
        if celsius < ABSOLUTE_ZERO {
            panic!("{celsius} C is below absolute zero");
        }
        if celsius > 80.0 {
            return Err(heros::Error::failed("Overheated", format!("{celsius} C is above 80 C")));
        }
        Ok(())
    }

    fn setpoint(&self) -> &Attribute<climate::Temperature> {
        &self.setpoint
    }

    fn serial(&self) -> &Attribute<String> {
        &self.serial
    }
}

/// Below this, `TestThermostat::check` panics.
pub const ABSOLUTE_ZERO: f64 = -273.15;

/// A server on loopback without mDNS. Its HEROs are called over gRPC even from this process
/// (`in_process(false)`): these tests are about what travels on the wire.
pub async fn local_server() -> Server {
    loopback_server(false).await
}

/// A server on loopback without mDNS; `in_process` says whether stubs of this process may skip
/// the socket.
pub async fn loopback_server(in_process: bool) -> Server {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(in_process)
        .start()
        .await
        .expect("server starts")
}

/// A server on loopback without mDNS, called over gRPC even from this process, with `limits`.
pub async fn limited_server(limits: heros::Limits) -> Server {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(false)
        .limits(limits)
        .start()
        .await
        .expect("server starts")
}

/// Shares a TestHero called `name` on `server`.
pub async fn share_test_hero(server: &Server, name: &str, start: i64) -> LocalHero {
    server.share(Hero::new(name).interface(proto::TestObjectServer::new(TestHero::new(start)))).await.expect("shared")
}

/// Sends `body` (already protobuf-encoded, or garbage) to `path` with the given headers, the way
/// any gRPC client could, and returns the reply bytes or the status.
pub async fn raw_call(
    server: &Server,
    path: &'static str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Result<bytes::Bytes, tonic::Status> {
    raw_call_on(raw_channel(server).await, path, headers, body).await
}

/// A connection to `server` for [`raw_call_on`].
pub async fn raw_channel(server: &Server) -> tonic::transport::Channel {
    let endpoint = format!("http://{}", server.local_addr());
    tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.expect("connects")
}

/// [`raw_call`] on a given connection (a clone shares it), for tests of what a connection
/// survives.
pub async fn raw_call_on(
    channel: tonic::transport::Channel,
    path: &'static str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Result<bytes::Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(usize::MAX);
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(bytes::Bytes::from(body));
    for (key, value) in headers {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    grpc.unary(request, http::uri::PathAndQuery::from_static(path), RawCodec).await.map(|r| r.into_inner())
}

/// Sends and receives message bodies as they are.
#[derive(Clone, Copy)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: bytes::Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, tonic::Status> {
        let len = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, len)))
    }
}

/// Encodes a message for [`raw_call`].
pub fn encode(message: &impl prost::Message) -> Vec<u8> {
    message.encode_to_vec()
}

/// Runs `future` with a deadline, so that a hang fails the test instead of stalling the run.
pub async fn within<T>(seconds: u64, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future).await.expect("finished in time")
}

/// A HERO shut down while a call is in flight: new calls are refused at once (NOT_FOUND), the
/// call in flight finishes, and only then does `shutdown` return. Over the network or in-process.
pub async fn a_leaving_hero_finishes_calls_in_flight(server: &Server, in_process: bool) {
    let object = TestHero::new(0);
    let (gate, entered) = (object.gate.clone(), object.entered.clone());
    let hero = server.share(Hero::new("slow").interface(proto::TestObjectServer::new(object))).await.unwrap();
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.target().is_in_process(), in_process);
    let in_flight = tokio::spawn({
        let stub = stub.clone();
        async move { stub.read_temp(-1, -1).await }
    });
    within(5, entered.notified()).await;
    let leaving = tokio::spawn(hero.shutdown());
    // The HERO is off the table at once, while the call in flight goes on.
    let refused = within(5, async {
        loop {
            match stub.hello().await {
                Err(error) => break error,
                Ok(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    assert!(matches!(refused, heros::Error::HeroNotFound { ref name, .. } if name == "slow"), "{refused:?}");
    assert!(!leaving.is_finished(), "shutdown waits for the call in flight");
    gate.notify_one();
    assert_eq!(within(5, in_flight).await.unwrap().unwrap(), -1.0);
    within(5, leaving).await.unwrap();
}
