//! `heros monitor`'s HTTP API and live stream, without a browser: the built binary against
//! HEROs served by this test process, found through `--peer` (no mDNS). The browser test is
//! `monitor_browser.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::monitor::{Events, Monitor};
use common::proto::{Furnace, FurnaceServer};
use common::*;
use heros::{Hero, Server};
use serde_json::{json, Value};

/// A monitor of the fixture's server, once it lists `thing` and `oven` as serving.
async fn monitor_of(fixture: &Fixture) -> Monitor {
    let monitor = Monitor::start(&["--peer", &fixture.peer()], true, &[]);
    serving(&monitor, &["thing", "oven"]).await;
    monitor
}

/// Waits until the monitor's roster has each of `names`, serving.
async fn serving(monitor: &Monitor, names: &[&str]) {
    within(15, async {
        loop {
            let (_, heros) = monitor.get("/api/heros").await;
            let serving = |name: &&str| {
                heros.as_array().into_iter().flatten().any(|h| h["name"] == *name && h["health"] == "serving")
            };
            if names.iter().all(serving) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[test]
fn the_roster_and_a_description_come_from_the_heros() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let monitor = monitor_of(&fixture).await;
        assert!(
            monitor.first_line.starts_with("monitor of realm 'heros' at http://127.0.0.1:"),
            "{}",
            monitor.first_line
        );
        let (status, heros) = monitor.get("/api/heros").await;
        assert_eq!(status, 200);
        let thing = heros.as_array().unwrap().iter().find(|h| h["name"] == "thing").unwrap();
        assert_eq!(thing["interfaces"], json!(["examples.v1.TestObject"]));
        assert_eq!((&thing["tags"], &thing["metadata"]), (&json!(["lab"]), &json!({"room": "3.14"})));
        assert_eq!(thing["endpoint"], format!("http://{}", fixture.peer()));

        let (status, thing) = monitor.get("/api/heros/thing").await;
        assert_eq!(status, 200);
        let interface = &thing["interfaces"][0];
        let read_temp = &interface["methods"][0];
        assert_eq!(read_temp["name"], "ReadTemp");
        assert_eq!(read_temp["form"][1]["name"], "max");
        assert_eq!(
            (&read_temp["form"][1]["input"], &read_temp["form"][1]["max"]),
            (&json!("integer"), &json!("2147483647"))
        );
        let testme = &interface["attributes"][0];
        assert_eq!((&testme["name"], &testme["form"]["input"]), (&json!("testme"), &json!("integer")));

        let (status, page) = monitor.raw("GET", "/", &[], "").await;
        assert_eq!(status, 200);
        assert!(page.contains("<title>HEROS monitor</title>") && page.contains("/app.js"), "{page}");
        let (status, script) = monitor.raw("GET", "/app.js", &[], "").await;
        assert!(status == 200 && script.contains("new EventSource('/api/stream'"), "{status}");
    });
}

#[test]
fn methods_are_called_and_attributes_set_through_the_api() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let monitor = monitor_of(&fixture).await;
        let (status, reply) =
            monitor.post("/api/heros/thing/methods/examples.v1.TestObject.ReadTemp", r#"{"min": 0, "max": 10}"#).await;
        assert_eq!((status, reply), (200, json!({"reply": {"value": 5.0}})));
        // An empty body is the empty request; names are found as on the command line.
        let (status, reply) = monitor.post("/api/heros/thing/methods/hello", "").await;
        assert_eq!((status, reply), (200, json!({"reply": {"value": "world"}})));
        assert_eq!(fixture.thing.testme.get(), 6);
        let (status, reply) = monitor.post("/api/heros/thing/attributes/examples.v1.TestObject.testme", "10").await;
        assert_eq!((status, reply), (200, json!({"value": 10})));
        assert_eq!(fixture.thing.testme.get(), 10);
    });
}

#[test]
fn bad_requests_get_4xx_with_a_message_that_says_what_to_fix() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let monitor = monitor_of(&fixture).await;
        let expect = |answer: (u16, Value), status: u16, parts: &[&str]| {
            assert_eq!(answer.0, status, "{}", answer.1);
            let message = answer.1["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {}", answer.1));
            for part in parts {
                assert!(message.contains(part), "{part:?} not in {message:?}");
            }
            answer.1["error"].clone()
        };
        expect(
            monitor.get("/api/heros/nobody").await,
            404,
            &["no HERO 'nobody' in realm 'heros'", "known: oven, thing"],
        );
        expect(monitor.post("/api/heros/nobody/methods/hello", "{}").await, 404, &["no HERO 'nobody'"]);
        expect(
            monitor.post("/api/heros/thing/methods/Fly", "{}").await,
            404,
            &["has no method 'Fly'; its methods: ReadTemp, Hello"],
        );
        expect(
            monitor.post("/api/heros/thing/methods/ReadTemp", r#"{"min": }"#).await,
            400,
            &["bad JSON", "line 1 column 9"],
        );
        expect(
            monitor.post("/api/heros/thing/methods/ReadTemp", r#"{"min": "abc"}"#).await,
            400,
            &[r#"field "min" of examples.v1.ReadTempRequest expects int32, got "abc""#],
        );
        expect(
            monitor.post("/api/heros/thing/attributes/testme", "ten").await,
            400,
            &["bad JSON", "a string needs quotes"],
        );
        expect(monitor.post("/api/heros/thing/attributes/colour", "1").await, 404, &["has no attribute 'colour'"]);
        // The HERO's own refusals keep their gRPC code and ErrorDetail kind.
        let read_only =
            expect(monitor.post("/api/heros/thing/attributes/firmware", r#""9""#).await, 403, &["firmware"]);
        assert_eq!((&read_only["code"], &read_only["kind"]), (&json!("PERMISSION_DENIED"), &json!("READ_ONLY")));
        let failed = expect(
            monitor.post("/api/heros/thing/methods/ReadTemp", r#"{"min": 9, "max": 1}"#).await,
            422,
            &["min 9 is above max 1"],
        );
        assert_eq!((&failed["code"], &failed["kind"]), (&json!("UNKNOWN"), &json!("BadRange")));
        // Not JSON, another host name (DNS rebinding), a route that does not exist.
        let plain =
            monitor.request("POST", "/api/heros/thing/methods/hello", &[("Content-Type", "text/plain")], "{}").await;
        expect(plain, 415, &["application/json"]);
        let rebound = monitor.request("GET", "/api/heros", &[("Host", "evil.example:80")], "").await;
        expect(rebound, 421, &["answers requests for 127.0.0.1:"]);
        expect(monitor.get("/api/nothing").await, 404, &["no such page"]);
        let (status, stream) = monitor.stream(Some("nobody")).await;
        assert_eq!((status, stream.is_none()), (404, true));
        // None of it hurt the monitor.
        assert_eq!(monitor.get("/api/heros").await.0, 200);
        assert_eq!(fixture.thing.firmware.get(), "1.0.0");
    });
}

#[test]
fn many_pages_share_one_subscription_per_hero_member() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let monitor = monitor_of(&fixture).await;
        let mut pages: Vec<Events> = Vec::new();
        for _ in 0..5 {
            let (status, page) = monitor.stream(Some("oven")).await;
            assert_eq!(status, 200);
            let mut page = page.unwrap();
            let roster = page.next(10).await;
            assert_eq!(roster["type"], "roster");
            pages.push(page);
        }
        // Both subscriptions opened: the HERO counts its subscriber before the monitor counts
        // the subscription it opened, so wait for both.
        let stats = within(10, async {
            loop {
                let (_, stats) = monitor.get("/api/stats").await;
                let subscribed =
                    fixture.oven.readings.subscriber_count() > 0 && fixture.oven.overheated.subscriber_count() > 0;
                if subscribed && stats["upstream_opened"].as_u64() >= Some(2) {
                    break stats;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Five pages, two events: the HERO has one subscriber per event, the monitor two feeds.
        assert_eq!((fixture.oven.readings.subscriber_count(), fixture.oven.overheated.subscriber_count()), (1, 1));
        assert_eq!(stats, json!({"upstream_opened": 2, "feeds_live": 2, "pages_live": 5}));
        fixture.oven.heat(21.5).await.unwrap();
        for page in &mut pages {
            let event = page.next_where(10, |item| item["type"] == "event").await;
            assert_eq!((&event["hero"], &event["member"]), (&json!("oven"), &json!("Readings")));
            assert_eq!(event["event"]["celsius"], 21.5);
        }
        // The last page gone, the feeds close and the HERO loses its subscribers.
        drop(pages);
        within(10, async {
            loop {
                let (_, stats) = monitor.get("/api/stats").await;
                if stats["feeds_live"] == 0 && stats["pages_live"] == 0 && fixture.oven.readings.subscriber_count() == 0
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    });
}

#[test]
fn attribute_values_reach_every_page_and_late_pages_get_the_current_one() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let monitor = monitor_of(&fixture).await;
        let is_testme = |item: &Value| item["type"] == "attribute" && item["member"] == "testme";
        let (_, first) = monitor.stream(Some("thing")).await;
        let mut first = first.unwrap();
        assert_eq!(first.next_where(10, is_testme).await["value"], 5);
        let (_, late) = monitor.stream(Some("thing")).await;
        let mut late = late.unwrap();
        // The watch sent the value once, to the first page; the late page gets it from the feed.
        // Items of different members come in any order.
        let mut values = std::collections::BTreeMap::new();
        while values.len() < 2 {
            let item = late.next_where(10, |item| item["type"] == "attribute").await;
            values.insert(item["member"].as_str().unwrap().to_owned(), item["value"].clone());
        }
        assert_eq!(values["testme"], 5);
        assert_eq!(values["firmware"], "1.0.0");
        fixture.thing.testme.set(42);
        for page in [&mut first, &mut late] {
            assert_eq!(page.next_where(10, is_testme).await["value"], 42);
        }
        let (_, stats) = monitor.get("/api/stats").await;
        assert_eq!((&stats["upstream_opened"], &stats["feeds_live"]), (&json!(2), &json!(2)), "{stats}");
    });
}

#[test]
fn a_hero_dying_mid_subscription_is_reported_and_the_monitor_goes_on() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let other = Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.unwrap();
        let oven = Arc::new(Oven::default());
        let visitor = other.share(Hero::new("visitor").interface(FurnaceServer::from_arc(oven.clone()))).await.unwrap();
        let monitor =
            Monitor::start(&["--peer", &fixture.peer(), "--peer", &other.local_addr().to_string()], true, &[]);
        let (_, roster) = monitor.stream(None).await;
        let mut roster = roster.unwrap();
        let names = |item: &Value| -> Vec<String> {
            item["heros"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_owned()).collect()
        };
        roster.next_where(15, |item| names(item) == ["oven", "thing", "visitor"]).await;
        let (status, page) = monitor.stream(Some("visitor")).await;
        assert_eq!(status, 200);
        let mut page = page.unwrap();
        within(10, async {
            while oven.readings.subscriber_count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        oven.heat(30.0).await.unwrap();
        page.next_where(10, |item| item["type"] == "event").await;

        // The HERO's whole server goes away (as if its process died): the page is told, the
        // roster drops it, the other peer's HEROs stay, and the monitor still answers.
        drop(visitor);
        other.shutdown().await;
        drop(other);
        let error = page.next_where(10, |item| item["type"] == "feed_error").await;
        assert_eq!(error["hero"], "visitor");
        roster.next_where(15, |item| names(item) == ["oven", "thing"]).await;
        let (status, reply) = monitor.post("/api/heros/thing/methods/ReadTemp", r#"{"max": 4}"#).await;
        assert_eq!((status, reply), (200, json!({"reply": {"value": 2.0}})));
        let (status, _) = monitor.post("/api/heros/visitor/methods/Heat", r#"{"celsius": 1}"#).await;
        assert_eq!(status, 404);
    });
}

#[test]
fn the_monitor_listens_beyond_loopback_only_when_allowed() {
    runtime().block_on(async {
        let refused = heros(owned(&["monitor", "--listen", "0.0.0.0:0"]), true).await;
        refused.fails_with(&["refusing to listen on 0.0.0.0:0", "--allow-remote"]);
        let refused = heros(owned(&["monitor", "--listen", "198.18.0.1:8080"]), true).await;
        refused.fails_with(&["refusing to listen on 198.18.0.1:8080"]);
        // Allowed: it starts (on every address; nothing connects from outside in this test).
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_heros"));
        command.args(["--peer", "127.0.0.1:9", "monitor", "--listen", "0.0.0.0:0", "--allow-remote"]);
        let mut child = command
            .env("HEROS_DISCOVERY", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert!(line.starts_with("monitor of realm 'heros' at http://0.0.0.0:"), "{line}");
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("beyond this machine (--allow-remote)"), "{stderr}");
    });
}

#[test]
fn a_token_realm_is_monitored_with_the_token() {
    runtime().block_on(async {
        let lone = LoneThing::start(Server::builder().token("s3cret")).await;
        let (thing, peer) = (lone.thing.clone(), lone.peer());
        let monitor = Monitor::start(&["--peer", &peer, "--token", "s3cret"], true, &[]);
        serving(&monitor, &["thing"]).await;
        let answer = monitor.post("/api/heros/thing/attributes/testme", "7").await;
        assert_eq!(answer, (200, json!({"value": 7})));
        assert_eq!(thing.testme.get(), 7);
        let without = Monitor::start(&["--peer", &peer], true, &[]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(without.get("/api/heros").await, (200, json!([])), "a realm it cannot read shows no HERO");
    });
}

#[test]
fn a_hero_that_leaves_and_comes_back_is_followed_again() {
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let share = || async {
            let oven = Arc::new(Oven::default());
            let hero = Hero::new("visitor").interface(FurnaceServer::from_arc(oven.clone()));
            (oven, fixture.server.share(hero).await.unwrap())
        };
        let (oven, visitor) = share().await;
        let monitor = monitor_of(&fixture).await;
        let (_, page) = monitor.stream(Some("visitor")).await;
        let mut page = page.unwrap();
        let names = |item: &Value| -> Vec<String> {
            item["heros"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_owned()).collect()
        };
        visitor.shutdown().await;
        drop(oven);
        page.next_where(10, |item| item["type"] == "feed_error").await;
        page.next_where(15, |item| item["type"] == "roster" && !names(item).contains(&"visitor".to_owned())).await;
        // Back, as a new object with the same name: the page's feeds subscribe to it by themselves.
        let (oven, _visitor) = share().await;
        within(15, async {
            while oven.readings.subscriber_count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        oven.heat(55.0).await.unwrap();
        let event = page.next_where(10, |item| item["type"] == "event").await;
        assert_eq!((&event["hero"], &event["event"]["celsius"]), (&json!("visitor"), &json!(55.0)));
    });
}

#[test]
fn a_secured_realm_is_monitored_with_the_credentials_and_their_role() {
    runtime().block_on(async {
        let realm = std::env::temp_dir().join(format!("heros-monitor-realm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&realm);
        heros::security::realm::init(&realm).unwrap();
        for (name, role) in [("oven", heros::Role::Operate), ("ada", heros::Role::Observe)] {
            heros::security::realm::issue(&realm, name, role, None).unwrap();
        }
        let lone = LoneThing::start(Server::builder().credentials(realm.join("oven"))).await;
        let (thing, peer) = (lone.thing.clone(), lone.peer());
        // An operator sets; an observer sees the value, and is refused with the role named.
        let operator = realm.join("oven");
        let operating = Monitor::start(&["--peer", &peer, "--credentials", operator.to_str().unwrap()], true, &[]);
        serving(&operating, &["thing"]).await;
        assert_eq!(operating.post("/api/heros/thing/attributes/testme", "8").await, (200, json!({"value": 8})));
        assert_eq!(thing.testme.get(), 8);
        let observer = realm.join("ada");
        let observing = Monitor::start(&["--peer", &peer, "--credentials", observer.to_str().unwrap()], true, &[]);
        serving(&observing, &["thing"]).await;
        let (_, page) = observing.stream(Some("thing")).await;
        let value = page.unwrap().next_where(10, |item| item["member"] == "testme").await;
        assert_eq!(value["value"], 8);
        let (status, refused) = observing.post("/api/heros/thing/attributes/testme", "9").await;
        assert_eq!((status, &refused["error"]["code"]), (403, &json!("PERMISSION_DENIED")), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("operate"), "{refused}");
        assert_eq!(thing.testme.get(), 8);
        let _ = std::fs::remove_dir_all(&realm);
    });
}

// Generated code and a shared example, linted where they live.
#[allow(clippy::type_complexity)]
#[path = "../../examples/support/route_guide_hero.rs"]
mod route_guide_hero;

#[test]
fn streaming_methods_are_listed_as_methods_and_never_subscribed_to() {
    runtime().block_on(async {
        use route_guide_hero::routeguide::RouteGuideServer;
        let fixture = Fixture::start(false).await;
        let guide = route_guide_hero::RouteGuideHero::new(route_guide_hero::features(3));
        let sent = guide.features_sent.clone();
        let _guide = fixture.server.share(Hero::new("guide").interface(RouteGuideServer::new(guide))).await.unwrap();
        let monitor = monitor_of(&fixture).await;
        serving(&monitor, &["guide"]).await;
        let (_, guide) = monitor.get("/api/heros/guide").await;
        let interface = &guide["interfaces"][0];
        assert_eq!(interface["events"], json!([]), "{interface}");
        let methods: Vec<(String, bool)> = interface["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["name"].as_str().unwrap().to_owned(), m["streaming"].as_bool().unwrap()))
            .collect();
        let names: Vec<(&str, bool)> = methods.iter().map(|(name, streaming)| (name.as_str(), *streaming)).collect();
        assert_eq!(names, [("GetFeature", false), ("RecordRoute", true), ("ListFeatures", true), ("RouteChat", true)]);
        // A page on the HERO opens no feed (nothing of it is an event or an attribute).
        let (status, page) = monitor.stream(Some("guide")).await;
        assert_eq!(status, 200);
        page.unwrap().next(10).await;
        let (_, stats) = monitor.get("/api/stats").await;
        assert_eq!((&stats["feeds_live"], &stats["upstream_opened"]), (&json!(0), &json!(0)), "{stats}");
        assert_eq!(sent.load(std::sync::atomic::Ordering::Relaxed), 0, "ListFeatures was never called");
        let (status, refused) = monitor.post("/api/heros/guide/methods/RecordRoute", "{}").await;
        assert_eq!(status, 400);
        assert!(refused["error"]["message"].as_str().unwrap().contains("is a streaming method"), "{refused}");
        let (status, reply) = monitor
            .post("/api/heros/guide/methods/GetFeature", r#"{"latitude": 400000000, "longitude": -740000000}"#)
            .await;
        assert_eq!((status, &reply["reply"]["name"]), (200, &json!("feature-0")), "{reply}");
    });
}
