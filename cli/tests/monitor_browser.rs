//! `heros monitor` in a real browser: Debian's headless Chromium driven by playwright-core
//! (`browser/monitor_test.js`), against a HERO in a process of its own and the monitor, all in
//! a private network namespace with real mDNS. The script does what a person would (see the
//! HERO appear, set an attribute, call methods, see events, kill the HERO and see it go, start
//! it again and see the page follow it), takes
//! the screenshot of docs/monitor.png, and measures the page's load time and how long an
//! attribute change takes to show (printed as `MEASURE` lines).
//!
//! `browser/setup.sh` installs chromium, node and playwright-core (under the target folder) when
//! they are missing, so `cargo nextest run` alone sets everything up; a failing setup fails the
//! test. `HEROS_MONITOR_SCREENSHOT=docs/monitor.png` also writes the screenshot there.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::monitor::Monitor;
use common::proto::{FurnaceServer, TestObjectServer};
use common::*;
use heros::datasource::{Boundaries, DataValue, DatasourceServer, PolledDatasource};

/// The whole browser script may take this long.
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);
/// The name of the HERO the script kills.
const HERO: &str = "lab-oven";

/// Not a test by itself: the HERO process of the browser test (a TestObject, a Furnace and a
/// Datasource),
/// when `HEROS_MONITOR_TEST_HERO` names it. Prints `READY`, serves until killed.
#[test]
fn hero_process() {
    let Ok(name) = std::env::var("HEROS_MONITOR_TEST_HERO") else { return };
    runtime().block_on(async {
        let thing = Thing { testme: heros::Attribute::new(5), firmware: heros::Attribute::new("1.0.0".to_owned()) };
        // A datasource too, for the plot: a temperature that swings, four readings a second.
        let source = PolledDatasource::new(Boundaries::new().range("temperature", "ok", 18.0, 24.0));
        let mut tick = 0.0_f64;
        let _polling = source.start(Duration::from_millis(250), move || {
            tick += 1.0;
            let celsius = 21.0 + 3.0 * (tick / 3.0).sin();
            std::future::ready(vec![DataValue {
                id: "temperature".into(),
                value: celsius,
                unit: "°C".into(),
                ..Default::default()
            }])
        });
        let hero = heros::Hero::new(&name)
            .tag("lab")
            .tag("furnace")
            .metadata("room", "B1.04")
            .interface(TestObjectServer::new(thing))
            .interface(FurnaceServer::new(Oven::default()))
            .interface(DatasourceServer::from_arc(source.clone()));
        let server = heros::Server::global().await.expect("the HERO process's server starts");
        let hero = server.share(hero).await.expect("shared");
        println!("READY {}", hero.url());
        std::future::pending::<()>().await;
    });
}

/// The HERO process, killed when dropped if the script did not kill it.
struct HeroProcess(Child);

impl HeroProcess {
    fn start() -> HeroProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["hero_process", "--exact", "--nocapture"])
            .env("HEROS_MONITOR_TEST_HERO", HERO)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest may print its own words before ours on the same line.
        let ready = lines.map_while(Result::ok).find(|line| line.contains("READY "));
        assert!(ready.is_some(), "the HERO process did not start");
        HeroProcess(child)
    }
}

impl Drop for HeroProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `browser/setup.sh` into the target folder: node_modules for NODE_PATH. Blocking.
fn install() -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("monitor-browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/setup.sh");
    let output = Command::new("bash").arg(&script).arg(&folder).output().expect("bash runs setup.sh");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    folder.join("node_modules")
}

#[test]
fn the_monitor_page_shows_a_hero_live_in_a_real_browser() {
    // npm and apt may need the registries: install before leaving the real network.
    let node_modules = install();
    in_private_network(|| async {
        // Two HEROs in this process too, so that the page lists more than the one it kills.
        let _fixture = Fixture::start(true).await;
        let hero = HeroProcess::start();
        // A killed HERO leaves discovery after HEROS_MDNS_TTL without a goodbye: 4 s, the least.
        let monitor = Monitor::start(&[], false, &[("HEROS_MDNS_TTL", "4")]);
        let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("monitor.png");
        let profile = tempdir("chromium-profile");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/monitor_test.js");
        let mut command = Command::new("node");
        command
            .arg(script)
            .args(["--url", &monitor.url(), "--hero", HERO, "--pid", &hero.0.id().to_string()])
            .arg("--profile")
            .arg(&profile)
            .arg("--screenshot")
            .arg(&screenshot)
            .arg("--restart")
            .arg(std::env::current_exe().unwrap())
            .env("NODE_PATH", &node_modules);
        let output = tokio::task::spawn_blocking(move || run_script(command)).await.unwrap();
        let _ = std::fs::remove_dir_all(&profile);
        println!("{output}");
        assert!(output.contains("monitor_test: all steps passed"), "{output}");
        let png = std::fs::read(&screenshot).expect("the screenshot was taken");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a screenshot of a page");
        if let Some(keep) = std::env::var_os("HEROS_MONITOR_SCREENSHOT") {
            std::fs::write(&keep, &png).expect("the screenshot is kept");
        }
        drop(monitor);
    });
}

/// Runs the script to its end (or [`SCRIPT_LIMIT`]); its output, or a panic with it.
fn run_script(mut command: Command) -> String {
    let finished = heros_testing::process::run_to_end(&mut command, SCRIPT_LIMIT).expect("node runs");
    let output = format!("{}{}", finished.stdout, finished.stderr);
    match finished.status {
        Some(status) if status.success() => output,
        Some(status) => panic!("the browser script failed ({status}):\n{output}"),
        None => panic!("the browser script did not finish within {SCRIPT_LIMIT:?}:\n{output}"),
    }
}

/// A fresh folder under the target folder (Chromium's profile: nothing from an earlier run).
fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
