//! Rust HEROs driven from Node, as real processes: `@grpc/grpc-js` and the repository's own
//! `.proto` files loaded at run time, no generated code (`tests/interop/node/interop_test.js`,
//! with the helpers of `clients/node/heros.js`).
//!
//! Each test shares the interop HEROs (`common::interop`) on a loopback server of its own and runs
//! one scenario of the Node script against it; the test fails with Node's output when Node exits
//! non-zero. Before that, `tests/interop/node/setup.sh` installs node and npm if they are missing
//! and the pinned npm packages into `target/tmp/interop-node` (once; later runs find its stamp), so
//! `cargo nextest run` alone sets everything up. A failing setup fails the test.

mod common;

#[path = "../examples/support/route_guide_hero.rs"]
mod route_guide_hero;
#[path = "../examples/support/stage_hero.rs"]
mod stage_hero;

use std::path::Path;
use std::process::Command;

use common::interop::{
    against_interop_heros, against_secured_interop_heros, in_blocking_thread, install, run_client, IncludedHeros,
    INTEROP_GUIDE_FEATURES, INTEROP_GUIDE_PADDING,
};
use common::process::in_private_network;
use common::{proto, TestHero};
use heros::Hero;
use proto::StageServer;
use route_guide_hero::routeguide::RouteGuideServer;
use route_guide_hero::{long_features, RouteGuideHero};
use stage_hero::StageHero;

/// Runs `interop_test.js <args>` with the packages setup.sh installed and returns its output;
/// fails the test with that output unless Node exits 0. Blocking.
fn node(args: &[&str]) -> String {
    let node_modules = install("node").join("node_modules");
    let mut command = Command::new("node");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node/interop_test.js");
    command.arg(script).args(args).env("NODE_PATH", node_modules);
    run_client(command, &format!("node {}", args.join(" ")))
}

/// Runs one scenario against the interop HEROs on a fresh loopback server.
async fn scenario(name: &'static str) -> String {
    against_interop_heros(included(), move |target| node(&[name, "--target", &target])).await
}

/// A secured realm: TLS with the issued files (grpc-js `createSsl`, target name `heros`) calls,
/// sets and lists; a plaintext client is refused with UNAUTHENTICATED.
#[tokio::test(flavor = "multi_thread")]
async fn node_calls_a_secured_realm_over_tls_and_plaintext_is_refused() {
    against_secured_interop_heros("node", included(), |target, credentials| {
        node(&["secured", "--target", &target, "--credentials", credentials.to_str().unwrap()])
    })
    .await;
}

/// Methods of two interfaces of one HERO, with and without the realm header.
#[tokio::test(flavor = "multi_thread")]
async fn node_calls_methods() {
    scenario("methods").await;
}

/// Attributes: an absent value reads, a present one (0 too) sets; a read-only one refuses a set
/// with READ_ONLY and keeps its value.
#[tokio::test(flavor = "multi_thread")]
async fn node_reads_and_sets_attributes() {
    scenario("attributes").await;
}

/// Remote errors as google.rpc.Status with a heros.v1.ErrorDetail: the HERO's own
/// INVALID_ARGUMENT, HERO_NOT_FOUND (with a percent-encoded non-ASCII name), and
/// INTERFACE_NOT_IMPLEMENTED, METHOD_NOT_FOUND and undecodable bytes from plain grpc-js calls.
#[tokio::test(flavor = "multi_thread")]
async fn node_reads_remote_errors() {
    scenario("errors").await;
}

/// Events: Readings (reliable) and Overheated (best-effort) in order, none lost once subscribed.
#[tokio::test(flavor = "multi_thread")]
async fn node_subscribes_to_events() {
    scenario("events").await;
}

/// A best-effort subscriber that stops reading is told how many alarms it missed, in the raw
/// fields 536870911 / 536870910, and the counts account for every gap in the sequence.
#[tokio::test(flavor = "multi_thread")]
async fn node_is_told_how_many_events_it_missed() {
    scenario("missed").await;
}

/// Sessions and handles: a handle returned and passed back, a stored message, export by name to
/// another session, every documented refusal, and a released handle.
#[tokio::test(flavor = "multi_thread")]
async fn node_passes_handles_back() {
    scenario("handles").await;
}

/// A HERO reference returned by Node.Child, followed to its endpoint with its name.
#[tokio::test(flavor = "multi_thread")]
async fn node_follows_a_hero_reference() {
    scenario("references").await;
}

/// Routing without heros-name (AMBIGUOUS_HERO, narrowed by the realm, INTERFACE_NOT_SERVED) and
/// the realm check (REALM_MISMATCH).
#[tokio::test(flavor = "multi_thread")]
async fn node_is_routed_by_name_and_realm() {
    scenario("routing").await;
}

/// The registry: ListHeros (per realm) and DescribeHero, without heros-name.
#[tokio::test(flavor = "multi_thread")]
async fn node_asks_the_registry() {
    scenario("registry").await;
}

/// Sequential unary calls per second from Node (printed as `MEASURE`, not asserted).
#[tokio::test(flavor = "multi_thread")]
async fn node_sequential_call_rate() {
    let output = scenario("throughput").await;
    assert!(output.contains("MEASURE node_sequential_calls_per_s="), "{output}");
}

/// `clients/node/heros.js` finds a HERO by name over mDNS and calls it. Only ever inside a private
/// network namespace (only `lo`), so no multicast reaches the machine's real interfaces.
#[test]
fn node_finds_a_hero_by_name_over_mdns() {
    // npm may need the registry: install before leaving the real network.
    install("node");
    in_private_network(|| async {
        let server = heros::Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .mdns(true)
            .start()
            .await
            .expect("a server with mDNS starts");
        let hero = Hero::new("node-finds-me")
            .tag("node-test")
            .metadata("Room", "B1")
            .interface(proto::TestObjectServer::new(TestHero::new(42)));
        let _hero = server.share(hero).await.expect("shared");
        let lab = Hero::new("node-lab").realm("node-lab").interface(proto::TestObjectServer::new(TestHero::new(0)));
        let _lab = server.share(lab).await.expect("shared");
        let args = [
            "discovery",
            "--name",
            "node-finds-me",
            "--start",
            "42",
            "--other",
            "node-lab",
            "--other-realm",
            "node-lab",
        ];
        in_blocking_thread(move || node(&args)).await;
        server.shutdown().await;
    });
}

/// gRPC's route guide from grpc-js with the `.proto` alone: unary, server-streaming,
/// client-streaming and bidirectional rpcs, the answers of a conversation arriving while its
/// requests are still sent.
#[tokio::test(flavor = "multi_thread")]
async fn node_calls_the_four_kinds_of_rpc_of_the_route_guide() {
    scenario("streams").await;
}

/// A server stream read slowly ends with DEADLINE_EXCEEDED at grpc-js's deadline.
#[tokio::test(flavor = "multi_thread")]
async fn node_slow_server_stream_ends_at_its_deadline() {
    scenario("stream-deadline").await;
}

/// The stage's long-running `Move` through heros.v1.Operations from the `.proto` alone: watched
/// with progress and an intermediate position, found and cancelled from another client after the
/// first closed (the stage stops); the deadline read by the method; a cancelled call stops it.
#[tokio::test(flavor = "multi_thread")]
async fn node_drives_a_long_running_method_through_operations() {
    scenario("operations").await;
}

/// The interop HEROs whose code this file includes (see `common::interop::IncludedHeros`).
fn included() -> IncludedHeros {
    let features = long_features(INTEROP_GUIDE_FEATURES, INTEROP_GUIDE_PADDING);
    IncludedHeros::new(RouteGuideServer::new(RouteGuideHero::new(features)), StageServer::new(StageHero::default()))
}
