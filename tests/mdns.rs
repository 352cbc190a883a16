//! Discovery over real mDNS between real processes. Each test moves into a private network
//! namespace of its own (only `lo`; no multicast leaves the machine) and starts HERO processes
//! by running this test binary again in the `hero_process` role; they inherit the namespace.
//! Needs root (CI runs as root); without it each test says why it skips.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::process::{in_private_network, HeroProcess};
use common::proto::TestObjectRemote;
use heros::{DiscoveryEvent, Error, Observer};

/// Not a test by itself: the HERO process the other tests start (see `common::process`).
#[test]
fn hero_process() {
    common::process::hero_process_role();
}

#[test]
fn two_processes_find_each_other_by_name() {
    in_private_network(|| async {
        let started = Instant::now();
        let hero = HeroProcess::start("my_hero", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        let stub = TestObjectRemote::connect("my_hero").await.expect("found by name over mDNS");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        let first_call = started.elapsed();
        assert_eq!(stub.hello().await.unwrap(), "world");
        stub.set_testme(10).await.unwrap();
        assert_eq!(stub.testme().await.unwrap(), 10);

        let again = Instant::now();
        let known = TestObjectRemote::connect("my_hero").await.unwrap();
        let connect_known = again.elapsed();
        assert_eq!(known.testme().await.unwrap(), 10, "the same HERO");
        println!("MEASURE start_to_first_call_ms={:.1}", first_call.as_secs_f64() * 1e3);
        println!("MEASURE connect_known_us={:.1}", connect_known.as_secs_f64() * 1e6);
        hero.leave();
    });
}

#[test]
fn connecting_to_a_name_nobody_serves_times_out_naming_realm_and_known_heros() {
    in_private_network(|| async {
        let hero = HeroProcess::start("somebody", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        // Make sure discovery has seen "somebody", so that the error can name it.
        TestObjectRemote::connect("somebody").await.unwrap();
        let started = Instant::now();
        let error = TestObjectRemote::connect_timeout("nobody", Duration::from_millis(1500)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "the timeout holds");
        match &error {
            Error::DiscoveryTimeout { name, realm, known, .. } => {
                assert_eq!((name.as_str(), realm.as_str()), ("nobody", "heros"));
                assert_eq!(known, &["somebody".to_owned()]);
            }
            other => panic!("expected a discovery timeout, got {other:?}"),
        }
        assert_eq!(error.to_status().code(), tonic::Code::DeadlineExceeded);
        assert!(error.to_string().contains("realm 'heros'") && error.to_string().contains("somebody"), "{error}");
    });
}

#[test]
fn a_hero_in_another_realm_is_invisible() {
    in_private_network(|| async {
        let hero = HeroProcess::start("lab_hero", &[("HEROS_REALM", "lab")]);
        assert!(hero.ready(), "{}", hero.first_line);
        let mut lab = Observer::new("lab").unwrap();
        let seen = common::within(10, async {
            loop {
                if let Some(DiscoveryEvent::Added(info)) = lab.next().await {
                    break info;
                }
            }
        })
        .await;
        assert_eq!((seen.name.as_str(), seen.realm.as_str()), ("lab_hero", "lab"));
        // Known to discovery, yet not in realm "heros".
        assert!(Observer::new("heros").unwrap().known().is_empty());
        let error = TestObjectRemote::connect_timeout("lab_hero", Duration::from_millis(1200)).await.unwrap_err();
        assert!(matches!(error, Error::DiscoveryTimeout { ref known, .. } if known.is_empty()), "{error:?}");
    });
}

#[test]
fn a_second_hero_with_a_living_name_fails_clearly() {
    in_private_network(|| async {
        let first = HeroProcess::start("unique", &[]);
        assert!(first.ready(), "{}", first.first_line);
        let second = HeroProcess::start("unique", &[]);
        assert!(second.first_line.starts_with("ERROR"), "{}", second.first_line);
        assert!(
            second.first_line.contains("a HERO named 'unique' is already alive in realm 'heros' at http://"),
            "{}",
            second.first_line
        );
        // The same name in another realm is another HERO.
        let other_realm = HeroProcess::start("unique", &[("HEROS_REALM", "lab")]);
        assert!(other_realm.ready(), "{}", other_realm.first_line);
    });
}

#[test]
fn a_hero_that_dies_fails_calls_promptly_and_is_found_again_after_restart() {
    in_private_network(|| async {
        let hero = HeroProcess::start("phoenix", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        let stub = TestObjectRemote::connect("phoenix").await.unwrap();
        let old_endpoint = stub.target().endpoint();
        assert_eq!(stub.hello().await.unwrap(), "world");

        hero.kill(); // SIGKILL: no goodbye, a stale record stays in every cache
        let started = Instant::now();
        let error = common::within(10, stub.hello()).await.unwrap_err();
        println!("MEASURE dead_hero_error_ms={:.1}", started.elapsed().as_secs_f64() * 1e3);
        assert!(error.is_transient(), "{error:?}");

        // The stale record does not block the name, and the new HERO gets a new port.
        let reborn = HeroProcess::start("phoenix", &[]);
        assert!(reborn.ready(), "{}", reborn.first_line);
        let fresh = TestObjectRemote::connect("phoenix").await.expect("found again");
        assert_ne!(fresh.target().endpoint(), old_endpoint);
        assert_eq!(fresh.testme().await.unwrap(), 5, "a new HERO");
        // The old stub follows the HERO to its new endpoint on its next call.
        assert_eq!(stub.hello().await.unwrap(), "world");
        assert_eq!(stub.target().endpoint(), fresh.target().endpoint());
    });
}

#[test]
fn the_observer_lists_heros_and_reports_arrivals_and_goodbyes() {
    in_private_network(|| async {
        let mut observer = Observer::new("heros").unwrap();
        let hero = HeroProcess::start("watched", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        let added = common::within(10, async {
            loop {
                if let Some(DiscoveryEvent::Added(info)) = observer.next().await {
                    break info;
                }
            }
        })
        .await;
        assert_eq!(added.name, "watched");
        assert_eq!(added.interfaces, ["examples.v1.TestObject", "examples.v1.Furnace"]);
        assert_eq!(added.tags, ["test"]);
        assert!(added.endpoints[0].starts_with("http://127.0.0.1:"), "{:?}", added.endpoints);
        assert_eq!(observer.by_interface("examples.v1.TestObject").len(), 1);
        assert_eq!(observer.by_tag("test").len(), 1);
        assert!(observer.by_tag("nope").is_empty());

        hero.leave(); // goodbye
        let removed = common::within(10, async {
            loop {
                if let Some(DiscoveryEvent::Removed(info)) = observer.next().await {
                    break info;
                }
            }
        })
        .await;
        assert_eq!(removed.name, "watched");
        assert!(observer.known().is_empty());
    });
}

#[test]
fn peers_reach_heros_without_mdns() {
    in_private_network(|| async {
        let hero = HeroProcess::start("direct", &[("HEROS_DISCOVERY", "off"), ("HEROS_BIND", "127.0.0.1:0")]);
        assert!(hero.ready(), "{}", hero.first_line);
        let url = hero.first_line.trim_start_matches("READY ").to_owned();
        let authority = url.trim_start_matches("heros://").split('/').next().unwrap().to_owned();
        // SAFETY of set_var: this test's process has no other thread reading the environment yet
        // that could race; the runtime's threads only read it through Config::from_env.
        std::env::set_var("HEROS_DISCOVERY", "off");
        std::env::set_var("HEROS_PEERS", &authority);
        let stub = TestObjectRemote::connect("direct").await.expect("found through HEROS_PEERS");
        assert_eq!(stub.read_temp(2, 4).await.unwrap(), 3.0);
        let by_url = TestObjectRemote::connect(&url).await.expect("found by URL");
        assert_eq!(by_url.hello().await.unwrap(), "world");
        let error = TestObjectRemote::connect("absent").await.unwrap_err();
        assert_eq!(
            error,
            Error::HeroNotFound { name: "absent".into(), realm: "heros".into(), known: Some(vec!["direct".into()]) }
        );
        let mut stdin = hero.stdin.as_ref().unwrap();
        let _ = stdin.flush();
    });
}

#[test]
fn a_reference_whose_hero_moved_is_followed_by_name() {
    in_private_network(|| async {
        use heros::{AsHeroRef, RefScope, Remote, Target};
        let hero = HeroProcess::start("mover", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        let stub = TestObjectRemote::connect("mover").await.unwrap();
        let reference = stub.hero_ref();
        assert_eq!(reference.interface, "examples.v1.TestObject");
        hero.kill(); // no goodbye: the reference's endpoint is simply dead
        let reborn = HeroProcess::start("mover", &[]);
        assert!(reborn.ready(), "{}", reborn.first_line);

        let with_discovery = RefScope { realm: "heros".into(), discover: true };
        let target = common::within(10, Target::from_ref(&reference, &with_discovery)).await.expect("found by name");
        assert!(!reference.endpoints.contains(&target.endpoint()), "a new endpoint: {}", target.endpoint());
        assert_eq!(TestObjectRemote::from_target(target).hello().await.unwrap(), "world");

        // A receiver without discovery has only the endpoints, which do not answer.
        let without = RefScope { realm: "heros".into(), discover: false };
        let error = Target::from_ref(&reference, &without).await.unwrap_err();
        assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    });
}

#[test]
fn an_event_observer_follows_one_event_across_a_realm_as_heros_come_and_go() {
    in_private_network(|| async {
        use std::sync::Arc;

        use common::lab::TestFurnace;
        use common::proto::{Alarm, FurnaceRemote, FurnaceServer};
        use heros::{EventObserver, Hero, HeroFilter, Received, Server};

        const FURNACES: usize = 100;
        let server = Server::builder().start().await.unwrap();
        let mut furnaces = Vec::new();
        for n in 0..FURNACES {
            let furnace = Arc::new(TestFurnace::default());
            let hero = Hero::new(format!("furnace-{n:03}")).interface(FurnaceServer::from_arc(furnace.clone()));
            furnaces.push((server.share(hero).await.unwrap(), furnace));
        }
        // Same interface, another name: the pattern leaves it out.
        let oven = Arc::new(TestFurnace::default());
        let _oven = server.share(Hero::new("oven").interface(FurnaceServer::from_arc(oven.clone()))).await.unwrap();

        // The generated shorthand for EventObserver::<Alarm>::new(.., "examples.v1.Furnace", "Overheated").
        let mut observer = FurnaceRemote::observe_overheated("heros", HeroFilter::any().name("furnace-*")).unwrap();
        let started = Instant::now();
        let wait_for = |count: usize, observer: &EventObserver<Alarm>| {
            let subscribed = observer.subscribed();
            assert!(started.elapsed() < Duration::from_secs(60), "following {subscribed} of {count} furnaces");
            subscribed == count
        };
        while !wait_for(FURNACES, &observer) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("MEASURE observer_follows_100_ms={}", started.elapsed().as_millis());

        let alarm = |n: usize| Alarm {
            celsius: 100.0 + n as f64,
            limit: 80.0,
            sequence: n as u64,
            payload: Default::default(),
        };
        for (n, (_, furnace)) in furnaces.iter().enumerate() {
            furnace.overheated.emit(alarm(n)).await;
        }
        oven.overheated.emit(alarm(999)).await;
        let mut heard = std::collections::BTreeMap::new();
        while heard.len() < FURNACES {
            let item = common::within(10, observer.next()).await.expect("items");
            if let Received::Event(alarm) = item.received {
                assert_eq!(item.hero, format!("furnace-{:03}", alarm.sequence), "each event names its HERO");
                heard.insert(item.hero, alarm.celsius);
            }
        }
        assert!(!heard.contains_key("oven"));

        // One joins, one leaves: the observer follows.
        let late = Arc::new(TestFurnace::default());
        let late_hero =
            server.share(Hero::new("furnace-late").interface(FurnaceServer::from_arc(late.clone()))).await.unwrap();
        // The late one is followed once discovery has reported it: emit until it is heard.
        let deadline = Instant::now() + Duration::from_secs(30);
        'heard: loop {
            assert!(Instant::now() < deadline, "the late furnace was never heard");
            late.overheated.emit(alarm(7)).await;
            if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(100), observer.next()).await {
                match item.received {
                    Received::Event(_) if item.hero == "furnace-late" => break 'heard,
                    other => panic!("nothing else was emitted: {other:?}"),
                }
            }
        }
        assert_eq!(observer.subscribed(), FURNACES + 1);
        let (gone, _) = furnaces.remove(0);
        gone.shutdown().await;
        while observer.subscribed() != FURNACES {
            assert!(Instant::now() < deadline, "still following {}", observer.subscribed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        late_hero.shutdown().await;
    });
}

#[test]
fn an_event_subscription_follows_its_hero_through_a_kill_and_a_restart_elsewhere() {
    in_private_network(|| async {
        use common::proto::FurnaceRemote;
        use heros::Received;
        use tokio_stream::StreamExt;

        let hero = HeroProcess::start("phoenix-furnace", &[]);
        assert!(hero.ready(), "{}", hero.first_line);
        let furnace = FurnaceRemote::connect("phoenix-furnace").await.unwrap();
        let mut readings = furnace.subscribe_readings().await.unwrap();
        furnace.heat(20.0).await.unwrap();
        let next = |item: Option<heros::Result<Received<_>>>| item.expect("the stream goes on").expect("no error");
        assert!(matches!(next(common::within(10, readings.next()).await), Received::Event(_)));

        hero.kill(); // SIGKILL: no goodbye
        assert!(matches!(next(common::within(10, readings.next()).await), Received::Interrupted { .. }));
        let reborn = HeroProcess::start("phoenix-furnace", &[]);
        assert!(reborn.ready(), "{}", reborn.first_line);
        // Found again by name, at its new port, and subscribed again: the gap is reported.
        match next(common::within(30, readings.next()).await) {
            Received::Resumed { after } => println!("MEASURE resubscribed_after_restart_ms={}", after.as_millis()),
            other => panic!("expected Resumed, got {other:?}"),
        }
        furnace.heat(21.0).await.unwrap();
        match next(common::within(10, readings.next()).await) {
            Received::Event(reading) => {
                assert_eq!((reading.celsius, reading.sequence), (21.0, 0), "the new HERO's first")
            }
            other => panic!("expected the new HERO's reading, got {other:?}"),
        }
    });
}
