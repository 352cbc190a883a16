//! Discovery through etcd, with real processes and a private etcd server (heros-testing's
//! `etcd`, Debian's `etcd-server`). Each test moves into a private network namespace of its own
//! (or builds routed hosts with `ip netns`), so neither etcd nor mDNS touches the machine's
//! network. Needs root and `etcd`; without them each test says why it skips.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::{in_private_network, HeroProcess};
use common::proto::TestObjectRemote;
use heros::{DiscoveryEvent, Error, Observer};
use heros_testing::etcd::Etcd;
use heros_testing::routed::RoutedHosts;

/// Not a test by itself: the HERO process the other tests start (see `common::process`).
#[test]
fn hero_process() {
    common::process::hero_process_role();
}

/// Not a test by itself: a client process that connects to `$HEROS_TEST_CLIENT` by name
/// (waiting `$HEROS_TEST_TIMEOUT_MS`), calls it and prints what it got.
#[test]
fn client_process() {
    let Ok(name) = std::env::var("HEROS_TEST_CLIENT") else { return };
    let timeout = std::env::var("HEROS_TEST_TIMEOUT_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(5000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        match TestObjectRemote::connect_timeout(&name, Duration::from_millis(timeout)).await {
            Ok(stub) => match stub.read_temp(0, 10).await {
                Ok(value) => println!("RESULT read_temp={value} endpoint={}", stub.target().endpoint()),
                Err(error) => println!("RESULT call failed: {error}"),
            },
            Err(error) => println!("RESULT connect failed: {error}"),
        }
    });
}

/// A private etcd, or why the test skips.
fn etcd() -> Option<Etcd> {
    match Etcd::start() {
        Ok(etcd) => Some(etcd),
        Err(why) => {
            println!("skipping: {why}");
            None
        }
    }
}

/// This process (the observer) and the HERO processes it starts use etcd alone at `etcd`.
fn use_etcd_only(etcd: &Etcd, ttl_secs: u64) -> Vec<(&'static str, String)> {
    let env = vec![
        ("HEROS_DISCOVERY", "etcd".to_owned()),
        ("HEROS_ETCD", etcd.url()),
        ("HEROS_ETCD_TTL", ttl_secs.to_string()),
    ];
    for (key, value) in &env {
        std::env::set_var(key, value);
    }
    env
}

fn start_hero(name: &str, env: &[(&'static str, String)]) -> HeroProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let hero = HeroProcess::start(name, &env);
    assert!(hero.ready(), "{name}: {}", hero.first_line);
    hero
}

/// The next event of `observer` about HERO `name` (outages included when `name` is empty).
async fn next_about(observer: &mut Observer, name: &str, within: Duration) -> Option<DiscoveryEvent> {
    tokio::time::timeout(within, async {
        loop {
            let event = observer.next().await.expect("discovery stopped");
            match event.info() {
                Some(info) if info.name == name => return event,
                None if name.is_empty() => return event,
                _ => {}
            }
        }
    })
    .await
    .ok()
}

#[test]
fn a_hero_behind_a_router_is_found_by_name_through_etcd_and_not_over_mdns() {
    let hosts = match RoutedHosts::create() {
        Ok(hosts) => hosts,
        Err(why) => return println!("skipping: cannot create routed hosts: {why}"),
    };
    // etcd runs on the router, reachable from both subnets.
    let etcd = match Etcd::start_in(Some(&hosts.router), "0.0.0.0".parse().unwrap()) {
        Ok(etcd) => etcd,
        Err(why) => return println!("skipping: {why}"),
    };
    let from = |router: &str| format!("http://{router}:{}", etcd.port());
    let this_binary = std::env::current_exe().unwrap();
    let hero = HeroProcess::start_with(
        RoutedHosts::command_on(&hosts.a, &this_binary),
        "routed_hero",
        &[("HEROS_DISCOVERY", "mdns,etcd"), ("HEROS_ETCD", &from(RoutedHosts::ROUTER_FROM_A))],
    );
    assert!(hero.ready(), "{}", hero.first_line);

    let client = |discovery: &str, timeout_ms: &str| {
        let mut client = RoutedHosts::command_on(&hosts.b, &this_binary);
        client
            .args(["client_process", "--exact", "--nocapture"])
            .env("HEROS_TEST_CLIENT", "routed_hero")
            .env("HEROS_TEST_TIMEOUT_MS", timeout_ms)
            .env("HEROS_DISCOVERY", discovery)
            .env("HEROS_ETCD", from(RoutedHosts::ROUTER_FROM_B));
        let started = Instant::now();
        let mut child = client.stdout(Stdio::piped()).spawn().unwrap();
        let result = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.find("RESULT ").map(|at| line[at..].to_owned()))
            .unwrap_or_else(|| "RESULT the client ended without a word".into());
        child.wait().unwrap();
        (result, started.elapsed())
    };
    let (result, took) = client("mdns,etcd", "5000");
    println!("MEASURE routed_fresh_process_connect_and_call_ms={:.1}", took.as_secs_f64() * 1e3);
    assert!(result.starts_with(&format!("RESULT read_temp=5 endpoint=http://{}:", RoutedHosts::A)), "{result}");
    // The control: mDNS alone does not cross the router, so it was etcd that found the HERO.
    let (result, _) = client("mdns", "1500");
    assert!(result.starts_with("RESULT connect failed"), "mDNS must not reach across the router: {result}");
    hero.leave();
}

#[test]
fn a_hero_that_leaves_is_removed_at_once_and_a_killed_one_within_the_lease() {
    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        let ttl = Duration::from_secs(3);
        let env = use_etcd_only(&etcd, ttl.as_secs());
        let mut observer = Observer::new("heros").unwrap();
        let leaver = start_hero("leaver", &env);
        let victim = start_hero("victim", &env);
        for name in ["leaver", "victim"] {
            let added = next_about(&mut observer, name, Duration::from_secs(5)).await;
            assert!(matches!(added, Some(DiscoveryEvent::Added(_))), "{name}: {added:?}");
        }
        let stub = TestObjectRemote::connect("victim").await.expect("found by name through etcd");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);

        let left = Instant::now();
        leaver.leave();
        let removed = next_about(&mut observer, "leaver", ttl).await;
        assert!(matches!(removed, Some(DiscoveryEvent::Removed(_))), "{removed:?}");
        println!("MEASURE etcd_leave_to_removed_ms={:.1}", left.elapsed().as_secs_f64() * 1e3);
        assert!(left.elapsed() < Duration::from_secs(1), "a goodbye deletes the key at once: {:?}", left.elapsed());

        let killed = Instant::now();
        victim.kill();
        // etcd checks expiries every 500 ms; allow that and some scheduling.
        let removed = next_about(&mut observer, "victim", ttl + Duration::from_secs(2)).await;
        assert!(matches!(removed, Some(DiscoveryEvent::Removed(_))), "not removed within the lease: {removed:?}");
        println!("MEASURE etcd_kill_to_removed_ms={:.1}", killed.elapsed().as_secs_f64() * 1e3);
        assert!(observer.known().is_empty());
    });
}

#[test]
fn an_etcd_outage_removes_nobody_alive_and_misses_nothing() {
    in_private_network(|| async {
        let Some(mut etcd) = etcd() else { return };
        let ttl = Duration::from_secs(4);
        let env = use_etcd_only(&etcd, ttl.as_secs());
        let mut observer = Observer::new("heros").unwrap();
        let survivor = start_hero("survivor", &env);
        let doomed = start_hero("doomed", &env);
        for name in ["survivor", "doomed"] {
            assert!(matches!(
                next_about(&mut observer, name, Duration::from_secs(5)).await,
                Some(DiscoveryEvent::Added(_))
            ));
        }
        let stub = TestObjectRemote::connect("survivor").await.unwrap();

        etcd.stop();
        let outage = next_about(&mut observer, "", Duration::from_secs(5)).await;
        assert!(matches!(outage, Some(DiscoveryEvent::Outage(ref why)) if why.contains(&etcd.url())), "{outage:?}");
        assert!(observer.outage().is_some());
        // Killed while etcd is away: its lease cannot run out before etcd is back.
        doomed.kill();
        let outage_ends = Instant::now() + Duration::from_secs(10);
        if let Ok(event) = tokio::time::timeout_at(outage_ends.into(), observer.next()).await {
            panic!("nothing may change during the outage: {event:?}");
        }
        assert_eq!(observer.known().len(), 2, "both stay listed while etcd is away");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0, "the stub kept its connection");

        etcd.restart().unwrap();
        // Registered before the observer's watch is back (it retries with backoff): the watch
        // resumes from its revision, so this one must not be missed.
        let newcomer = start_hero("newcomer", &env);
        let mut seen = Vec::new();
        let deadline = Instant::now() + ttl + Duration::from_secs(6);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), observer.next()).await {
            match &event {
                DiscoveryEvent::Removed(info) if info.name == "survivor" => {
                    panic!("a living HERO was removed: {info:?}")
                }
                _ => seen.push(event),
            }
            let names: Vec<_> = seen.iter().map(summary).collect();
            if names.contains(&"restored".to_owned())
                && names.contains(&"added newcomer".to_owned())
                && names.contains(&"removed doomed".to_owned())
            {
                break;
            }
        }
        let names: Vec<_> = seen.iter().map(summary).collect();
        assert!(names.contains(&"restored".to_owned()), "{names:?}");
        assert!(names.contains(&"added newcomer".to_owned()), "the newcomer was missed: {names:?}");
        assert!(names.contains(&"removed doomed".to_owned()), "the HERO killed meanwhile stays: {names:?}");
        // The survivor's lease is kept alive again: it outlives another lease time.
        let later =
            tokio::time::timeout(ttl + Duration::from_secs(1), next_about(&mut observer, "survivor", ttl * 2)).await;
        assert!(!matches!(later, Ok(Some(DiscoveryEvent::Removed(_)))), "{later:?}");
        let names: Vec<String> = observer.known().into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["newcomer", "survivor"]);
        survivor.leave();
        newcomer.leave();
    });
}

fn summary(event: &DiscoveryEvent) -> String {
    match event {
        DiscoveryEvent::Added(info) => format!("added {}", info.name),
        DiscoveryEvent::Updated(info) => format!("updated {}", info.name),
        DiscoveryEvent::Removed(info) => format!("removed {}", info.name),
        DiscoveryEvent::Outage(_) => "outage".into(),
        DiscoveryEvent::Restored => "restored".into(),
        _ => "other".into(),
    }
}

#[test]
fn heros_started_at_the_same_instant_with_one_name_cannot_both_win() {
    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        let env = use_etcd_only(&etcd, 5);
        for round in 0..3 {
            let name = format!("contested_{round}");
            // Every process shares at the same instant, a moment after all have started.
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap()
                + Duration::from_millis(1500);
            let mut env = env.clone();
            env.push(("HEROS_TEST_SHARE_AT", at.as_millis().to_string()));
            let racers: Vec<_> = (0..3)
                .map(|_| {
                    let (name, env) = (name.clone(), env.clone());
                    std::thread::spawn(move || {
                        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        HeroProcess::start(&name, &env)
                    })
                })
                .collect();
            let racers: Vec<HeroProcess> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            let winners = racers.iter().filter(|r| r.ready()).count();
            let lines: Vec<&str> = racers.iter().map(|r| r.first_line.as_str()).collect();
            assert_eq!(winners, 1, "round {round}: exactly one may win: {lines:?}");
            for loser in racers.iter().filter(|r| !r.ready()) {
                assert!(
                    loser.first_line.contains(&format!("a HERO named '{name}' is already alive in realm 'heros'")),
                    "{}",
                    loser.first_line
                );
            }
        }
    });
}

#[test]
fn an_unreachable_etcd_fails_sharing_clearly_and_observers_report_it() {
    in_private_network(|| async {
        // Nothing listens on port 1 of this fresh namespace.
        std::env::set_var("HEROS_DISCOVERY", "etcd");
        std::env::set_var("HEROS_ETCD", "http://127.0.0.1:1");
        let mut observer = Observer::new("heros").unwrap();
        let outage = next_about(&mut observer, "", Duration::from_secs(5)).await;
        assert!(
            matches!(outage, Some(DiscoveryEvent::Outage(ref why)) if why.contains("http://127.0.0.1:1")),
            "{outage:?}"
        );

        let started = Instant::now();
        let Err(error) = heros::share("lonely", common::proto::TestObjectServer::new(common::TestHero::new(1))).await
        else {
            panic!("sharing needs etcd to decide the name");
        };
        assert!(started.elapsed() < Duration::from_secs(8), "no hang: {:?}", started.elapsed());
        assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
        assert!(error.to_string().contains("etcd at http://127.0.0.1:1"), "{error}");

        let error = TestObjectRemote::connect_timeout("lonely", Duration::from_millis(500)).await.unwrap_err();
        assert!(matches!(error, Error::DiscoveryTimeout { .. }), "{error:?}");
    });
}
