//! The README's main demo, run as a user runs it: `quickstart` moves into its own private network
//! namespace, starts the HERO process and calls it by name over mDNS.

use std::path::PathBuf;
use std::process::Command;

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
