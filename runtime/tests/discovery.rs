//! Discovery over real mDNS packets, each test inside a network namespace of its own that holds
//! only `lo`, so that no multicast leaves the machine.
//!
//! Run with `cargo nextest run -p heros-runtime --test discovery`: one process per test, which
//! the namespaces need. Under `cargo test` only the first test of the process runs; the others
//! say so and pass. Without the right to create namespaces (not root) every test says why it skips.
//!
//! The tests drive the process's discovery through `heros_runtime::discovery_testing`, a hook that
//! is not part of the API.

use std::collections::HashMap;
use std::future::Future;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use heros_runtime::discovery_testing::{self as discovery, Hook};
use heros_runtime::proto::HeroInfo;
use heros_runtime::{DiscoveryEvent, Error, Observer};

/// Generous: waiting on an event this long means it is not coming.
const WAIT: Duration = Duration::from_secs(15);

/// Set in a child process started by a test (see [`helper_child_process`]).
const CHILD_ENV: &str = "HEROS_TEST_DISCOVERY_CHILD";

static ENTERED: AtomicBool = AtomicBool::new(false);

/// Runs `test` on a fresh runtime inside a private network namespace, or says why it cannot.
fn in_private_network<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    // One process, one discovery, one namespace: only one test per process can run.
    if ENTERED.swap(true, Ordering::SeqCst) {
        eprintln!("skipping: another test already ran in this process; run with cargo nextest (one process per test)");
        return;
    }
    if let Err(e) = heros_testing::netns::enter_private_network() {
        ENTERED.store(false, Ordering::SeqCst);
        eprintln!("skipping: no private network namespace, and mDNS must not touch the real network: {e}");
        return;
    }
    // Built after entering, so that every runtime thread is inside the namespace.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(90), test()).await.expect("the test did not end within 90 s");
    });
}

fn hero(name: &str, realm: &str, interfaces: &[&str], tags: &[&str]) -> HeroInfo {
    HeroInfo {
        name: name.into(),
        realm: realm.into(),
        interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        metadata: HashMap::from([("room".to_owned(), "3".to_owned())]),
        protocol_version: 1,
        endpoints: vec![],
        secured: false,
    }
}

/// A port nothing else uses, as a server bound to port 0 would get.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind").local_addr().expect("addr").port()
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The next event of the observer about `name`, skipping others.
async fn next_about(observer: &mut Observer, name: &str) -> DiscoveryEvent {
    let wait = async {
        loop {
            let event = observer.next().await.expect("discovery stopped");
            if event.info().is_some_and(|info| info.name == name) {
                return event;
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| panic!("no event about '{name}' within {WAIT:?}"))
}

#[test]
fn advertise_then_resolve_by_name() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let port = free_port();
        let started = Instant::now();
        let specific = discovery
            .advertise(&hero("oven", "lab", &["examples.v1.Oven"], &["heater"]), port, LOCALHOST)
            .await
            .expect("advertise");
        let found = discovery.resolve("lab", "oven", WAIT).await.expect("resolve");
        eprintln!("advertise -> resolve (same process): {:?}", started.elapsed());
        assert_eq!(found.endpoints, vec![format!("http://127.0.0.1:{port}")]);
        assert_eq!((found.name.as_str(), found.realm.as_str()), ("oven", "lab"));
        assert_eq!(found.interfaces, vec!["examples.v1.Oven"]);
        assert_eq!(found.tags, vec!["heater"]);
        assert_eq!(found.metadata.get("room").map(String::as_str), Some("3"));
        assert_eq!(found.protocol_version, 1);
        assert_eq!(discovery.lookup("lab", "oven"), Some(found), "a known HERO is in the cache");

        // A server on 0.0.0.0 advertises the IPv4 addresses of the interfaces (here lo's).
        let any_v4 = discovery
            .advertise(&hero("any4", "lab", &[], &[]), port, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            .await
            .expect("advertise");
        let found = discovery.resolve("lab", "any4", WAIT).await.expect("resolve");
        assert_eq!(found.endpoints, vec![format!("http://127.0.0.1:{port}")]);

        // One on [::] takes both families: IPv4 first.
        let any_v6 = discovery
            .advertise(&hero("any6", "lab", &[], &[]), port, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            .await
            .expect("advertise");
        let found = discovery.resolve("lab", "any6", WAIT).await.expect("resolve");
        assert_eq!(found.endpoints[0], format!("http://127.0.0.1:{port}"), "{:?}", found.endpoints);
        assert!(found.endpoints[1..].iter().all(|e| e.starts_with("http://[")), "{:?}", found.endpoints);

        for advertisement in [specific, any_v4, any_v6] {
            advertisement.withdraw().await;
        }
    });
}

#[test]
fn the_records_on_the_wire_follow_the_contract() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let port = free_port();
        let _ad = discovery
            .advertise(
                &hero("oven", "lab", &["examples.v1.Oven", "examples.v1.Lamp"], &["heater", "room-3"]),
                port,
                LOCALHOST,
            )
            .await
            .expect("advertise");
        // A plain DNS-SD browser of the realm's subtype, as a client in another language would use.
        let daemon = mdns_sd::ServiceDaemon::new().expect("daemon");
        let events = daemon.browse("_lab._sub._heros._tcp.local.").expect("browse");
        let service = tokio::time::timeout(WAIT, async {
            loop {
                match events.recv_async().await.expect("browser") {
                    mdns_sd::ServiceEvent::ServiceResolved(service) => return service,
                    _ => continue,
                }
            }
        })
        .await
        .expect("the realm's subtype lists the HERO");
        assert_eq!(service.fullname, "oven@lab._heros._tcp.local.");
        assert_eq!(service.port, port);
        assert!(service.host.starts_with(&format!("heros-{}-", std::process::id())), "{}", service.host);
        let txt: HashMap<&str, &str> = service.txt_properties.iter().map(|p| (p.key(), p.val_str())).collect();
        let expected = HashMap::from([
            ("heros", "1"),
            ("name", "oven"),
            ("realm", "lab"),
            ("if", "examples.v1.Oven,examples.v1.Lamp"),
            ("tags", "heater,room-3"),
            ("m.room", "3"),
        ]);
        assert_eq!(txt, expected);
        let _ = daemon.shutdown();
    });
}

#[test]
fn an_unknown_name_times_out_listing_the_names_known_in_the_realm() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let port = free_port();
        let mut _ads = Vec::new();
        for (name, realm) in [("b", "lab"), ("a", "lab"), ("c", "elsewhere")] {
            _ads.push(discovery.advertise(&hero(name, realm, &[], &[]), port, LOCALHOST).await.expect("advertise"));
        }
        for (name, realm) in [("a", "lab"), ("b", "lab"), ("c", "elsewhere")] {
            discovery.resolve(realm, name, WAIT).await.expect("resolve");
        }
        let started = Instant::now();
        let error = discovery.resolve("lab", "ghost", Duration::from_millis(700)).await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(700));
        match &error {
            Error::DiscoveryTimeout { name, realm, waited, known } => {
                assert_eq!((name.as_str(), realm.as_str()), ("ghost", "lab"));
                assert_eq!(*waited, Duration::from_millis(700));
                assert_eq!(known, &["a", "b"], "sorted, and only the realm's");
            }
            other => panic!("expected DiscoveryTimeout, got {other:?}"),
        }
        assert!(error.to_string().contains("known there: a, b"), "{error}");
    });
}

#[test]
fn realms_do_not_see_each_other() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let _ad =
            discovery.advertise(&hero("probe", "alpha", &[], &[]), free_port(), LOCALHOST).await.expect("advertise");
        discovery.resolve("alpha", "probe", WAIT).await.expect("seen in its realm");

        let error = discovery.resolve("beta", "probe", Duration::from_millis(500)).await.unwrap_err();
        assert!(matches!(&error, Error::DiscoveryTimeout { known, .. } if known.is_empty()), "{error:?}");
        assert_eq!(discovery.lookup("beta", "probe"), None);

        assert!(Observer::new("beta").expect("observer").known().is_empty());
        let alpha: Vec<_> = Observer::new("alpha").expect("observer").known().into_iter().map(|h| h.name).collect();
        assert_eq!(alpha, vec!["probe"]);
        assert_eq!(Observer::all_realms().expect("observer").known().len(), 1);
        assert!(Observer::new("no.dots").is_err(), "realms are validated");
    });
}

#[test]
fn an_observer_sees_a_hero_come_and_leave_with_a_goodbye() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let mut observer = Observer::new("lab").expect("observer");
        let mut other_realm = Observer::new("other").expect("observer");
        assert!(observer.known().is_empty());

        let started = Instant::now();
        let ad = discovery.advertise(&hero("lamp", "lab", &[], &[]), free_port(), LOCALHOST).await.expect("advertise");
        match next_about(&mut observer, "lamp").await {
            DiscoveryEvent::Added(info) => assert_eq!(info.realm, "lab"),
            other => panic!("expected Added, got {other:?}"),
        }
        eprintln!("advertise -> Added: {:?}", started.elapsed());
        assert_eq!(observer.known().len(), 1);

        let started = Instant::now();
        ad.withdraw().await;
        loop {
            match next_about(&mut observer, "lamp").await {
                DiscoveryEvent::Removed(info) => {
                    assert_eq!(info.name, "lamp");
                    break;
                }
                DiscoveryEvent::Updated(_) => continue,
                other => panic!("expected Removed, got {other:?}"),
            }
        }
        eprintln!("withdraw -> Removed: {:?}", started.elapsed());
        assert!(observer.known().is_empty());
        assert_eq!(discovery.lookup("lab", "lamp"), None);

        // The observer of another realm heard nothing of it.
        let quiet = tokio::time::timeout(Duration::from_millis(200), other_realm.next()).await;
        assert!(quiet.is_err(), "an observer of realm 'other' saw {quiet:?}");
    });
}

#[test]
fn heros_are_listed_by_interface_and_by_tag() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let port = free_port();
        let heros = [
            hero("oven", "lab", &["examples.v1.Oven", "examples.v1.Thermometer"], &["heater", "room-3"]),
            hero("lamp", "lab", &["examples.v1.Lamp"], &["room-3"]),
            hero("probe", "lab", &["examples.v1.Thermometer"], &[]),
            hero("stranger", "elsewhere", &["examples.v1.Thermometer"], &["room-3"]),
        ];
        let mut _ads = Vec::new();
        for info in &heros {
            _ads.push(discovery.advertise(info, port, LOCALHOST).await.expect("advertise"));
        }
        for info in &heros {
            discovery.resolve(&info.realm, &info.name, WAIT).await.expect("resolve");
        }
        let observer = Observer::new("lab").expect("observer");
        let names = |heros: Vec<HeroInfo>| heros.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(names(observer.by_interface("examples.v1.Thermometer")), vec!["oven", "probe"]);
        assert_eq!(names(observer.by_interface("examples.v1.Lamp")), vec!["lamp"]);
        assert!(observer.by_interface("examples.v1.Nothing").is_empty());
        assert_eq!(names(observer.by_tag("room-3")), vec!["lamp", "oven"]);
        assert_eq!(names(observer.by_tag("heater")), vec!["oven"]);
        let everywhere = Observer::all_realms().expect("observer");
        assert_eq!(names(everywhere.by_tag("room-3")), vec!["stranger", "lamp", "oven"], "sorted by realm, name");
    });
}

#[test]
fn heros_interfaces_selects_the_interfaces_by_address() {
    in_private_network(|| async {
        // Read when discovery starts, which is next.
        std::env::set_var("HEROS_INTERFACES", "127.0.0.1");
        let discovery = discovery::start(None).expect("discovery");
        let _ad = discovery.advertise(&hero("near", "lab", &[], &[]), free_port(), LOCALHOST).await.expect("advertise");
        discovery.resolve("lab", "near", WAIT).await.expect("lo is selected by its address");
    });
}

#[test]
fn heros_interfaces_naming_no_interface_finds_nothing() {
    in_private_network(|| async {
        std::env::set_var("HEROS_INTERFACES", "nonexistent0");
        let discovery = discovery::start(None).expect("discovery");
        let _ad = discovery.advertise(&hero("near", "lab", &[], &[]), free_port(), LOCALHOST).await.expect("advertise");
        let error = discovery.resolve("lab", "near", Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(error, Error::DiscoveryTimeout { .. }), "{error:?}");
    });
}

/// A child process of a test, killed (SIGKILL) and reaped when dropped.
struct ChildProcess(Child);

impl ChildProcess {
    /// Re-runs this test binary as [`helper_child_process`] with `task`; it inherits the
    /// namespace of the calling thread.
    fn spawn(task: &str, stdout: Stdio) -> ChildProcess {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["helper_child_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, task)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .spawn()
            .expect("spawn the child");
        ChildProcess(child)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_hero_killed_without_goodbye_is_removed_within_the_ttl() {
    let ttl = Duration::from_secs(4);
    in_private_network(|| async {
        let _discovery = discovery::start(Some(ttl)).expect("discovery");
        let mut observer = Observer::new("lab").expect("observer");
        let _survivor = ChildProcess::spawn("advertise survivor lab", Stdio::null());
        assert!(matches!(next_about(&mut observer, "survivor").await, DiscoveryEvent::Added(_)));
        let mut victim = ChildProcess::spawn("advertise victim lab", Stdio::null());
        assert!(matches!(next_about(&mut observer, "victim").await, DiscoveryEvent::Added(_)));

        victim.0.kill().expect("SIGKILL");
        victim.0.wait().expect("reap");
        let killed = Instant::now();
        let removed = loop {
            let event = tokio::time::timeout(ttl + WAIT, observer.next()).await.expect("no Removed").expect("event");
            match event {
                DiscoveryEvent::Removed(info) if info.name == "victim" => break killed.elapsed(),
                DiscoveryEvent::Removed(info) => panic!("a living HERO was removed: {info:?}"),
                _ => {}
            }
        };
        eprintln!("SIGKILL -> Removed: {removed:?} (ttl {ttl:?})");
        assert!(removed <= ttl + Duration::from_secs(2), "removed after {removed:?}, ttl {ttl:?}");
        // The survivor was checked at least as often as the victim and answered each time.
        assert!(observer.known().iter().any(|h| h.name == "survivor"));
    });
}

#[test]
fn a_fresh_process_resolves_a_running_hero() {
    in_private_network(|| async {
        let discovery = discovery::start(None).expect("discovery");
        let port = free_port();
        let _ad = discovery.advertise(&hero("far", "lab", &[], &[]), port, LOCALHOST).await.expect("advertise");
        discovery.resolve("lab", "far", WAIT).await.expect("resolve");

        let child = ChildProcess::spawn("resolve far lab", Stdio::piped());
        let output = tokio::task::spawn_blocking(move || {
            let mut child = child;
            let mut out = String::new();
            child.0.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
            (child.0.wait().expect("wait"), out)
        })
        .await
        .expect("join");
        let (status, out) = output;
        assert!(status.success(), "the child failed: {out}");
        // libtest prints its own words on the same line.
        let line = out.split("RESOLVED ").nth(1).and_then(|rest| rest.lines().next());
        let line = line.unwrap_or_else(|| panic!("no result in: {out}"));
        eprintln!("fresh process, discovery start -> resolve: {line}");
        assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    });
}

/// Not a test: the body of the child processes the tests above start (it does nothing unless
/// `HEROS_TEST_DISCOVERY_CHILD` is set). `advertise <name> <realm>` advertises a HERO until its
/// stdin closes; `resolve <name> <realm>` prints `RESOLVED <time> <endpoints>`.
#[test]
fn helper_child_process() {
    let Ok(task) = std::env::var(CHILD_ENV) else { return };
    // Inherited from the parent; never create a fresh one (the parent could not see us) and
    // never run outside one.
    heros_testing::netns::check_private_network().expect("the child must run in the parent's private namespace");
    let words: Vec<&str> = task.split(' ').collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let discovery: Hook = discovery::start(None).expect("discovery");
        match words[..] {
            ["advertise", name, realm] => {
                let _ad =
                    discovery.advertise(&hero(name, realm, &[], &[]), free_port(), LOCALHOST).await.expect("advertise");
                tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await.ok();
            }
            ["resolve", name, realm] => {
                let info = discovery.resolve(realm, name, WAIT).await.expect("resolve");
                println!("RESOLVED {:?} {}", started.elapsed(), info.endpoints.join(","));
            }
            _ => panic!("unknown child task '{task}'"),
        }
    });
}
