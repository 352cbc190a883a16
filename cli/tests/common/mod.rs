//! What the CLI's end-to-end tests share: HEROs to run the tool against (`Thing`, a
//! TestObject; `Oven`, a Furnace), a loopback server hosting them (`Fixture`), and running the
//! built `heros` binary. Each test binary uses part of it.
#![allow(dead_code, unreachable_pub)]

pub mod proto {
    heros::include_proto!("examples.v1");
}

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use heros::{Attribute, Event, Hero, LocalHero, Server};
use proto::{Alarm, Furnace, FurnaceReading, FurnaceServer, TestObject, TestObjectServer};
use serde_json::Value;

pub struct Thing {
    pub testme: Attribute<i64>,
    pub firmware: Attribute<String>,
}

impl Thing {
    /// A thing with nothing set, for HEROs that only come and go.
    pub fn blank() -> Self {
        Thing { testme: Attribute::new(0), firmware: Attribute::new(String::new()) }
    }
}

/// Command-line arguments as the child process takes them.
pub fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

impl TestObject for Thing {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        if min > max {
            return Err(heros::Error::failed("BadRange", format!("min {min} is above max {max}")));
        }
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

#[derive(Default)]
pub struct Oven {
    pub overheated: Event<Alarm>,
    pub readings: Event<FurnaceReading>,
}

impl Furnace for Oven {
    async fn heat(&self, celsius: f64) -> heros::Result<()> {
        self.readings.emit(FurnaceReading { celsius, ..Default::default() }).await;
        Ok(())
    }

    async fn burst(&self, _count: u32, _payload_bytes: u32, _alarms: bool) -> heros::Result<u32> {
        Ok(0)
    }

    fn overheated(&self) -> &Event<Alarm> {
        &self.overheated
    }

    fn readings(&self) -> &Event<FurnaceReading> {
        &self.readings
    }
}

/// A loopback server without mDNS hosting `thing` (a TestObject) and `oven` (a Furnace).
pub struct Fixture {
    pub server: Server,
    pub thing: Arc<Thing>,
    pub oven: Arc<Oven>,
    pub _heros: Vec<LocalHero>,
}

impl Fixture {
    pub async fn start(mdns: bool) -> Fixture {
        let server =
            Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(mdns).start().await.expect("server starts");
        let thing = Arc::new(Thing { testme: Attribute::new(5), firmware: Attribute::new("1.0.0".to_owned()) });
        let oven = Arc::new(Oven::default());
        let heros = vec![
            server
                .share(
                    Hero::new("thing")
                        .tag("lab")
                        .metadata("room", "3.14")
                        .interface(TestObjectServer::from_arc(thing.clone())),
                )
                .await
                .unwrap(),
            server.share(Hero::new("oven").interface(FurnaceServer::from_arc(oven.clone()))).await.unwrap(),
        ];
        Fixture { server, thing, oven, _heros: heros }
    }

    pub fn peer(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// Runs the tool with `--peer` this server.
    pub async fn heros(&self, args: &[&str]) -> Run {
        let mut all = vec!["--peer".to_owned(), self.peer()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        heros(all, true).await
    }
}

/// One `thing` (testme 5, firmware 1.0.0) on a loopback server of its own, built from
/// `server` (a builder with credentials or a token, for the secured-realm tests).
pub struct LoneThing {
    pub server: Server,
    pub thing: Arc<Thing>,
    pub _hero: LocalHero,
}

impl LoneThing {
    pub async fn start(server: heros::ServerBuilder) -> LoneThing {
        let server = server.bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.expect("server starts");
        let thing = Arc::new(Thing { testme: Attribute::new(5), firmware: Attribute::new("1.0.0".to_owned()) });
        let hero = server.share(Hero::new("thing").interface(TestObjectServer::from_arc(thing.clone()))).await.unwrap();
        LoneThing { server, thing, _hero: hero }
    }

    pub fn peer(&self) -> String {
        self.server.local_addr().to_string()
    }
}

/// What one run of the tool printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        assert!(self.ok, "the tool failed: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
    }

    /// Asserts that the run failed, and that stderr has each of `parts`.
    pub fn fails_with(&self, parts: &[&str]) {
        assert!(!self.ok, "expected a failure: {self:?}");
        for part in parts {
            assert!(self.stderr.contains(part), "stderr lacks {part:?}: {}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// Runs the built binary; `no_mdns` keeps it off multicast entirely (HEROS_DISCOVERY=off).
pub async fn heros(args: Vec<String>, no_mdns: bool) -> Run {
    let child = spawn(&args, no_mdns);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    finished(output)
}

pub fn spawn(args: &[String], no_mdns: bool) -> std::process::Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heros"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HEROS_PEERS")
        .env_remove("HEROS_REALM")
        .env_remove("HEROS_CREDENTIALS")
        .env_remove("HEROS_TOKEN");
    if no_mdns {
        command.env("HEROS_DISCOVERY", "off");
    } else {
        command.env_remove("HEROS_DISCOVERY");
    }
    command.spawn().expect("the heros binary runs")
}

pub fn finished(output: Output) -> Run {
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// Runs `test` in a private network namespace, or says why not (not root).
pub fn in_private_network<F: std::future::Future<Output = ()>>(test: impl FnOnce() -> F) {
    if let Err(error) = heros_testing::netns::enter_private_network() {
        println!("skipping: cannot enter a private network namespace: {error}");
        return;
    }
    runtime().block_on(test());
}

/// The lines `output` brings, as they come.
pub fn lines_of(output: std::process::ChildStdout) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (lines, received) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(output)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

pub async fn within<T>(seconds: u64, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future).await.expect("in time")
}

pub mod monitor;
