//! Two simulated hosts: network namespaces joined by a veth pair on 198.18.0.0/24 (a range set
//! aside for network tests; nothing here touches the machine's real interfaces). A HERO runs on
//! host A; a client process on host B finds it by name over mDNS across the link and calls it.
//! Needs root and `ip` (iproute2); without them the test says why it skips.

mod common;

use std::process::Command;

use common::process::HeroProcess;

/// Not a test by itself: the HERO process started on host A.
#[test]
fn hero_process() {
    common::process::hero_process_role();
}

/// Not a test by itself: the client process started on host B (see `common::process`).
#[test]
fn client_process() {
    common::process::client_process_role();
}

/// Two named network namespaces and the veth pair between them; removed on drop.
struct TwoHosts {
    a: String,
    b: String,
}

impl TwoHosts {
    fn create() -> Result<TwoHosts, String> {
        let id = std::process::id();
        let hosts = TwoHosts { a: format!("heros-a-{id}"), b: format!("heros-b-{id}") };
        let (veth_a, veth_b) = (format!("hva{id}"), format!("hvb{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &hosts.a],
            vec!["netns", "add", &hosts.b],
            vec!["link", "add", &veth_a, "netns", &hosts.a, "type", "veth", "peer", "name", &veth_b, "netns", &hosts.b],
            vec!["-n", &hosts.a, "addr", "add", "198.18.0.1/24", "dev", &veth_a],
            vec!["-n", &hosts.b, "addr", "add", "198.18.0.2/24", "dev", &veth_b],
            vec!["-n", &hosts.a, "link", "set", &veth_a, "up"],
            vec!["-n", &hosts.b, "link", "set", &veth_b, "up"],
            vec!["-n", &hosts.a, "link", "set", "lo", "up"],
            vec!["-n", &hosts.b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let output = Command::new("ip").args(&step).output().map_err(|e| format!("cannot run ip: {e}"))?;
            if !output.status.success() {
                return Err(format!("ip {}: {}", step.join(" "), String::from_utf8_lossy(&output.stderr).trim()));
            }
        }
        Ok(hosts)
    }

    /// A command that runs this test binary on `host`.
    fn this_binary_on(&self, host: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", host]).arg(std::env::current_exe().unwrap());
        command
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for host in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", host]).status();
        }
    }
}

#[test]
fn a_stub_on_host_b_finds_and_calls_a_hero_on_host_a() {
    let hosts = match TwoHosts::create() {
        Ok(hosts) => hosts,
        Err(why) => {
            println!("skipping: cannot create two simulated hosts: {why}");
            return;
        }
    };
    let hero = HeroProcess::start_with(hosts.this_binary_on(&hosts.a), "remote_hero", &[]);
    assert!(hero.ready(), "{}", hero.first_line);

    let started = std::time::Instant::now();
    let result = common::process::client_result(hosts.this_binary_on(&hosts.b), "remote_hero");
    println!("MEASURE cross_host_fresh_process_connect_and_call_ms={:.1}", started.elapsed().as_secs_f64() * 1e3);
    assert!(result.starts_with("RESULT read_temp=5 endpoint=http://198.18.0.1:"), "{result}");
    hero.leave();
}
