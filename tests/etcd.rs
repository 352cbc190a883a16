//! Discovery through etcd, with real processes and a private etcd server (heros-testing's
//! `etcd`, Debian's `etcd-server`). Each test moves into a private network namespace of its own
//! (or builds routed hosts with `ip netns`), so neither etcd nor mDNS touches the machine's
//! network. Needs root (without it each test says why it skips, as the mDNS tests do) and `etcd`:
//! without etcd the tests fail, as CI must never pass without running them, unless
//! `HEROS_TESTS_ALLOW_SKIP=1` lets them skip (`heros_testing::skip_or_fail`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::process::{in_private_network, HeroProcess};
use common::proto::TestObjectRemote;
use heros::{DiscoveryEvent, Error, EtcdRegistration, Observer};
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

/// A private etcd; `None` (the test skips) only when etcd is not installed and
/// `HEROS_TESTS_ALLOW_SKIP=1` allows that.
fn etcd() -> Option<Etcd> {
    installed(Etcd::start())
}

/// The etcd `started`, or the test fails; or `None` (skip) when it is not installed and
/// `HEROS_TESTS_ALLOW_SKIP=1` allows that. An installed etcd that does not start always fails.
fn installed(started: std::io::Result<Etcd>) -> Option<Etcd> {
    match started {
        Ok(etcd) => Some(etcd),
        Err(why) if why.kind() == std::io::ErrorKind::NotFound => {
            heros_testing::skip_or_fail(why);
            None
        }
        Err(why) => panic!("{why}"),
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

/// Shares a test HERO `name` from this process (reading 5.0), through `heros::share`.
async fn share_here(name: &str) -> heros::Result<heros::LocalHero> {
    heros::share(name, common::proto::TestObjectServer::new(common::TestHero::new(5))).await
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
    let etcd = installed(Etcd::start_in(Some(&hosts.router), "0.0.0.0".parse().unwrap()))?;
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

/// A HERO process on host A of `hosts`, registered in `etcd` (on the router) with lease `ttl`.
fn hero_on_a(hosts: &RoutedHosts, etcd: &Etcd, name: &str, ttl: &str) -> HeroProcess {
    let etcd_url = format!("http://{}:{}", RoutedHosts::ROUTER_FROM_A, etcd.port());
    let env = [("HEROS_DISCOVERY", "etcd"), ("HEROS_ETCD", etcd_url.as_str()), ("HEROS_ETCD_TTL", ttl)];
    let hero = HeroProcess::start_with(RoutedHosts::command_on(&hosts.a, std::env::current_exe().unwrap()), name, &env);
    assert!(hero.ready(), "{name}: {}", hero.first_line);
    hero
}

/// An observer process on host B, through `etcd` (on the router), and the events it prints.
fn observer_on_b(hosts: &RoutedHosts, etcd: &Etcd) -> (KillOnDrop, Seen) {
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
    seen.expect("started", Duration::from_secs(10));
    (observer, seen)
}

/// Takes host `host`'s link to the router down or up (`state`); `device` is its name there
/// (`ra<pid>` on A, `rb<pid>` on B).
fn set_link(host: &str, device: &str, state: &str) {
    let device = format!("{device}{}", std::process::id());
    let status = std::process::Command::new("ip").args(["-n", host, "link", "set", &device, state]).status();
    assert!(status.is_ok_and(|s| s.success()), "ip link set {device} {state}");
}

#[test]
fn an_observer_cut_off_from_etcd_catches_up_on_what_happened_meanwhile() {
    // The observer on B loses its link to etcd (on the router) while HEROs on A come and go.
    let Some((hosts, etcd)) = routed_hosts_with_etcd() else { return };
    let (_observer, mut seen) = observer_on_b(&hosts, &etcd);
    let mut expect = |what: &str, within: Duration| seen.expect(what, within);
    let survivor = hero_on_a(&hosts, &etcd, "survivor", "3");
    let doomed = hero_on_a(&hosts, &etcd, "doomed", "3");
    expect("added survivor", Duration::from_secs(5));
    expect("added doomed", Duration::from_secs(5));

    set_link(&hosts.b, "rb", "down");
    // HTTP/2 pings notice the silent link within about two seconds.
    expect("outage", Duration::from_secs(6));
    doomed.kill();
    let newcomer = hero_on_a(&hosts, &etcd, "newcomer", "3");
    // Long enough for the doomed HERO's lease to expire in etcd while B cannot see it.
    std::thread::sleep(Duration::from_secs(5));
    set_link(&hosts.b, "rb", "up");
    // In any order: the watch resumes from its revision and reports what it missed.
    for what in ["restored", "added newcomer", "removed doomed"] {
        expect(what, Duration::from_secs(10));
    }
    survivor.leave();
    newcomer.leave();
}

#[test]
fn a_hero_cut_off_from_etcd_longer_than_its_lease_registers_again() {
    // etcd stays up; the HERO's host A loses its link, so etcd lets its lease expire. (Stopping
    // etcd instead would not do: etcd renews every lease when it starts again.)
    let Some((hosts, etcd)) = routed_hosts_with_etcd() else { return };
    let (_observer, mut seen) = observer_on_b(&hosts, &etcd);
    let ttl = Duration::from_secs(2);
    let hero = hero_on_a(&hosts, &etcd, "cut_off", &ttl.as_secs().to_string());
    seen.expect("added cut_off", Duration::from_secs(5));

    set_link(&hosts.a, "ra", "down");
    // etcd checks expiries every 500 ms; allow that and some scheduling.
    seen.expect("removed cut_off", ttl + Duration::from_secs(3));
    set_link(&hosts.a, "ra", "up");
    let back = Instant::now();
    // The keep-alive finds its lease gone: a new lease, and the key put back.
    seen.expect("added cut_off", Duration::from_secs(10));
    println!("MEASURE etcd_link_back_to_hero_listed_again_ms={:.1}", back.elapsed().as_secs_f64() * 1e3);
    // Kept alive again: it outlives two more lease times.
    let later = seen.receiver.recv_timeout(ttl * 2);
    assert!(!matches!(later, Ok(ref event) if event == "removed cut_off"), "{later:?}");
    hero.leave();
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

/// Polls `hero`'s etcd registration until `wanted` holds, at most `within`; returns the last.
async fn registration_until(
    hero: &heros::LocalHero,
    within: Duration,
    wanted: impl Fn(&EtcdRegistration) -> bool,
) -> Option<EtcdRegistration> {
    let deadline = Instant::now() + within;
    loop {
        let now = hero.etcd_registration();
        if now.as_ref().is_some_and(&wanted) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_hero_shared_before_etcd_starts_serves_at_once_and_is_registered_when_etcd_comes() {
    in_private_network(|| async {
        // etcd's port is chosen, but etcd does not run yet.
        let Some(mut etcd) = installed(Etcd::reserve()) else { return };
        use_etcd_only(&etcd, 5);
        // Over loopback, as from another process: "callable" means through its address.
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let mut observer = Observer::new("heros").unwrap();
        let outage = next_about(&mut observer, "", Duration::from_secs(5)).await;
        assert!(matches!(outage, Some(DiscoveryEvent::Outage(ref why)) if why.contains(&etcd.url())), "{outage:?}");

        let started = Instant::now();
        let hero = share_here("patient").await.expect("sharing does not need etcd");
        // Generous: an unreachable etcd answers at once (connection refused); sharing used to
        // wait 4 s for it and then fail.
        assert!(started.elapsed() < Duration::from_secs(3), "sharing waited for etcd: {:?}", started.elapsed());
        let pending = hero.etcd_registration();
        assert!(
            matches!(pending, Some(EtcdRegistration::Pending { ref why }) if why.contains(&etcd.url())),
            "{pending:?}"
        );
        let stub = TestObjectRemote::connect(&hero.url()).await.expect("callable by address at once");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        let error = TestObjectRemote::connect_timeout("patient", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(error, Error::DiscoveryTimeout { .. }), "not in etcd yet: {error:?}");

        etcd.restart().unwrap();
        let back = Instant::now();
        let added = next_about(&mut observer, "patient", Duration::from_secs(8)).await;
        assert!(matches!(added, Some(DiscoveryEvent::Added(_))), "registered once etcd answers: {added:?}");
        println!("MEASURE etcd_back_to_hero_listed_ms={:.1}", back.elapsed().as_secs_f64() * 1e3);
        let registered =
            registration_until(&hero, Duration::from_secs(2), |r| *r == EtcdRegistration::Registered).await;
        assert_eq!(registered, Some(EtcdRegistration::Registered));
        let by_name = TestObjectRemote::connect_timeout("patient", Duration::from_secs(2)).await.expect("by name");
        assert_eq!(by_name.read_temp(0, 10).await.unwrap(), 5.0);
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0, "the first stub kept its connection");

        hero.shutdown().await;
        let removed = next_about(&mut observer, "patient", Duration::from_secs(3)).await;
        assert!(matches!(removed, Some(DiscoveryEvent::Removed(_))), "{removed:?}");
    });
}

/// A HERO that stops while etcd does not answer does not wait for it: its key goes with the
/// lease. (It waited for its delete to time out: 2.0 s here, up to 3 s at each etcd endpoint.)
#[test]
fn a_hero_that_stops_while_etcd_does_not_answer_does_not_wait_for_it() {
    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        use_etcd_only(&etcd, 3);
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let hero = share_here("stoic").await.unwrap();
        let registered =
            registration_until(&hero, Duration::from_secs(5), |r| *r == EtcdRegistration::Registered).await;
        assert_eq!(registered, Some(EtcdRegistration::Registered));

        // Frozen, etcd takes connections but answers nothing (a hung server, a cut network).
        let pid = etcd.pid().unwrap() as libc::pid_t;
        // SAFETY: kill(2) with a pid and a signal number; no memory is shared.
        #[allow(unsafe_code)]
        let signal = |signal| assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        signal(libc::SIGSTOP);
        // This process learns that etcd does not answer: a HERO shared now is pending.
        let later = share_here("later").await.unwrap();
        assert!(matches!(later.etcd_registration(), Some(EtcdRegistration::Pending { .. })));

        let started = Instant::now();
        hero.shutdown().await;
        let took = started.elapsed();
        signal(libc::SIGCONT);
        assert!(took < Duration::from_millis(1500), "stopping waited for etcd: {took:?}");
        println!("MEASURE shutdown_during_outage_ms={:.1}", took.as_secs_f64() * 1e3);
        later.shutdown().await;
    });
}

#[test]
fn a_name_taken_while_a_hero_could_not_reach_etcd_is_a_visible_conflict_until_it_is_free() {
    in_private_network(|| async {
        let Some(mut etcd) = etcd() else { return };
        let env = use_etcd_only(&etcd, 3);
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let mut observer = Observer::new("heros").unwrap();
        let first = start_hero("twin", &env);
        assert!(matches!(
            next_about(&mut observer, "twin", Duration::from_secs(5)).await,
            Some(DiscoveryEvent::Added(_))
        ));
        let first_endpoints = observer.known()[0].endpoints.clone();

        // This process cannot ask etcd who holds the name: it shares, pending.
        etcd.stop();
        let second = share_here("twin").await.expect("sharing does not need etcd");
        assert!(matches!(second.etcd_registration(), Some(EtcdRegistration::Pending { .. })));
        // etcd keeps (renews) the leases across its restart: the first HERO still holds the name.
        etcd.restart().unwrap();
        let conflict =
            registration_until(&second, Duration::from_secs(8), |r| matches!(r, EtcdRegistration::Conflict { .. }))
                .await;
        assert_eq!(conflict, Some(EtcdRegistration::Conflict { holder: first_endpoints.clone() }));
        // The realm lists one 'twin', the first; the second still serves at its address.
        let listed: Vec<_> = observer.known().into_iter().map(|h| h.endpoints).collect();
        assert_eq!(listed, [first_endpoints]);
        let stub = TestObjectRemote::connect(&second.url()).await.unwrap();
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        assert_eq!(stub.target().endpoint(), second.info().endpoints[0]);

        // The name is free again: the second takes it (at its next keep-alive, a third of the lease).
        first.leave();
        let registered =
            registration_until(&second, Duration::from_secs(5), |r| *r == EtcdRegistration::Registered).await;
        assert_eq!(registered, Some(EtcdRegistration::Registered));
        let deadline = Instant::now() + Duration::from_secs(3);
        while observer.known().first().map(|h| &h.endpoints) != Some(&second.info().endpoints) {
            assert!(Instant::now() < deadline, "the second 'twin' is not listed: {:?}", observer.known());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        second.shutdown().await;
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
        let Some(etcd) = installed(Etcd::start_tls(&etcd_credentials)) else { return };
        assert!(etcd.url().starts_with("https://"));
        let credentials = hero_credentials.to_str().unwrap();
        let env = [
            ("HEROS_DISCOVERY", "etcd"),
            ("HEROS_ETCD", etcd.url().leak() as &str),
            ("HEROS_CREDENTIALS", credentials),
        ];
        let hero = HeroProcess::start("tls_hero", &env);
        assert!(hero.ready(), "{}", hero.first_line);

        // Another realm's credentials: the TLS handshake fails (neither side trusts the other's CA),
        // and sharing fails on it, clearly, rather than retry what cannot succeed.
        let other = std::env::temp_dir().join(format!("heros-etcd-other-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&other);
        realm::init(&other).unwrap();
        let intruder = realm::issue(&other, "intruder", heros::Role::Operate, None).unwrap().dir;
        let refused =
            HeroProcess::start("intruder", &[env[0], env[1], ("HEROS_CREDENTIALS", intruder.to_str().unwrap())]);
        assert!(
            refused.first_line.starts_with("ERROR unauthenticated: etcd at https://")
                && refused.first_line.contains("TLS"),
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

#[test]
fn a_datasource_observer_receives_readings_of_a_datasource_found_through_etcd_only() {
    use heros::datasource::{Boundaries, DataValue, DatasourceObserver, DatasourceServer, PolledDatasource};
    use heros::{Hero, HeroFilter, Server};

    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        use_etcd_only(&etcd, 4);
        // Over loopback, as from another process: the subscription is a real connection.
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let server = Server::builder().start().await.unwrap();
        let source = PolledDatasource::new(Boundaries::new().range("temperature", "ok", 15.0, 25.0));
        let hero = Hero::new("thermometer").interface(DatasourceServer::from_arc(source.clone()));
        let hero = server.share(hero).await.unwrap();
        assert_eq!(hero.etcd_registration(), Some(EtcdRegistration::Registered));
        let poller = source.start(Duration::from_millis(50), || async {
            vec![DataValue { id: "temperature".into(), value: 21.5, unit: "°C".into(), ..Default::default() }]
        });

        let mut observer = DatasourceObserver::new("heros", HeroFilter::any()).unwrap();
        let (name, set) = common::within(10, observer.next()).await.expect("a reading");
        assert_eq!(name, "thermometer");
        assert_eq!(set.values.len(), 1);
        assert_eq!((set.values[0].value, set.values[0].inbound.as_str()), (21.5, "ok"));
        assert_eq!(observer.subscribed(), 1);
        poller.abort();
        hero.shutdown().await;
    });
}

#[test]
fn observers_stubs_and_event_observers_of_one_realm_share_one_etcd_watch() {
    use common::proto::{FurnaceRemote, FurnaceServer};
    use heros::datasource::DatasourceObserver;
    use heros::{Hero, HeroFilter, Server};

    in_private_network(|| async {
        let Some(etcd) = etcd() else { return };
        use_etcd_only(&etcd, 4);
        std::env::set_var("HEROS_IN_PROCESS", "off");
        let server = Server::builder().start().await.unwrap();
        let hero = Hero::new("watched")
            .interface(common::proto::TestObjectServer::new(common::TestHero::new(5)))
            .interface(FurnaceServer::new(common::lab::TestFurnace::default()));
        let hero = server.share(hero).await.unwrap();

        let observer = Observer::new("heros").unwrap();
        assert_eq!(observer.etcd_watches(), 1, "the observer's");
        let stub = TestObjectRemote::connect("watched").await.expect("found by name through etcd");
        assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
        let events = FurnaceRemote::observe_overheated("heros", HeroFilter::any()).unwrap();
        let _datasources = DatasourceObserver::new("heros", HeroFilter::any()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while events.subscribed() < 1 {
            assert!(Instant::now() < deadline, "the event observer found no furnace through etcd");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(observer.etcd_watches(), 1, "one watch per process and realm");

        let other = Observer::new("other").unwrap();
        assert_eq!(other.etcd_watches(), 2, "a second realm, a second watch");
        hero.shutdown().await;
    });
}
