//! `heros list --zenoh` (feature `zenoh`, which the tool's tests turn on; see cli/Cargo.toml):
//! a Python HERO of the real PyPI `heros` package on zenoh and Rust HEROs on gRPC, in one list.
//! The test runs in a private network namespace with a veth pair (zenoh's scouting needs an
//! interface other than `lo`; see `heros_testing::python_heros`), which the tool's and Python's
//! processes inherit; without the right to make one it skips, saying so.
mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use heros_testing::python_heros::{self, PythonScript};
use serde_json::Value;

#[test]
fn list_with_zenoh_shows_python_and_grpc_heros_each_with_its_world() {
    // PyPI is not reachable from inside the namespace: make the venv (shared with heros-zenoh's
    // tests) first.
    let python = python_heros::python(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("zenoh-python"));
    if let Err(error) = python_heros::enter_private_zenoh_network() {
        println!("skipping: cannot enter a private network with a veth pair: {error}");
        return;
    }
    runtime().block_on(async {
        let fixture = Fixture::start(false).await;
        let serving = tokio::task::spawn_blocking(move || {
            let mut serving = PythonScript::start(&python, &["serve", "py-listed-by-heros"]);
            serving.expect_line("READY", Duration::from_secs(60));
            serving
        })
        .await
        .unwrap();

        let listed = fixture.heros(&["--json", "--timeout", "4", "list", "--zenoh"]).await.json();
        let world = |name: &str| {
            let hero = listed.as_array().unwrap().iter().find(|hero| hero["name"] == name);
            hero.map(|hero| (hero["world"].as_str().unwrap_or_default().to_owned(), hero.clone()))
        };
        let (python_world, python_hero) = world("py-listed-by-heros").unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(python_world, "zenoh", "{listed}");
        assert_eq!(python_hero["class"], "TestObject", "{listed}");
        assert_eq!(python_hero["realm"], "heros", "{listed}");
        for name in ["thing", "oven"] {
            let (grpc_world, grpc_hero) = world(name).unwrap_or_else(|| panic!("{name} listed: {listed}"));
            assert_eq!(grpc_world, "grpc", "{listed}");
            assert_eq!(grpc_hero["endpoints"][0], format!("http://{}", fixture.peer()), "{listed}");
        }

        let table = fixture.heros(&["--timeout", "4", "list", "--zenoh"]).await;
        table.prints(&["WORLD", "py-listed-by-heros", "TestObject"]);
        let rows: Vec<&str> = table.stdout.lines().collect();
        let row_of = |name: &str| rows.iter().find(|row| row.contains(name)).copied().unwrap_or_default();
        assert!(row_of("py-listed-by-heros").starts_with("zenoh"), "{}", table.stdout);
        assert!(row_of("thing").starts_with("grpc"), "{}", table.stdout);

        // Without --zenoh the tool stays off zenoh: the Python HERO is not there.
        let plain = fixture.heros(&["--json", "--timeout", "2", "list"]).await.json();
        let names: Vec<&Value> = plain.as_array().unwrap().iter().map(|hero| &hero["name"]).collect();
        assert_eq!(names, ["oven", "thing"], "{plain}");

        tokio::task::spawn_blocking(move || serving.finish(Duration::from_secs(30))).await.unwrap();
    });
}
