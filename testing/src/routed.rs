//! Two simulated hosts on two subnets joined by a router, all network namespaces (`ip netns`):
//! unicast crosses the router, link-local multicast (mDNS) does not, as between two subnets of a
//! lab. Addresses are in 198.18.0.0/15, set aside for network tests; nothing touches the
//! machine's real interfaces. Removed on drop. Needs root and `ip` (iproute2).
//!
//! ```text
//!  a: 198.18.1.2/24 ── 198.18.1.1 [router] 198.18.2.1 ── b: 198.18.2.2/24
//! ```

use std::process::Command;

/// The namespaces and their addresses.
pub struct RoutedHosts {
    /// Host A's namespace (198.18.1.2).
    pub a: String,
    /// Host B's namespace (198.18.2.2).
    pub b: String,
    /// The router's namespace (198.18.1.1 towards A, 198.18.2.1 towards B).
    pub router: String,
}

impl RoutedHosts {
    /// The router's address as host A sees it.
    pub const ROUTER_FROM_A: &'static str = "198.18.1.1";
    /// The router's address as host B sees it.
    pub const ROUTER_FROM_B: &'static str = "198.18.2.1";
    /// Host A's address.
    pub const A: &'static str = "198.18.1.2";
    /// Host B's address.
    pub const B: &'static str = "198.18.2.2";

    /// Creates the namespaces, links and routes; the error says which `ip` step failed.
    pub fn create() -> Result<RoutedHosts, String> {
        let id = std::process::id();
        let hosts =
            RoutedHosts { a: format!("heros-ra-{id}"), b: format!("heros-rb-{id}"), router: format!("heros-rr-{id}") };
        let (a, b, r) = (hosts.a.as_str(), hosts.b.as_str(), hosts.router.as_str());
        let (va, vra, vb, vrb) = (format!("ra{id}"), format!("rra{id}"), format!("rb{id}"), format!("rrb{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", a],
            vec!["netns", "add", b],
            vec!["netns", "add", r],
            vec!["link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vra, "netns", r],
            vec!["link", "add", &vb, "netns", b, "type", "veth", "peer", "name", &vrb, "netns", r],
            vec!["-n", a, "addr", "add", "198.18.1.2/24", "dev", &va],
            vec!["-n", r, "addr", "add", "198.18.1.1/24", "dev", &vra],
            vec!["-n", b, "addr", "add", "198.18.2.2/24", "dev", &vb],
            vec!["-n", r, "addr", "add", "198.18.2.1/24", "dev", &vrb],
            vec!["-n", a, "link", "set", &va, "up"],
            vec!["-n", b, "link", "set", &vb, "up"],
            vec!["-n", r, "link", "set", &vra, "up"],
            vec!["-n", r, "link", "set", &vrb, "up"],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
            vec!["-n", r, "link", "set", "lo", "up"],
            vec!["-n", a, "route", "add", "default", "via", "198.18.1.1"],
            vec!["-n", b, "route", "add", "default", "via", "198.18.2.1"],
        ];
        for step in steps {
            run("ip", &step)?;
        }
        run("ip", &["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        Ok(hosts)
    }

    /// A command that runs `program` on `host` (one of the namespace names).
    pub fn command_on(host: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", host]).arg(program);
        command
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(args).output().map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(())
}

impl Drop for RoutedHosts {
    fn drop(&mut self) {
        for host in [&self.a, &self.b, &self.router] {
            let _ = Command::new("ip").args(["netns", "del", host]).status();
        }
    }
}
