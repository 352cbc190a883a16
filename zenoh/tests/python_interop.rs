//! Native interop with Python HEROS over zenoh, against the real PyPI `heros` package in a venv
//! that `tests/python/setup.sh` makes under `target/` (the first run installs from PyPI).
//!
//! Each test runs in a private network namespace of its own, with a veth pair whose two ends
//! both stay inside it (`heros_testing::python_heros`): zenoh's multicast scouting needs an
//! interface other than `lo`, and nothing sent there can leave the namespace. Without the right
//! to make one (not root) a test skips, saying so.
//!
//! From Python (`tests/python/zenoh_interop.py`): `RemoteHERO` calls a Rust HERO's methods,
//! reads and sets its attributes (a read-only one refuses), gets its application error as
//! Python HEROS's remote exception, its event in a callback, and `HEROObserver` sees it come and
//! go. From Rust: [`RemoteHero`] finds, calls, sets and subscribes to a Python `LocalHERO`, and
//! the typed stub generated from a `.proto` written to match it (tests/proto/pyobject.proto) does
//! the same through [`RemoteHero::typed`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use heros::{Attribute, Event, Hero, LocalHero, Server};
use heros_testing::python_heros::{self, PythonScript};
use heros_zenoh::{Error, HeroObserver, Presence, RemoteHero, ZenohFace, ZenohHero};
use serde_json::json;

mod zlab {
    heros::include_proto!("zlab.v1");
}

/// tests/proto/pyobject.proto: written to match the Python `TestObject`.
mod pyobject {
    heros::include_proto!("pyobject.v1");
}

const LIMIT: f64 = 80.0;

/// The Rust HERO that Python drives.
struct Oven {
    testme: Attribute<i64>,
    firmware: Attribute<String>,
    overheated: Event<zlab::Alarm>,
    name: String,
}

impl zlab::Oven for Oven {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        Ok((f64::from(min) + f64::from(max)) / 2.0)
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

    async fn heat(&self, celsius: f64, unit: String) -> heros::Result<zlab::HeatReply> {
        if celsius > LIMIT {
            self.overheated.emit(zlab::Alarm { celsius, limit: LIMIT }).await;
            return Err(heros::Error::failed("Overheated", format!("{celsius} is above the limit of {LIMIT}")));
        }
        Ok(zlab::HeatReply { reached: celsius, unit })
    }

    fn overheated(&self) -> &Event<zlab::Alarm> {
        &self.overheated
    }

    async fn myself(&self) -> heros::Result<heros::proto::HeroRef> {
        Ok(heros::proto::HeroRef { name: self.name.clone(), realm: heros::DEFAULT_REALM.into(), ..Default::default() })
    }
}

/// Runs `test` in a private network namespace with a veth pair up (see
/// `heros_testing::python_heros`), on a fresh tokio runtime; or skips it, saying why.
fn in_private_zenoh_network<F: std::future::Future<Output = ()>>(test: impl FnOnce() -> F) {
    // PyPI is not reachable from inside the namespace: install first.
    python();
    if let Err(error) = python_heros::enter_private_zenoh_network() {
        println!("skipping: cannot enter a private network with a veth pair: {error}");
        return;
    }
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("HEROS_LOG").unwrap_or_default()).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(test());
}

/// A server (loopback, no mDNS) with an [`Oven`] named `name`, shared on zenoh.
async fn oven_on_zenoh(name: &str) -> (Server, LocalHero, ZenohFace, ZenohHero) {
    let server =
        Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.expect("server starts");
    let oven = Oven {
        testme: Attribute::new(5),
        firmware: Attribute::new("1.2.3".into()),
        overheated: Event::new(),
        name: name.into(),
    };
    let hero = server.share(Hero::new(name).interface(zlab::OvenServer::new(oven))).await.expect("shared on gRPC");
    let face = ZenohFace::open().await.expect("zenoh session");
    let on_zenoh = face.share(&server, name, &[&zlab::OVEN_INTERFACE]).await.expect("shared on zenoh");
    (server, hero, face, on_zenoh)
}

/// The venv's interpreter (made once per test process by setup.sh; the CLI's tests share it).
fn python() -> PathBuf {
    python_heros::python(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("zenoh-python"))
}

/// Runs one scenario of zenoh_interop.py against an Oven named `name` on zenoh.
fn python_scenario(scenario: &'static str, name: &'static str) {
    in_private_zenoh_network(|| async move {
        let (server, _hero, _face, on_zenoh) = oven_on_zenoh(name).await;
        let output = tokio::task::spawn_blocking(move || {
            PythonScript::start(&python(), &[scenario, name]).finish(Duration::from_secs(90))
        })
        .await
        .unwrap();
        assert!(output.contains(&format!("{scenario} ok")), "{output}");
        on_zenoh.leave().await;
        server.shutdown().await;
    });
}

#[test]
fn python_calls_methods_of_a_rust_hero_and_follows_its_reference() {
    python_scenario("calls", "zoven-calls");
}

#[test]
fn python_reads_and_sets_attributes_and_a_read_only_one_refuses() {
    python_scenario("attributes", "zoven-attributes");
}

#[test]
fn python_gets_application_and_argument_errors_as_its_remote_exceptions() {
    python_scenario("errors", "zoven-errors");
}

#[test]
fn python_receives_an_event_of_a_rust_hero_in_its_callback() {
    python_scenario("events", "zoven-events");
}

#[test]
fn python_observer_sees_a_rust_hero_come_and_go() {
    in_private_zenoh_network(|| async {
        let name = "zoven-observed";
        let server = Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.unwrap();
        let mut python = tokio::task::spawn_blocking(move || {
            let mut python = PythonScript::start(&python(), &["observe", name]);
            python.expect_line("READY", Duration::from_secs(60));
            python
        })
        .await
        .unwrap();
        let oven = Oven {
            testme: Attribute::new(0),
            firmware: Attribute::new("1".into()),
            overheated: Event::new(),
            name: name.into(),
        };
        let _hero = server.share(Hero::new(name).interface(zlab::OvenServer::new(oven))).await.unwrap();
        let face = ZenohFace::open().await.unwrap();
        let on_zenoh = face.share(&server, name, &[&zlab::OVEN_INTERFACE]).await.unwrap();
        python = tokio::task::spawn_blocking(move || {
            python.expect_line("JOINED", Duration::from_secs(30));
            python
        })
        .await
        .unwrap();
        on_zenoh.leave().await;
        tokio::task::spawn_blocking(move || {
            python.expect_line("LEFT", Duration::from_secs(30));
            python.finish(Duration::from_secs(10));
        })
        .await
        .unwrap();
        server.shutdown().await;
    });
}

#[test]
fn rust_finds_calls_sets_and_subscribes_to_a_python_hero() {
    in_private_zenoh_network(|| async {
        let name = "py-test-object";
        let face = ZenohFace::open().await.unwrap();
        let python = tokio::task::spawn_blocking(move || {
            let mut python = PythonScript::start(&python(), &["serve", name]);
            python.expect_line("READY", Duration::from_secs(60));
            python
        })
        .await
        .unwrap();
        let hero = RemoteHero::connect(face.session(), "heros", name, Duration::from_secs(30)).await.unwrap();
        let heros = heros_zenoh::discover(face.session(), "heros", Duration::from_secs(2)).await.unwrap();
        let found = heros.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("{name} discovered: {heros:?}"));
        assert_eq!(found.class, "TestObject");

        let flavor = |member: &str| hero.capabilities().iter().find(|c| c.name == member).map(|c| c.flavor.clone());
        assert_eq!(flavor("read_temp").as_deref(), Some("method"));
        assert_eq!(flavor("testme").as_deref(), Some("attribute"));
        assert_eq!(flavor("new_data").as_deref(), Some("event"));
        let read_temp = hero.capabilities().iter().find(|c| c.name == "read_temp").unwrap();
        assert_eq!(read_temp.parameters, ["min", "max"]);

        assert_eq!(hero.call("read_temp", vec![json!(0), json!(10)], Default::default()).await.unwrap(), json!(5.0));
        let kwargs = json!({"min": 2, "max": 4}).as_object().unwrap().clone();
        assert_eq!(hero.call("read_temp", vec![], kwargs).await.unwrap(), json!(3.0));
        assert_eq!(hero.get("testme").await.unwrap(), json!(5));
        assert_eq!(hero.call("hello", vec![], Default::default()).await.unwrap(), json!("world"));
        assert_eq!(hero.get("testme").await.unwrap(), json!(6));
        hero.set("testme", &json!(10)).await.unwrap();
        assert_eq!(hero.get("testme").await.unwrap(), json!(10));

        match hero.call("fail", vec![json!("no luck")], Default::default()).await {
            Err(Error::Remote { remote_type, message, .. }) => {
                assert_eq!((remote_type.as_str(), message.as_str()), ("ValueError", "no luck"));
            }
            other => panic!("fail() raises ValueError: {other:?}"),
        }
        match hero.call("no_such_method", vec![], Default::default()).await {
            Err(error @ Error::NoSuchMember { .. }) => assert!(error.to_string().contains("read_temp"), "{error}"),
            other => panic!("an unknown method is refused before sending: {other:?}"),
        }

        let events = hero.subscribe("new_data").await.unwrap();
        // zenoh carries the new subscriber to Python's session on its own time: emit again until
        // a value arrives.
        let mut event = None;
        for _ in 0..20 {
            assert_eq!(hero.call("emit", vec![json!(21)], Default::default()).await.unwrap(), json!(true));
            if let Ok(value) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
                event = value;
                break;
            }
        }
        assert_eq!(event, Some(json!({"value": 21, "doubled": 42})));

        // The observer starts once the two sessions are connected (the calls above went through):
        // the HERO there already comes first, from the tokens' history.
        let observer = HeroObserver::new(face.session(), "heros").await.unwrap();
        let joined = tokio::time::timeout(Duration::from_secs(20), observer.next()).await.expect("a HERO is there");
        assert_eq!(joined, Some(Presence::Joined(name.into())));
        tokio::task::spawn_blocking(move || python.finish(Duration::from_secs(30))).await.unwrap();
        let left = tokio::time::timeout(Duration::from_secs(20), observer.next()).await.expect("the HERO leaves");
        assert_eq!(left, Some(Presence::Left(name.into())));
    });
}

#[test]
fn a_typed_stub_of_a_matching_proto_calls_gets_sets_and_subscribes_to_a_python_hero() {
    in_private_zenoh_network(|| async {
        let name = "py-typed";
        let face = ZenohFace::open().await.unwrap();
        let python = tokio::task::spawn_blocking(move || {
            let mut python = PythonScript::start(&python(), &["serve", name]);
            python.expect_line("READY", Duration::from_secs(60));
            python
        })
        .await
        .unwrap();
        let hero = RemoteHero::connect(face.session(), "heros", name, Duration::from_secs(30)).await.unwrap();
        let stub: pyobject::TestObjectRemote = hero.typed(&pyobject::TEST_OBJECT_INTERFACE).unwrap();
        assert_eq!(stub.target().endpoint(), format!("zenoh:@object/heros/{name}"));

        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        assert_eq!(stub.read_temp(-4, 1).await.unwrap(), -1.5);
        assert_eq!(stub.testme().await.unwrap(), 5);
        assert_eq!(stub.hello().await.unwrap(), "world");
        assert_eq!(stub.testme().await.unwrap(), 6);
        stub.set_testme(10).await.unwrap();
        assert_eq!(stub.testme().await.unwrap(), 10);
        match stub.fail("no luck".into()).await {
            Err(heros::Error::Failed { kind, message, .. }) => {
                assert_eq!((kind.as_str(), message.as_str()), ("ValueError", "no luck"))
            }
            other => panic!("fail() raises ValueError, a Failed error: {other:?}"),
        }

        let mut events = stub.subscribe_new_data().await.unwrap();
        // zenoh carries the new subscriber to Python's session on its own time: emit again until
        // an event arrives.
        let mut event = None;
        for value in 1..=20 {
            assert!(stub.emit(value).await.unwrap());
            if let Ok(received) = tokio::time::timeout(Duration::from_millis(500), events.next()).await {
                event = received;
                break;
            }
        }
        let event = event.expect("an event within 10 s").unwrap().event().expect("an event, not a gap");
        assert!((1..=20).contains(&event.value) && event.doubled == 2 * event.value, "{event:?}");

        // What Python HEROS has no counterpart for: a clear error, no panic.
        let refused = |error: heros::Error, words: &str| match error {
            heros::Error::Rpc { code: tonic::Code::Unimplemented, message, .. } => {
                assert!(message.contains(words), "{message}")
            }
            other => panic!("Unimplemented saying {words:?}: {other:?}"),
        };
        refused(stub.samples().await.err().expect("a stream is refused"), "streaming method");
        refused(stub.watch_testme().await.err().expect("a watch is refused"), "watching the attribute");

        tokio::task::spawn_blocking(move || python.finish(Duration::from_secs(30))).await.unwrap();
    });
}

/// The figure of BENCHMARKS.md: p50 of a Python `read_temp` call to a Rust HERO over zenoh and
/// to a Python HERO, same run, same machine. Run it with
/// `cargo nextest run -p heros-zenoh --run-ignored only --no-capture`.
#[test]
#[ignore = "a measurement, not a check: run it by hand for BENCHMARKS.md"]
fn python_call_latency_to_a_rust_and_a_python_hero() {
    in_private_zenoh_network(|| async {
        let (server, _hero, _face, on_zenoh) = oven_on_zenoh("zoven-bench").await;
        let output = tokio::task::spawn_blocking(|| {
            let mut serving = PythonScript::start(&python(), &["serve", "py-bench"]);
            serving.expect_line("READY", Duration::from_secs(60));
            let output = PythonScript::start(&python(), &["bench", "zoven-bench", "py-bench", "2000"])
                .finish(Duration::from_secs(120));
            if let Some(stdin) = serving.stdin.as_mut() {
                let _ = stdin.flush();
            }
            serving.finish(Duration::from_secs(30));
            output
        })
        .await
        .unwrap();
        let line = output.lines().find(|l| l.starts_with('{')).expect("the bench prints JSON");
        let figures: serde_json::Value = serde_json::from_str(line).unwrap();
        let p50 = |k: &str| figures[k]["p50_us"].as_f64().unwrap();
        println!(
            "read_temp p50: Python -> Rust HERO {:.0} us, Python -> Python HERO {:.0} us, ratio {:.2}",
            p50("python_to_rust"),
            p50("python_to_python"),
            p50("python_to_rust") / p50("python_to_python")
        );
        on_zenoh.leave().await;
        server.shutdown().await;
    });
}

/// Runs the `heros-zenoh` tool (blocking) and returns its standard output; fails the test unless
/// it exits 0.
fn tool(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_heros-zenoh")).args(args).output().expect("heros-zenoh runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "heros-zenoh {} failed: {stdout}{stderr}", args.join(" "));
    stdout.into_owned()
}

#[test]
fn the_tool_lists_python_and_rust_heros_on_zenoh_and_calls_them() {
    in_private_zenoh_network(|| async {
        let (server, _hero, _face, on_zenoh) = oven_on_zenoh("zoven-listed").await;
        tokio::task::spawn_blocking(|| {
            let mut python = PythonScript::start(&python(), &["serve", "py-listed"]);
            python.expect_line("READY", Duration::from_secs(60));
            let listed: serde_json::Value = serde_json::from_str(&tool(&["list", "--json"])).expect("a JSON list");
            let class =
                |name: &str| listed.as_array().unwrap().iter().find(|h| h["name"] == name).map(|h| h["class"].clone());
            assert_eq!(class("py-listed"), Some(json!("TestObject")), "{listed}");
            assert_eq!(class("zoven-listed"), Some(json!("Oven")), "{listed}");
            let table = tool(&["list"]);
            assert!(table.contains("py-listed") && table.contains("zlab.v1.Oven"), "{table}");
            assert_eq!(tool(&["call", "py-listed", "read_temp", "0", "max=10"]).trim(), "5.0");
            assert_eq!(tool(&["call", "zoven-listed", "read_temp", "2", "4"]).trim(), "3.0");
            tool(&["set", "zoven-listed", "testme", "17"]);
            assert_eq!(tool(&["get", "zoven-listed", "testme"]).trim(), "17");
            let refused = Command::new(env!("CARGO_BIN_EXE_heros-zenoh"))
                .args(["set", "zoven-listed", "firmware", "\"9\""])
                .output()
                .unwrap();
            assert!(!refused.status.success());
            let message = String::from_utf8_lossy(&refused.stderr);
            assert!(message.contains("AttributeError") && message.contains("firmware"), "{message}");
            python.finish(Duration::from_secs(30));
        })
        .await
        .unwrap();
        on_zenoh.leave().await;
        server.shutdown().await;
    });
}
