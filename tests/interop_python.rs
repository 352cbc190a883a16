//! Rust HEROs driven from Python: grpcio with stubs that grpcio-tools generates from the
//! repository's own `.proto` files, in a real Python process against a real server. Each test
//! serves the interop HEROs (`common::interop`) and runs one scenario of
//! `tests/interop/python/interop_test.py`, which exits non-zero, saying why, when the HEROs do
//! not behave as docs/PROTOCOL.md says. `tests/interop/python/setup.sh` makes the venv and the
//! stubs under `target/` first (the first time takes a minute: it installs from PyPI).
//!
//! Run one scenario by hand against a server of your own, after a first `cargo nextest run --test
//! interop_python` (or `tests/interop/python/setup.sh`):
//!
//! ```sh
//! PYTHONPATH=target/tmp/interop-python/gen:clients/python target/tmp/interop-python/venv/bin/python \
//!     tests/interop/python/interop_test.py calls --target 127.0.0.1:PORT
//! ```

mod common;

#[path = "../examples/support/route_guide_hero.rs"]
mod route_guide_hero;
#[path = "../examples/support/stage_hero.rs"]
mod stage_hero;

use std::path::Path;
use std::process::Command;

use common::interop::{
    against_interop_heros, against_secured_interop_heros, in_blocking_thread, install, run_client, share_interop_heros,
    IncludedHeros, INTEROP_GUIDE_FEATURES, INTEROP_GUIDE_PADDING,
};
use common::process::in_private_network;
use common::proto::{self, StageServer};
use heros::Server;
use route_guide_hero::routeguide::RouteGuideServer;
use route_guide_hero::{long_features, RouteGuideHero};
use stage_hero::StageHero;

/// Runs `interop_test.py <scenario> --target <target>` with the venv and stubs that setup.sh made,
/// and returns its output; fails the test with that output unless Python exits 0.
fn run_scenario(scenario: &str, target: &str) -> String {
    run_scenario_with(scenario, target, &[])
}

/// [`run_scenario`] with more arguments (e.g. `--credentials <dir>`).
fn run_scenario_with(scenario: &str, target: &str, more: &[&str]) -> String {
    let installed = install("python");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python_path = std::env::join_paths([installed.join("gen"), repository.join("clients/python")]).unwrap();
    let mut command = Command::new(installed.join("venv/bin/python"));
    command
        .arg(repository.join("tests/interop/python/interop_test.py"))
        .args([scenario, "--target", target])
        .args(more)
        .env("PYTHONPATH", python_path)
        .env("PYTHONUNBUFFERED", "1")
        // No __pycache__ in the source tree (clients/python).
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_client(command, &format!("python {scenario}"))
}

/// Serves the interop HEROs on loopback (no mDNS) while `scenario` runs against them.
async fn python_against_interop_heros(scenario: &'static str) -> String {
    against_interop_heros(included(), move |target| run_scenario(scenario, &target)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn python_calls_a_secured_realm_over_tls_and_plaintext_is_refused() {
    against_secured_interop_heros("python", included(), |target, credentials| {
        run_scenario_with("secured", &target, &["--credentials", credentials.to_str().unwrap()])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_calls_methods_and_reads_the_registry() {
    python_against_interop_heros("calls").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_reads_and_sets_attributes_and_a_read_only_one_refuses() {
    python_against_interop_heros("attributes").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_decodes_remote_errors_with_their_error_detail() {
    python_against_interop_heros("errors").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_subscribes_to_events_and_gets_them_in_order() {
    python_against_interop_heros("events").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_reads_the_missed_count_of_a_best_effort_event() {
    python_against_interop_heros("missed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_passes_handles_back_in_its_session() {
    python_against_interop_heros("handles").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_follows_and_passes_hero_references() {
    python_against_interop_heros("references").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_routing_without_a_name_and_with_realm_headers() {
    python_against_interop_heros("routing").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_call_into_another_realm_is_refused() {
    python_against_interop_heros("realm").await;
}

/// gRPC's route guide from grpcio's generated stubs: unary, server-streaming, client-streaming and
/// bidirectional rpcs, the answers of a conversation arriving while its requests are still sent.
#[tokio::test(flavor = "multi_thread")]
async fn python_calls_the_four_kinds_of_rpc_of_the_route_guide() {
    python_against_interop_heros("streams").await;
}

/// A server stream read slowly ends with DEADLINE_EXCEEDED at grpcio's deadline.
#[tokio::test(flavor = "multi_thread")]
async fn python_slow_server_stream_ends_at_its_deadline() {
    python_against_interop_heros("stream-deadline").await;
}

/// The stage's long-running `Move` through heros.v1.Operations from the `.proto` alone: started,
/// watched with progress and an intermediate position, awaited, found from another connection
/// after the first closed, cancelled (the stage stops); the caller's deadline read by the method,
/// a call past its deadline or cancelled by grpcio stopping the stage.
#[tokio::test(flavor = "multi_thread")]
async fn python_drives_a_long_running_method_through_operations() {
    python_against_interop_heros("operations").await;
}

/// No stubs at all: grpcio-reflection learns the interfaces (with their heros.v1 options) from the
/// server's reflection service, and ReadTemp is called with message classes built from them.
#[tokio::test(flavor = "multi_thread")]
async fn python_calls_a_hero_with_descriptors_from_server_reflection() {
    python_against_interop_heros("reflection").await;
}

/// Sequential unary calls per second from grpcio; printed, not asserted (the machine is shared).
/// `cargo nextest run --release --test interop_python bench --no-capture` shows the number; the
/// default (debug) build of the server is several times slower.
#[tokio::test(flavor = "multi_thread")]
async fn python_sequential_calls_per_second_bench() {
    let output = python_against_interop_heros("bench").await;
    assert!(output.contains("MEASURE python_hello_calls_per_s="), "the scenario prints its measure");
}

/// heros_client (clients/python) finds a Rust HERO by name over real mDNS, in a private network
/// namespace (only `lo`: no multicast leaves the machine).
#[test]
fn python_client_finds_a_rust_hero_over_mdns() {
    // Before entering the namespace: there is no network to install from in there.
    install("python");
    in_private_network(|| async {
        let server = Server::builder().start().await.expect("a server with mDNS on");
        let _heros = share_interop_heros(&server, included()).await;
        let target = server.local_addr().to_string();
        in_blocking_thread(move || run_scenario("discover", &target)).await;
        server.shutdown().await;
    });
}

/// heros_client's record reading and header encoding on the cases a live HERO does not show
/// (upper-case and duplicate TXT keys, bad versions, non-ASCII names); no server, no network.
#[test]
fn python_client_reads_records_as_the_rust_side_writes_them() {
    run_scenario("client-records", "-");
}

/// `cargo run --example serve_examples` (docs/PROTOCOL.md, "Serving the example HEROs"), as an
/// outside client meets it: started with stdin closed, it says where it listens; Python drives
/// its events, handles and references, and runs the worked example of docs/PROTOCOL.md exactly
/// as written there; SIGTERM stops it, its HEROs leaving first.
#[test]
fn python_drives_the_served_examples_and_the_worked_example_until_sigterm() {
    use std::io::{BufRead, BufReader};
    install("python");
    let mut server = Command::new(common::process::example("serve_examples"))
        .env_remove("HEROS_BIND")
        .env_remove("HEROS_DISCOVERY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve_examples starts");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines().map_while(Result::ok);
    let first = lines.next().expect("a first line");
    let target = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("{first:?}")).to_owned();
    let urls: Vec<String> = lines.by_ref().take(8).collect();
    assert!(urls.iter().any(|url| url.ends_with(&format!("{target}/my_hero?realm=heros"))), "{urls:?}");

    for scenario in ["events", "handles", "references", "streams"] {
        run_scenario(scenario, &target);
    }
    let output = run_worked_example(&target);
    for expected in ["5.0\n", "world\n", "StatusCode.PERMISSION_DENIED READ_ONLY"] {
        assert!(output.contains(expected), "the worked example prints {expected:?}:\n{output}");
    }

    rustix::process::kill_process(rustix::process::Pid::from_child(&server), rustix::process::Signal::TERM)
        .expect("SIGTERM sent");
    let status = server.wait().unwrap();
    assert!(status.success(), "serve_examples after SIGTERM: {status}");
    assert_eq!(lines.collect::<Vec<_>>(), ["stopped"], "it says so, after its HEROs left");
}

/// Runs the Python worked example of docs/PROTOCOL.md, taken from the document as it is, against
/// `target` (the example reads `HERO_ADDRESS`), with the stubs on `PYTHONPATH` as it says.
fn run_worked_example(target: &str) -> String {
    let installed = install("python");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protocol = std::fs::read_to_string(repository.join("docs/PROTOCOL.md")).unwrap();
    let section = &protocol[protocol.find("## Worked example: calling `my_hero`").expect("the worked example")..];
    let code = section.split("```python\n").nth(1).and_then(|rest| rest.split("\n```").next()).expect("its Python");
    let script = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("worked_example_{}.py", std::process::id()));
    std::fs::write(&script, code).unwrap();
    let mut command = Command::new(installed.join("venv/bin/python"));
    command
        .arg(&script)
        .env("PYTHONPATH", installed.join("gen"))
        .env("HERO_ADDRESS", target)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = run_client(command, "the worked example of docs/PROTOCOL.md");
    let _ = std::fs::remove_file(&script);
    output
}

/// The interop HEROs whose code this file includes (see `common::interop::IncludedHeros`).
fn included() -> IncludedHeros {
    let features = long_features(INTEROP_GUIDE_FEATURES, INTEROP_GUIDE_PADDING);
    IncludedHeros::new(RouteGuideServer::new(RouteGuideHero::new(features)), StageServer::new(StageHero::default()))
}
