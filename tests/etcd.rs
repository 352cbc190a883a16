//! Discovery through etcd, with real processes and a private etcd server (heros-testing's
//! `etcd`, Debian's `etcd-server`). Each test moves into a private network namespace of its own
//! (or builds routed hosts with `ip netns`), so neither etcd nor mDNS touches the machine's
//! network. Needs root and `etcd`; without them each test says why it skips.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
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

/// Not a test by itself: the client process on another host (see `common::process`).
#[test]
fn client_process() {
    common::process::client_process_role();
}

/// Not a test by itself: an observer process on another host. It observes realm `heros` when
/// `HEROS_TEST_OBSERVE` is set, and prints one `EVENT <summary>` line per event until killed.
#[test]
fn observer_process() {
    if std::env::var_os("HEROS_TEST_OBSERVE").is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut observer = Observer::new("heros").unwrap();
        println!("EVENT started");
        while let Some(event) = observer.next().await {
            println!("EVENT {}", summary(&event));
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

/// Routed hosts with etcd on the router, reachable from both subnets; or why the test skips.
fn routed_hosts_with_etcd() -> Option<(RoutedHosts, Etcd)> {
    let hosts = RoutedHosts::create().map_err(|why| println!("skipping: cannot create routed hosts: {why}")).ok()?;
    let etcd = Etcd::start_in(Some(&hosts.router), "0.0.0.0".parse().unwrap())
        .map_err(|why| println!("skipping: {why}"))
        .ok()?;
    Some((hosts, etcd))
}

#[test]
fn a_hero_behind_a_router_is_found_by_name_through_etcd_and_not_over_mdns() {
    let Some((hosts, etcd)) = routed_hosts_with_etcd() else { return };
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
            .env("HEROS_TEST_TIMEOUT_MS", timeout_ms)
            .env("HEROS_DISCOVERY", discovery)
            .env("HEROS_ETCD", from(RoutedHosts::ROUTER_FROM_B));
        let started = Instant::now();
        let result = common::process::client_result(client, "routed_hero");
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
        // Registered while the observer's watch may still wait to retry; the resume from the
        // watch's revision itself is what `an_observer_cut_off_from_etcd_...` proves.
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
fn an_observer_cut_off_from_etcd_catches_up_on_what_happened_meanwhile() {
    // The observer on B loses its link to etcd (on the router) while HEROs on A come and go.
    let Some((hosts, etcd)) = routed_hosts_with_etcd() else { return };
    let ttl = "3";
    let on_a = |name: &str| {
        let etcd_url = format!("http://{}:{}", RoutedHosts::ROUTER_FROM_A, etcd.port());
        let env = [("HEROS_DISCOVERY", "etcd"), ("HEROS_ETCD", etcd_url.as_str()), ("HEROS_ETCD_TTL", ttl)];
        let hero =
            HeroProcess::start_with(RoutedHosts::command_on(&hosts.a, std::env::current_exe().unwrap()), name, &env);
        assert!(hero.ready(), "{name}: {}", hero.first_line);
        hero
    };
    let mut observer = RoutedHosts::command_on(&hosts.b, std::env::current_exe().unwrap());
    observer
        .args(["observer_process", "--exact", "--nocapture"])
        .env("HEROS_TEST_OBSERVE", "1")
        .env("HEROS_DISCOVERY", "etcd")
        .env("HEROS_ETCD", format!("http://{}:{}", RoutedHosts::ROUTER_FROM_B, etcd.port()));
    let mut observer = KillOnDrop(observer.stdout(Stdio::piped()).spawn().unwrap());
    let (events, receiver) = mpsc::channel();
    let stdout = observer.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find("EVENT ") {
                let _ = events.send(line[at + 6..].to_owned());
            }
        }
    });
    let mut seen = Seen { receiver, unexpected: Vec::new() };
    let mut expect = |what: &str, within: Duration| seen.expect(what, within);
    expect("started", Duration::from_secs(10));
    let survivor = on_a("survivor");
    let doomed = on_a("doomed");
    expect("added survivor", Duration::from_secs(5));
    expect("added doomed", Duration::from_secs(5));

    let link = |state: &str| {
        let device = format!("rb{}", std::process::id());
        let status = std::process::Command::new("ip").args(["-n", &hosts.b, "link", "set", &device, state]).status();
        assert!(status.is_ok_and(|s| s.success()), "ip link set {device} {state}");
    };
    link("down");
    // HTTP/2 pings notice the silent link within about two seconds.
    expect("outage", Duration::from_secs(6));
    doomed.kill();
    let newcomer = on_a("newcomer");
    // Long enough for the doomed HERO's lease to expire in etcd while B cannot see it.
    std::thread::sleep(Duration::from_secs(5));
    link("up");
    // In any order: the watch resumes from its revision and reports what it missed.
    for what in ["restored", "added newcomer", "removed doomed"] {
        expect(what, Duration::from_secs(10));
    }
    survivor.leave();
    newcomer.leave();
}

/// The events an observer process printed, and those read but not expected yet.
struct Seen {
    receiver: mpsc::Receiver<String>,
    unexpected: Vec<String>,
}

impl Seen {
    /// Waits for `what`, or finds it among the events read earlier; fails on a removal of the
    /// survivor, which stays alive throughout.
    fn expect(&mut self, what: &str, within: Duration) {
        if let Some(at) = self.unexpected.iter().position(|event| event == what) {
            self.unexpected.remove(at);
            return;
        }
        let deadline = Instant::now() + within;
        loop {
            match self.receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) if event == what => return,
                Ok(event) if event == "removed survivor" => panic!("a living HERO was removed"),
                Ok(event) => self.unexpected.push(event),
                Err(_) => panic!("no '{what}' within {within:?}; saw {:?}", self.unexpected),
            }
        }
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

#[test]
fn an_etcd_that_takes_only_the_realm_s_certificates_serves_discovery_over_tls() {
    use heros::security::realm;
    in_private_network(|| async {
        let dir = std::env::temp_dir().join(format!("heros-etcd-realm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        realm::init(&dir).unwrap();
        // etcd's certificate comes from the realm CA like any server's.
        let etcd_credentials = realm::issue(&dir, "etcd", heros::Role::Operate, None).unwrap().dir;
        let hero_credentials = realm::issue(&dir, "hero", heros::Role::Operate, None).unwrap().dir;
        let etcd = match Etcd::start_tls(&etcd_credentials) {
            Ok(etcd) => etcd,
            Err(why) => return println!("skipping: {why}"),
        };
        assert!(etcd.url().starts_with("https://"));
        let credentials = hero_credentials.to_str().unwrap();
        let env = [
            ("HEROS_DISCOVERY", "etcd"),
            ("HEROS_ETCD", etcd.url().leak() as &str),
            ("HEROS_CREDENTIALS", credentials),
        ];
        let hero = HeroProcess::start("tls_hero", &env);
        assert!(hero.ready(), "{}", hero.first_line);

        // Another realm's certificate is refused by etcd: sharing fails, clearly.
        let other = std::env::temp_dir().join(format!("heros-etcd-other-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&other);
        realm::init(&other).unwrap();
        let intruder = realm::issue(&other, "intruder", heros::Role::Operate, None).unwrap().dir;
        let refused =
            HeroProcess::start("intruder", &[env[0], env[1], ("HEROS_CREDENTIALS", intruder.to_str().unwrap())]);
        assert!(
            refused.first_line.starts_with("ERROR") && refused.first_line.contains("etcd at https://"),
            "{}",
            refused.first_line
        );
        // No credentials at all: a configuration error that says what is missing.
        let bare = HeroProcess::start("bare", &env[..2]);
        assert!(bare.first_line.contains("HEROS_CREDENTIALS is not set"), "{}", bare.first_line);

        for (key, value) in env {
            std::env::set_var(key, value);
        }
        let stub = TestObjectRemote::connect_timeout("tls_hero", Duration::from_secs(5))
            .await
            .expect("found through etcd over TLS");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        hero.leave();
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    });
}

#[test]
fn an_event_observer_follows_heros_found_through_etcd_and_keeps_them_during_an_outage() {
    use std::sync::Arc;

    use common::lab::TestFurnace;
    use common::proto::{FurnaceRemote, FurnaceServer};
    use heros::{Hero, HeroFilter, Received, Server};

    in_private_network(|| async {
        let Some(mut etcd) = etcd() else { return };
        use_etcd_only(&etcd, 4);
        // Over loopback, as from another process: the subscriptions are real connections.
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let server = Server::builder().start().await.unwrap();
        let mut furnaces = Vec::new();
        for n in 0..3 {
            let furnace = Arc::new(TestFurnace::default());
            let hero = Hero::new(format!("furnace-{n}")).interface(FurnaceServer::from_arc(furnace.clone()));
            furnaces.push((server.share(hero).await.unwrap(), furnace));
        }
        let mut observer = FurnaceRemote::observe_overheated("heros", HeroFilter::any()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while observer.subscribed() < 3 {
            assert!(Instant::now() < deadline, "following {} of 3 furnaces", observer.subscribed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let alarm =
            |n: u64| common::proto::Alarm { celsius: 100.0, limit: 80.0, sequence: n, payload: Default::default() };
        let mut hear_all = async |round: u64| {
            for (n, (_, furnace)) in furnaces.iter().enumerate() {
                furnace.overheated.emit(alarm(round * 10 + n as u64)).await;
            }
            let mut heard = std::collections::BTreeSet::new();
            while heard.len() < 3 {
                let item = common::within(5, observer.next()).await.expect("items");
                if let Received::Event(alarm) = item.received {
                    heard.insert(alarm.sequence);
                }
            }
            heard
        };
        assert_eq!(hear_all(0).await, [0, 1, 2].into());
        etcd.stop();
        // Longer than the lease: nobody is dropped, events still come.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(hear_all(1).await, [10, 11, 12].into());
        assert_eq!(observer.subscribed(), 3, "an outage removes nobody");
        etcd.restart().unwrap();
    });
}

#[test]
fn an_unreachable_endpoint_of_the_cluster_is_passed_over() {
    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        // The first endpoint listens nowhere (port 1 of a fresh namespace): every request that
        // finds it so moves on to the next.
        let endpoints = format!("http://127.0.0.1:1,{}", etcd.url());
        let env = [("HEROS_DISCOVERY", "etcd"), ("HEROS_ETCD", endpoints.as_str())];
        let hero = HeroProcess::start("fallback", &env);
        assert!(hero.ready(), "{}", hero.first_line);
        for (key, value) in env {
            std::env::set_var(key, value);
        }
        let stub = TestObjectRemote::connect_timeout("fallback", Duration::from_secs(5)).await.expect("found");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        hero.leave();
    });
}
