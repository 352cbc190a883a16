//! End to end: the built `heros` binary against real HEROs served by this test process. Most
//! tests give the server's address with `--peer` (no mDNS at all); the discovery tests move the
//! test process into a private network namespace first (only `lo`, so no multicast leaves the
//! machine), which the tool's process inherits. Every test runs in a process of its own under
//! cargo-nextest.
mod common;

#[path = "../../examples/support/route_guide_hero.rs"]
mod route_guide_hero;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::proto::Furnace;
use common::proto::{Alarm, TestObjectServer};
use common::*;
use heros::{Hero, LocalHero, Server};
use serde_json::{json, Value};

#[test]
fn a_realm_made_with_the_tool_is_called_only_with_its_credentials_and_roles() {
    runtime().block_on(async {
        let realm = std::env::temp_dir().join(format!("heros-cli-realm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&realm);
        let dir = realm.to_str().unwrap();
        let init = heros(owned(&["realm", "init", dir]), true).await;
        assert!(init.ok && init.stdout.contains("ca.pem"), "{init:?}");
        assert!(!heros(owned(&["realm", "init", dir]), true).await.ok, "a second init would replace the CA");
        for (name, role) in [("oven", "operate"), ("ada", "observe")] {
            let issue = heros(owned(&["--json", "realm", "issue", dir, name, "--role", role]), true).await;
            assert_eq!(issue.json()["role"], role);
        }
        heros(owned(&["realm", "issue", dir, "bad", "--role", "admin"]), true).await.fails_with(&["admin"]);

        let lone = LoneThing::start(Server::builder().credentials(realm.join("oven"))).await;
        let (thing, peer) = (lone.thing.clone(), lone.peer());
        let run = |args: &[&str]| heros(owned(&[&["--peer", peer.as_str()], args].concat()), true);

        run(&["get", "thing", "testme"]).await.fails_with(&["HEROS_CREDENTIALS"]);
        let ada = realm.join("ada");
        let ada = ada.to_str().unwrap();
        let get = run(&["--credentials", ada, "get", "thing", "testme"]).await;
        assert_eq!((get.ok, get.stdout.trim()), (true, "5"), "{get:?}");
        run(&["--credentials", ada, "set", "thing", "testme", "10"])
            .await
            .fails_with(&["PERMISSION_DENIED", "operate"]);
        assert_eq!(thing.testme.get(), 5);
        let oven = realm.join("oven");
        let set = run(&["--credentials", oven.to_str().unwrap(), "set", "thing", "testme", "10"]).await;
        assert!(set.ok, "{set:?}");
        assert_eq!(thing.testme.get(), 10);
        let _ = std::fs::remove_dir_all(&realm);
    });
}

#[test]
fn a_token_realm_is_called_with_the_token_from_the_flag_or_the_environment() {
    runtime().block_on(async {
        let lone = LoneThing::start(Server::builder().token("s3cret")).await;
        let (thing, peer) = (lone.thing.clone(), lone.peer());
        let run = |args: &[&str]| heros(owned(&[&["--peer", peer.as_str()], args].concat()), true);

        run(&["get", "thing", "testme"]).await.fails_with(&["UNAUTHENTICATED"]);
        run(&["--token", "wrong", "get", "thing", "testme"]).await.fails_with(&["UNAUTHENTICATED"]);
        let get = run(&["--token", "s3cret", "get", "thing", "testme"]).await;
        assert_eq!((get.ok, get.stdout.trim()), (true, "5"), "{get:?}");

        let mut command = Command::new(env!("CARGO_BIN_EXE_heros"));
        command.args(["--peer", peer.as_str(), "set", "thing", "testme", "10"]).env("HEROS_DISCOVERY", "off");
        let set = command.env("HEROS_TOKEN", "s3cret").output().unwrap();
        assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
        assert_eq!(thing.testme.get(), 10);
    });
}

#[test]
fn list_through_a_peer_shows_a_table_and_a_json_array() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let table = fixture.heros(&["list"]).await;
        assert!(table.ok, "{table:?}");
        let lines: Vec<&str> = table.stdout.lines().collect();
        assert!(lines[0].starts_with("NAME") && lines[0].contains("INTERFACES") && lines[0].contains("ENDPOINT"));
        let oven = lines.iter().find(|line| line.starts_with("oven ")).expect("oven listed");
        assert!(oven.contains("examples.v1.Furnace") && oven.contains(&fixture.peer()), "{oven}");
        // Aligned: the realm column starts at the same place on every line.
        let column = lines[0].find("REALM").unwrap();
        assert!(lines[1..].iter().all(|line| line[column..].starts_with("heros")), "{}", table.stdout);

        let list = fixture.heros(&["--json", "list"]).await.json();
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["oven", "thing"]);
        assert_eq!(list[1]["interfaces"], json!(["examples.v1.TestObject"]));
        assert_eq!((&list[1]["tags"], &list[1]["metadata"]), (&json!(["lab"]), &json!({"room": "3.14"})));
        assert_eq!(list[1]["endpoints"][0], format!("http://{}", fixture.peer()));
    });
}

#[test]
fn describe_shows_methods_attributes_and_events() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let thing = fixture.heros(&["--json", "describe", "thing"]).await.json();
        assert_eq!(thing["name"], "thing");
        let interface = &thing["interfaces"][0];
        assert_eq!(interface["name"], "examples.v1.TestObject");
        let read_temp = &interface["methods"][0];
        assert_eq!(read_temp["name"], "ReadTemp");
        assert_eq!(read_temp["doc"], "The mean of `min` and `max`.");
        assert_eq!(
            read_temp["request"],
            json!({"type": "examples.v1.ReadTempRequest", "fields": [
                {"name": "min", "type": "int32"}, {"name": "max", "type": "int32"}]})
        );
        assert_eq!(read_temp["reply"]["fields"], json!([{"name": "value", "type": "double"}]));
        let attributes = interface["attributes"].as_array().unwrap();
        assert_eq!(attributes[0]["name"], "testme");
        assert_eq!((&attributes[0]["type"], &attributes[0]["readonly"]), (&json!("int64"), &json!(false)));
        assert_eq!((&attributes[1]["name"], &attributes[1]["readonly"]), (&json!("firmware"), &json!(true)));

        let oven = fixture.heros(&["--json", "describe", "oven"]).await.json();
        let events = oven["interfaces"][0]["events"].as_array().unwrap();
        assert_eq!((&events[0]["name"], &events[0]["delivery"]), (&json!("Overheated"), &json!("best-effort")));
        assert_eq!((&events[1]["name"], &events[1]["delivery"]), (&json!("Readings"), &json!("reliable")));
        assert_eq!(events[1]["message"]["type"], "examples.v1.FurnaceReading");

        fixture.heros(&["describe", "thing"]).await.prints(&[
            "tags: lab\nmetadata: room=3.14\n",
            "examples.v1.TestObject: A test object",
            "ReadTemp  ReadTempRequest { min: int32, max: int32 } -> ReadTempReply { value: double }",
            "firmware  string  read-only",
            "testme    int64   read-write",
        ]);
    });
}

#[test]
fn call_takes_and_gives_json() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let reply = fixture.heros(&["--json", "call", "thing", "ReadTemp", r#"{"min": 0, "max": 10}"#]).await;
        assert_eq!(reply.json(), json!({"value": 5.0}));
        assert_eq!(reply.stdout.lines().count(), 1, "one line for programs");
        // snake_case names work too, and the request defaults to {}.
        let hello = fixture.heros(&["call", "thing", "hello"]).await;
        assert_eq!(hello.json(), json!({"value": "world"}));
        assert_eq!(fixture.thing.testme.get(), 6);
        // By URL, without --peer.
        let url = format!("heros://{}/thing", fixture.peer());
        let reply =
            heros(vec!["--json".into(), "call".into(), url, "read_temp".into(), r#"{"max": 4}"#.into()], true).await;
        assert_eq!(reply.json(), json!({"value": 2.0}));
    });
}

#[test]
fn set_then_get_an_attribute() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let set = fixture.heros(&["set", "thing", "testme", "10"]).await;
        assert!(set.ok, "{set:?}");
        assert_eq!(set.stdout.trim(), "10");
        assert_eq!(fixture.thing.testme.get(), 10);
        let get = fixture.heros(&["get", "thing", "Testme"]).await;
        assert_eq!(get.stdout.trim(), "10");
        assert_eq!(fixture.heros(&["--json", "get", "thing", "firmware"]).await.json(), json!({"value": "1.0.0"}));
        // `-` reads the JSON from stdin.
        let mut child = Command::new(env!("CARGO_BIN_EXE_heros"))
            .args(["--peer", &fixture.peer(), "set", "thing", "testme", "-"])
            .env("HEROS_DISCOVERY", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"11\n").unwrap();
        let run = finished(tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap());
        assert_eq!((run.ok, run.stdout.trim()), (true, "11"), "{run:?}");
    });
}

#[test]
fn watch_prints_events_as_json_lines() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let args = owned(&["--peer", &fixture.peer(), "--json", "watch", "oven", "Readings", "--count", "3"]);
        let child = spawn(&args, true);
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        // Emit only once the tool subscribed: readiness by signal, not by sleep.
        within(10, async {
            while fixture.oven.readings.subscriber_count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        for celsius in [20.0, 21.5, 23.0] {
            fixture.oven.heat(celsius).await.unwrap();
        }
        let run = finished(within(10, waiting).await.unwrap().unwrap());
        assert!(run.ok, "{run:?}");
        let celsius: Vec<Value> = run.json_lines().iter().map(|line| line["event"]["celsius"].clone()).collect();
        assert_eq!(celsius, [json!(20.0), json!(21.5), json!(23.0)]);
    });
}

#[test]
fn watch_says_how_many_events_were_missed() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let args = owned(&["--peer", &fixture.peer(), "--json", "watch", "oven", "Overheated", "--for", "30"]);
        let mut child = spawn(&args, true);
        within(10, async {
            while fixture.oven.overheated.subscriber_count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Nobody reads the tool's stdout yet: it blocks writing the first big alarm and stops
        // reading its stream, so its 8-alarm buffer on the server overflows.
        let payload = bytes::Bytes::from(vec![7u8; 256 * 1024]);
        for sequence in 0..100 {
            let alarm = Alarm { celsius: 90.0, limit: 80.0, sequence, payload: payload.clone() };
            fixture.oven.overheated.emit(alarm).await;
        }
        let mut lines = lines_of(child.stdout.take().unwrap());
        let (mut events, mut missed) = (0, 0);
        while events + missed < 100 {
            let line = within(15, lines.recv()).await.expect("a line");
            let line: Value = serde_json::from_str(&line).unwrap();
            match (line.get("event"), line.get("missed")) {
                (Some(event), None) => {
                    assert_eq!(event["sequence"], events + missed, "in order, after what was missed");
                    events += 1;
                }
                (None, Some(count)) => missed += count.as_u64().unwrap(),
                _ => panic!("neither an event nor a missed count: {line}"),
            }
        }
        assert!(missed > 0 && events >= 8, "{events} events, {missed} missed");
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

#[test]
fn watch_follows_an_attribute() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let args = owned(&["--peer", &fixture.peer(), "watch", "thing", "testme", "--count", "2"]);
        let child = spawn(&args, true);
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        // The first value is the current one; each set brings one more. Set until the tool has
        // seen its two (the watch may start after the first set).
        let run = within(10, async {
            let mut next = 6;
            while !waiting.is_finished() {
                fixture.thing.testme.set(next);
                next += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            finished(waiting.await.unwrap().unwrap())
        })
        .await;
        assert!(run.ok, "{run:?}");
        let values: Vec<i64> = run.stdout.lines().map(|line| line.parse().unwrap()).collect();
        assert_eq!(values.len(), 2, "{run:?}");
        assert!(values[0] < values[1], "{values:?}");
    });
}

#[test]
fn bad_requests_name_the_field_and_the_expected_type() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        fixture
            .heros(&["call", "thing", "ReadTemp", r#"{"min": }"#])
            .await
            .fails_with(&["bad JSON", "line 1 column 9"]);
        fixture
            .heros(&["call", "thing", "ReadTemp", r#"{"min": "abc"}"#])
            .await
            .fails_with(&[r#"field "min" of examples.v1.ReadTempRequest expects int32, got "abc""#]);
        fixture
            .heros(&["call", "thing", "ReadTemp", r#"{"mni": 1}"#])
            .await
            .fails_with(&[r#"examples.v1.ReadTempRequest has no field "mni"; its fields: min (int32), max (int32)"#]);
        fixture
            .heros(&["set", "thing", "testme", r#""ten""#])
            .await
            .fails_with(&[r#"field "value" of examples.v1.TestmeValue expects int64, got "ten""#]);
        fixture.heros(&["set", "thing", "firmware", "oops"]).await.fails_with(&["bad JSON", "a string needs quotes"]);
    });
}

#[test]
fn unknown_names_list_what_exists() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        fixture
            .heros(&["describe", "nobody"])
            .await
            .fails_with(&["no HERO 'nobody' in realm 'heros'", "known there: oven, thing"]);
        fixture
            .heros(&["call", "thing", "Fly"])
            .await
            .fails_with(&["HERO 'thing' has no method 'Fly'; its methods: ReadTemp, Hello"]);
        fixture
            .heros(&["get", "thing", "colour"])
            .await
            .fails_with(&["HERO 'thing' has no attribute 'colour'; its attributes: testme, firmware"]);
        fixture
            .heros(&["call", "thing", "testme"])
            .await
            .fails_with(&["'testme' of HERO 'thing' is an attribute, not a method"]);
        fixture.heros(&["watch", "oven", "Boil"]).await.fails_with(&["its event or attributes: Overheated, Readings"]);
    });
}

#[test]
fn remote_errors_show_status_code_and_kind() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let read_only = fixture.heros(&["set", "thing", "firmware", r#""9.9.9""#]).await;
        read_only.fails_with(&["PERMISSION_DENIED (READ_ONLY)", "firmware"]);
        assert_eq!(fixture.thing.firmware.get(), "1.0.0");
        let failed = fixture.heros(&["call", "thing", "ReadTemp", r#"{"min": 9, "max": 1}"#]).await;
        failed.fails_with(&["UNKNOWN (BadRange): min 9 is above max 1"]);
        // With --json the error is JSON too, on stderr.
        let failed = fixture.heros(&["--json", "set", "thing", "firmware", r#""x""#]).await;
        assert!(!failed.ok);
        let report: Value = serde_json::from_str(failed.stderr.trim()).unwrap();
        assert_eq!(report["error"]["remote"]["code"], "PERMISSION_DENIED");
        assert_eq!(report["error"]["remote"]["kind"], "READ_ONLY");
    });
}

#[test]
fn list_and_call_over_mdns() {
    in_private_network(|| async {
        let _fixture = Fixture::start(true).await;
        let list = heros(vec!["--json".into(), "--timeout".into(), "3".into(), "list".into()], false).await.json();
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["oven", "thing"], "{list}");
        let reply = heros(
            vec!["--json".into(), "call".into(), "thing".into(), "ReadTemp".into(), r#"{"min": 2, "max": 4}"#.into()],
            false,
        )
        .await;
        assert_eq!(reply.json(), json!({"value": 3.0}));
        assert!(reply.stderr.contains("looking for 'thing' in realm 'heros' over mDNS"), "{reply:?}");
        let missing = heros(vec!["--timeout".into(), "3".into(), "describe".into(), "nobody".into()], false).await;
        missing.fails_with(&["no HERO 'nobody' in realm 'heros' appeared over mDNS within 3.0 s", "oven, thing"]);
    });
}

#[test]
fn list_and_call_through_etcd_alone() {
    in_private_network(|| async {
        let etcd = match heros_testing::etcd::Etcd::start() {
            Ok(etcd) => etcd,
            // Fails unless HEROS_TESTS_ALLOW_SKIP=1: CI must not pass without etcd.
            Err(why) if why.kind() == std::io::ErrorKind::NotFound => return heros_testing::skip_or_fail(why),
            Err(why) => panic!("{why}"),
        };
        // The server and the tool (which inherits these) use etcd and no multicast at all.
        std::env::set_var("HEROS_DISCOVERY", "etcd");
        std::env::set_var("HEROS_ETCD", etcd.url());
        let _fixture = Fixture::start(false).await;
        let run = |args: &[&str]| {
            let output = Command::new(env!("CARGO_BIN_EXE_heros"))
                .args(args)
                .env_remove("HEROS_PEERS")
                .env_remove("HEROS_REALM")
                .output()
                .expect("the heros binary runs");
            finished(output)
        };
        let started = std::time::Instant::now();
        let list = run(&["--json", "--timeout", "5", "list"]);
        let took = started.elapsed();
        let list = list.json();
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["oven", "thing"], "{list:?}");
        // etcd says when it has listed everyone: no waiting for the whole timeout, as over mDNS.
        assert!(took < Duration::from_secs(3), "listing took {took:?}");
        let reply = run(&["--json", "call", "thing", "ReadTemp", r#"{"min": 2, "max": 4}"#]);
        assert_eq!(reply.json(), json!({"value": 3.0}));
        assert!(reply.stderr.contains("looking for 'thing' in realm 'heros' over etcd"), "{reply:?}");
    });
}

#[test]
fn list_watch_reports_heros_joining_and_leaving() {
    in_private_network(|| async {
        let _fixture = Fixture::start(true).await;
        let args = owned(&["--json", "--timeout", "1.5", "list", "--watch", "--for", "30"]);
        let mut child = spawn(&args, false);
        let mut changes = lines_of(child.stdout.take().unwrap());
        // The initial listing first, then one HERO joins and leaves: each step waits for the
        // tool to report the one before.
        assert_eq!([next_change(&mut changes).await, next_change(&mut changes).await], ["joined oven", "joined thing"]);
        let other = Server::builder().bind("127.0.0.1:0".parse().unwrap()).start().await.unwrap();
        let visitor = other.share(Hero::new("visitor").interface(TestObjectServer::new(Thing::blank()))).await.unwrap();
        assert_eq!(next_change(&mut changes).await, "joined visitor");
        visitor.shutdown().await;
        assert_eq!(next_change(&mut changes).await, "left visitor");
        // The visitor's goodbye must not take the other HEROs of this process along (it did
        // while they shared one SRV host name: "left oven", "left thing" came next): the next
        // change is the next HERO that joins.
        let late = other.share(Hero::new("late").interface(TestObjectServer::new(Thing::blank()))).await.unwrap();
        assert_eq!(next_change(&mut changes).await, "joined late");
        drop(late);
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

#[test]
fn list_watch_through_a_peer_polls_it() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let peer = fixture.peer();
        let args = owned(&["--peer", &peer, "--json", "--timeout", "0.5", "list", "--watch", "--for", "30"]);
        let mut child = spawn(&args, true);
        let mut changes = lines_of(child.stdout.take().unwrap());
        assert_eq!([next_change(&mut changes).await, next_change(&mut changes).await], ["joined oven", "joined thing"]);
        let visitor =
            fixture.server.share(Hero::new("visitor").interface(TestObjectServer::new(Thing::blank()))).await.unwrap();
        assert_eq!(next_change(&mut changes).await, "joined visitor");
        visitor.shutdown().await;
        assert_eq!(next_change(&mut changes).await, "left visitor");
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

/// The next line of `list --watch --json`, as "joined oven".
async fn next_change(changes: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    let line = within(15, changes.recv()).await.expect("a line");
    let line: Value = serde_json::from_str(&line).unwrap();
    format!("{} {}", line["change"].as_str().unwrap(), line["hero"]["name"].as_str().unwrap())
}

/// gRPC's route guide (`examples/support/route_guide_hero.rs`) as the HERO `guide`, alone on a
/// loopback server without mDNS: a method of each streaming kind.
struct Guide {
    server: Server,
    /// Features `ListFeatures` has made so far.
    features_sent: Arc<std::sync::atomic::AtomicU64>,
    _hero: LocalHero,
}

impl Guide {
    async fn start(features: Vec<route_guide_hero::routeguide::Feature>) -> Guide {
        let server = Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.unwrap();
        let guide = route_guide_hero::RouteGuideHero::new(features);
        let features_sent = guide.features_sent.clone();
        let hero = server
            .share(Hero::new("guide").interface(route_guide_hero::routeguide::RouteGuideServer::new(guide)))
            .await
            .unwrap();
        Guide { server, features_sent, _hero: hero }
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        owned(&[&["--peer", &self.server.local_addr().to_string()], args].concat())
    }

    async fn heros(&self, args: &[&str]) -> Run {
        heros(self.args(args), true).await
    }

    /// Runs the tool with `stdin` as its standard input, closed after it.
    async fn heros_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = spawn_with_stdin(&self.args(args));
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_owned();
        std::thread::spawn(move || std::io::Write::write_all(&mut input, stdin.as_bytes()));
        finished(within(30, tokio::task::spawn_blocking(move || child.wait_with_output())).await.unwrap().unwrap())
    }
}

fn spawn_with_stdin(args: &[String]) -> std::process::Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heros"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HEROS_PEERS")
        .env_remove("HEROS_TOKEN")
        .env("HEROS_DISCOVERY", "off");
    command.spawn().expect("the heros binary runs")
}

/// The point of feature `n` of `route_guide_hero::features`, as JSON.
fn place(n: i32) -> Value {
    json!({"latitude": 400_000_000, "longitude": -740_000_000 + n * 10_000})
}

#[test]
fn describe_shows_which_side_of_each_method_streams() {
    runtime().block_on(async {
        let guide = Guide::start(route_guide_hero::features(3)).await;
        let described = guide.heros(&["--json", "describe", "guide"]).await.json();
        let methods = described["interfaces"][0]["methods"].as_array().unwrap();
        let shapes: Vec<(&str, bool, bool)> = methods
            .iter()
            .map(|m| {
                (m["name"].as_str().unwrap(), m["streams_requests"].as_bool().unwrap(), m["streams_replies"].as_bool().unwrap())
            })
            .collect();
        assert_eq!(
            shapes,
            [
                ("GetFeature", false, false),
                ("ListFeatures", false, true),
                ("RecordRoute", true, false),
                ("RouteChat", true, true)
            ]
        );
        assert!(described["interfaces"][0]["events"].as_array().unwrap().is_empty(), "{described}");

        guide.heros(&["describe", "guide"]).await.prints(&[
            "GetFeature    Point { latitude: int32, longitude: int32 } -> Feature { name: string, location: routeguide.Point }",
            "ListFeatures  Rectangle { lo: routeguide.Point, hi: routeguide.Point } -> stream Feature {",
            "RecordRoute   stream Point { latitude: int32, longitude: int32 } -> RouteSummary { point_count: int32,",
            "RouteChat     stream RouteNote { location: routeguide.Point, message: string } -> stream RouteNote {",
        ]);
    });
}

#[test]
fn call_prints_a_server_stream_as_json_lines() {
    runtime().block_on(async {
        let guide = Guide::start(route_guide_hero::features(50)).await;
        let rectangle = json!({"lo": place(10), "hi": place(14)}).to_string();
        for format in [&["--json"][..], &[]] {
            let run = guide.heros(&[format, &["call", "guide", "ListFeatures", &rectangle]].concat()).await;
            assert!(run.ok, "{run:?}");
            let names: Vec<Value> = run.json_lines().iter().map(|f| f["name"].clone()).collect();
            assert_eq!(names, ["feature-10", "feature-11", "feature-12", "feature-13", "feature-14"], "{run:?}");
            assert_eq!(run.json_lines()[0]["location"], place(10));
        }
        // The HERO's own error ends the stream: the tool fails with it.
        let run = guide.heros(&["call", "guide", "ListFeatures", &json!({"lo": place(0)}).to_string()]).await;
        run.fails_with(&["INVALID_ARGUMENT", "both corners"]);
    });
}

/// Each reply is printed when it arrives, and the tool reads the stream only as fast as its
/// output is read: a reader that stops after one line holds the HERO back.
#[test]
fn call_prints_each_streamed_reply_as_it_arrives() {
    runtime().block_on(async {
        let (guide, mut child, mut lines) = long_listing().await;
        let first: Value = serde_json::from_str(&within(15, lines.recv()).await.unwrap()).unwrap();
        assert!(first["name"].as_str().unwrap().starts_with("feature-0."), "{first}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = guide.features_sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < LONG as u64 / 2, "{sent} of {LONG} features made while one line was read");
        let mut count = 1;
        while within(60, lines.recv()).await.is_some() {
            count += 1;
        }
        assert_eq!(count, LONG);
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn call_sends_a_stream_of_requests_from_json_lines() {
    runtime().block_on(async {
        let guide = Guide::start(route_guide_hero::features(50)).await;
        // From stdin, blank lines skipped; the end of the input ends the stream.
        let points: String = (0..5).map(|n| format!("{}\n\n", place(n))).collect();
        let run = guide.heros_with_stdin(&["--json", "call", "guide", "RecordRoute"], &points).await;
        let summary = run.json();
        assert_eq!((summary["point_count"].as_i64(), summary["feature_count"].as_i64()), (Some(5), Some(5)));
        assert!(summary["distance"].as_i64().unwrap() > 300, "{summary}");
        assert_eq!(run.stdout.lines().count(), 1, "one reply, one line for programs");
        // `-` is stdin too; the argument may hold the lines itself.
        let run = guide.heros_with_stdin(&["--json", "call", "guide", "record_route", "-"], &points).await;
        assert_eq!(run.json()["point_count"], 5);
        let lines = format!("{}\n{}\n{}", place(1), place(2), json!({"latitude": 1}));
        let run = guide.heros(&["--json", "call", "guide", "RecordRoute", &lines]).await;
        assert_eq!((run.json()["point_count"].as_i64(), run.json()["feature_count"].as_i64()), (Some(3), Some(2)));
        // No requests at all is an empty stream.
        let run = guide.heros_with_stdin(&["--json", "call", "guide", "RecordRoute"], "").await;
        assert_eq!(run.json()["point_count"], 0);
    });
}

/// A conversation: each note goes out as soon as its line is written, and the HERO's answer is
/// printed while the input is still open; the end of the input ends the call.
#[test]
fn call_holds_a_bidirectional_conversation_line_by_line() {
    runtime().block_on(async {
        let guide = Guide::start(route_guide_hero::features(5)).await;
        let mut child = spawn_with_stdin(&guide.args(&["--json", "call", "guide", "RouteChat"]));
        let mut input = child.stdin.take().unwrap();
        let mut lines = lines_of(child.stdout.take().unwrap());
        let mut say = |place: Value, message: &str| {
            let note = json!({"location": place, "message": message});
            std::io::Write::write_all(&mut input, format!("{note}\n").as_bytes()).unwrap();
        };
        say(place(1), "first");
        say(place(2), "elsewhere");
        say(place(1), "second");
        // The answer to "second" (the note left at place 1 before it) comes while stdin is open.
        let heard: Value = serde_json::from_str(&within(15, lines.recv()).await.unwrap()).unwrap();
        assert_eq!((&heard["message"], &heard["location"]), (&json!("first"), &place(1)));
        say(place(1), "third");
        let heard: Vec<Value> = [within(15, lines.recv()).await.unwrap(), within(15, lines.recv()).await.unwrap()]
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["message"].clone())
            .collect();
        assert_eq!(heard, ["first", "second"]);
        drop(input);
        let status = within(15, tokio::task::spawn_blocking(move || child.wait())).await.unwrap().unwrap();
        assert!(status.success());
        assert!(within(5, lines.recv()).await.is_none(), "nothing after the end");
    });
}

/// A line that is not a request stops the call with an error naming the line, and cancels it:
/// the HERO never gets an end of the stream, so it never answers for a partial route.
#[test]
fn a_bad_request_line_stops_a_streaming_call() {
    runtime().block_on(async {
        let guide = Guide::start(route_guide_hero::features(5)).await;
        let record = ["call", "guide", "RecordRoute"];
        let run = guide.heros_with_stdin(&record, &format!("{}\n{{\"latitude\": }}\n{}\n", place(1), place(2))).await;
        run.fails_with(&["request line 2", "bad JSON"]);
        assert!(run.stdout.is_empty(), "no summary of a partial route: {run:?}");
        let run = guide.heros_with_stdin(&record, &format!("{}\n{}\n", place(1), json!({"latitude": "north"}))).await;
        run.fails_with(&["request line 2", r#"field "latitude" of routeguide.Point expects int32, got "north""#]);
        assert!(run.stdout.is_empty(), "{run:?}");
        let run = guide.heros_with_stdin(&record, &format!("{}\n", json!({"altitude": 3}))).await;
        run.fails_with(&[
            "request line 1",
            r#"routeguide.Point has no field "altitude"; its fields: latitude (int32), longitude (int32)"#,
        ]);
        let run = guide.heros_with_stdin(&["call", "guide", "RouteChat"], "[1, 2]\n").await;
        run.fails_with(&["request line 1", "routeguide.RouteNote expects a JSON object"]);
        // With --json the error is JSON on stderr, as for any other error.
        let run = guide.heros_with_stdin(&["--json", "call", "guide", "RecordRoute"], "nonsense\n").await;
        assert!(!run.ok);
        let report: Value = serde_json::from_str(run.stderr.trim()).unwrap();
        assert!(report["error"]["message"].as_str().unwrap().starts_with("request line 1: bad JSON"), "{report}");
    });
}

/// Ctrl-C ends a streaming call quietly (as it ends `watch`), and the HERO's side is cancelled.
#[test]
fn ctrl_c_stops_a_streaming_call() {
    runtime().block_on(async {
        let (guide, mut child, mut lines) = long_listing().await;
        within(15, lines.recv()).await.expect("a first reply");
        let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(interrupted.success());
        // The tool exits without reading the rest: drain what it had printed until then.
        let drained = tokio::task::spawn(async move { while lines.recv().await.is_some() {} });
        let status = within(15, tokio::task::spawn_blocking(move || child.wait())).await.unwrap().unwrap();
        assert!(status.success(), "{status}");
        within(15, drained).await.unwrap();
        let sent = guide.features_sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < LONG as u64, "the HERO made all {sent} features for a caller that left");
    });
}

/// Features in a long listing: 4 KiB each, 40 MiB in all, far more than the HTTP/2 windows and
/// the pipe between the HERO and the test.
const LONG: usize = 10_000;

/// A guide with [`LONG`] big features, and the tool listing them all (`--json`), its output
/// read a line at a time.
async fn long_listing() -> (Guide, std::process::Child, tokio::sync::mpsc::Receiver<String>) {
    let guide = Guide::start(route_guide_hero::long_features(LONG, 4096)).await;
    let rectangle = json!({"lo": place(0), "hi": place(LONG as i32)}).to_string();
    let mut child = spawn(&guide.args(&["--json", "call", "guide", "ListFeatures", &rectangle]), true);
    let lines = lines_of_bounded(child.stdout.take().unwrap());
    (guide, child, lines)
}

/// Like [`lines_of`], but holding at most one line: the tool's output is read only as fast as
/// the test takes the lines (so a test that stops reading stops the tool's writes).
fn lines_of_bounded(output: std::process::ChildStdout) -> tokio::sync::mpsc::Receiver<String> {
    let (lines, received) = tokio::sync::mpsc::channel(1);
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(output)).map_while(Result::ok) {
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    received
}
