//! The examples, run as a user runs them: each moves into its own private network namespace,
//! starts its second process and calls it by name over mDNS. `quickstart` is the README's main
//! demo; the two-process examples of issue #4 (nested HEROs, handles, callbacks) and of issue #5
//! (events) must end by themselves, printing the values that only the working feature produces.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longer than any example needs (about 2 s each), short enough to catch one that hangs.
const DEADLINE: Duration = Duration::from_secs(60);

/// The executable of example `name`, built first if this test run has not built it.
fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(|deps| deps.parent()).unwrap().join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo).args(["build", "--example", name]).status().unwrap();
        assert!(status.success(), "building example {name}");
    }
    path
}

/// Runs example `name` and returns its stdout, after checking that it ended by itself within
/// [`DEADLINE`] and succeeded; `None` when it cannot make a network namespace (not root).
fn run(name: &str) -> Option<String> {
    run_with(name, &[])
}

/// Like [`run`], with command-line arguments.
fn run_with(name: &str, args: &[&str]) -> Option<String> {
    let mut command = Command::new(example(name));
    command.args(args).env_remove("HEROS_NETNS").stdin(Stdio::null());
    // At the deadline its second process ends too: its stdin, a pipe from this one, closes.
    let finished = heros_testing::process::run_to_end(&mut command, DEADLINE).unwrap();
    let (status, stdout, stderr) = (finished.status, finished.stdout, finished.stderr);
    if stderr.contains("cannot create a private network namespace") {
        println!("skipping: {stderr}");
        return None;
    }
    let status =
        status.unwrap_or_else(|| panic!("{name} still ran after {DEADLINE:?}; stdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(status.success(), "{name}: {status}; stdout:\n{stdout}\nstderr:\n{stderr}");
    Some(stdout)
}

fn assert_lines(stdout: &str, expected: &[&str]) {
    for line in expected {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn quickstart_runs_both_sides_of_the_usage_guide() {
    let output = Command::new(example("quickstart")).env_remove("HEROS_NETNS").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("cannot create a private network namespace") {
        println!("skipping: {stderr}");
        return;
    }
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for expected in [
        "HERO 'my_hero' is ready at heros://",
        "read_temp(0, 10) = 5\n",
        "hello() = world\n",
        "testme = 6\n",
        "testme = 10 after set_testme(10)\n",
        "HERO 'my_hero' has left",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn nested_heros_walks_a_tree_in_another_process_and_grafts_a_node_onto_it() {
    let Some(stdout) = run("nested_heros") else { return };
    assert_lines(
        &stdout,
        &[
            "[tree process] READY: 7 node HEROs, the root at heros://",
            // Two references resolved in a row: the grandchild's value comes from the other process.
            "root.child(0).child(1) is 'root-0-1', value 101\n",
            // The walk reaches every node by `child(i)` only.
            "  root = 1\n",
            "          root-1-1 = 111\n",
            // The root, in the tree process, called the guest in this process through the reference.
            "[tree process] 'root' was given 'guest' and read its value through the reference: 42\n",
            "root.add_child(&guest) -> root has 3 children\n",
            // The reference made the round trip and resolves to the guest served here.
            "root.child(2) is 'guest', value 43 after set_value(43) through it\n",
            "      guest = 43  (served by this process)\n",
            "[tree process] the tree has left",
        ],
    );
}

#[test]
fn unserializable_sessions_are_used_by_handle_and_released_when_dropped() {
    let Some(stdout) = run("unserializable") else { return };
    assert_lines(
        &stdout,
        &[
            "handle table at first: 0 entries, 0 references",
            "open -> handle examples.InstrumentSession 'examples.InstrumentSession #",
            // Each handle reaches its own session: channels 1 and 2 read differently.
            "read(first) = 1.100, read(second) = 1.200\n",
            "store(Settings) -> handle examples.v1.Settings 'examples.v1.Settings (",
            // The stored settings reached the session behind the handle.
            "configure(first, settings) -> channel 1: gain 10 ('calibrated')\n",
            "read(first) = 11.000 after configure\n",
            "handle table with two sessions and the settings: 3 entries, 3 references",
            // Dropping the handles released the sessions on the instrument's side.
            "[instrument process] session on channel 1 closed",
            "[instrument process] session on channel 2 closed",
            "ms after dropping the handles: 0 entries, 0 references",
            "[instrument process] 'instrument' has left",
        ],
    );
}

#[test]
fn callbacks_reach_the_clients_own_listener() {
    let Some(stdout) = run("callbacks") else { return };
    assert_lines(
        &stdout,
        &[
            "(not advertised)",
            "[notifier process] notifier: calling back 'listener' at http://",
            // Printed by this process's listener, called from the notifier's process.
            "listener: notice 1: T minus 3\n",
            "listener: notice 2: T minus 2\n",
            "listener: notice 3: T minus 1\n",
            "countdown(&listener, 3) -> 3 delivered\n",
            // In order: each notice was answered before the next was sent.
            r#"notices received: [(1, "T minus 3"), (2, "T minus 2"), (3, "T minus 1")]"#,
            "[notifier process] 'notifier' has left",
        ],
    );
}

#[test]
fn events_reach_a_stream_a_callback_a_slow_subscriber_and_a_realm_observer() {
    let Some(stdout) = run("events") else { return };
    assert_lines(
        &stdout,
        &[
            "[furnaces process] READY: furnace-a, furnace-b, furnace-c shared",
            "connected to 'furnace-a' at http://",
            // The reliable readings, one per heat, in order.
            "reading #0: 60.0 °C\n",
            "reading #1: 85.0 °C\n",
            "reading #2: 95.0 °C\n",
            // The callback, run for each alarm from furnace-a (only the heats above 80 °C).
            "callback: ALARM #1: 85.0 °C, limit 80.0 °C\n",
            "callback: ALARM #2: 95.0 °C, limit 80.0 °C\n",
            "callback disconnected, readings dropped",
            // The slow best-effort subscriber was told how many it missed, and all are accounted for.
            "slow subscriber: Missed(",
            " missed = 200 alarms, none lost silently",
            // The observer followed all three furnaces and names the one each alarm came from.
            "observer: following 3 furnaces",
            "observer: furnace-a overheated: 90.0 °C\n",
            "observer: furnace-b overheated: 100.0 °C\n",
            "observer: furnace-c overheated: 110.0 °C\n",
            "[furnaces process] the furnaces have left",
        ],
    );
    // Disconnected before the burst: the callback saw the two heats' alarms and none of the 200.
    assert_eq!(stdout.matches("callback: ALARM").count(), 2, "{stdout}");
    assert!(!stdout.contains("callback: Missed"), "{stdout}");
}

#[test]
fn datasource_shows_a_live_table_of_every_datasource_and_stops_when_asked() {
    let Some(stdout) = run_with("datasource", &["--seconds", "3"]) else { return };
    assert_lines(
        &stdout,
        &[
            "[sources process] READY",
            "--- 2 datasource(s) ---",
            "hygrometer   humidity",
            "thermometer  temperature",
            "datasource: stopped",
        ],
    );
    // Every row is classified: a range's name, or OUT.
    let rows: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("thermometer") || l.starts_with("hygrometer")).collect();
    assert!(rows.len() >= 4, "{stdout}");
    assert!(rows.iter().all(|r| ["ok", "warning", "OUT"].iter().any(|w| r.trim_end().ends_with(w))), "{rows:?}");
}
