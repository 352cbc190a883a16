//! A private etcd server for tests and benchmarks of discovery through etcd: started on free
//! ports (client and peer) with a data folder of its own, stopped and its folder removed on drop.
//! It can be stopped and started again on the same ports and data (the outage tests), and run
//! inside a network namespace (`ip netns exec <ns>`).
//!
//! Needs the `etcd` binary (Debian's `etcd-server`; `.ci/run` installs it). [`Etcd::start`]
//! fails with a message saying so when it is missing ([`io::ErrorKind::NotFound`]); tests then
//! fail, or skip where `HEROS_TESTS_ALLOW_SKIP=1` allows it ([`crate::skip_or_fail`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd gets to answer on its client port after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// One etcd server process, with its ports and data folder.
pub struct Etcd {
    child: Option<Child>,
    /// `ip netns exec <ns>` when it runs in a namespace.
    namespace: Option<String>,
    listen: IpAddr,
    /// A credentials folder (`ca.pem`, `cert.pem`, `key.pem`): serve TLS with its certificate
    /// and take only clients whose certificate its CA signed.
    tls: Option<PathBuf>,
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
}

impl Etcd {
    /// Starts etcd on 127.0.0.1 in the caller's network namespace.
    pub fn start() -> io::Result<Etcd> {
        Self::start_in(None, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Starts etcd in network namespace `namespace` (`ip netns exec`; `None`: the caller's),
    /// listening on `listen` (`0.0.0.0` for every address of the namespace). The ports are
    /// chosen free in the caller's namespace, which is good enough in a fresh namespace.
    pub fn start_in(namespace: Option<&str>, listen: IpAddr) -> io::Result<Etcd> {
        Self::start_with(namespace, listen, None)
    }

    /// Starts etcd on 127.0.0.1 serving only TLS with the certificate of the credentials folder
    /// `tls` and taking only clients with a certificate its CA signed (`--client-cert-auth`).
    pub fn start_tls(tls: &std::path::Path) -> io::Result<Etcd> {
        Self::start_with(None, IpAddr::V4(Ipv4Addr::LOCALHOST), Some(tls.to_owned()))
    }

    /// Chooses the ports and the data folder on 127.0.0.1 but does not start etcd: for the tests
    /// of processes that start before etcd does. [`Etcd::restart`] starts it. Fails like
    /// [`Etcd::start`] when the `etcd` binary is missing.
    pub fn reserve() -> io::Result<Etcd> {
        Self::planned(None, IpAddr::V4(Ipv4Addr::LOCALHOST), None)
    }

    fn start_with(namespace: Option<&str>, listen: IpAddr, tls: Option<PathBuf>) -> io::Result<Etcd> {
        let mut etcd = Self::planned(namespace, listen, tls)?;
        etcd.run()?;
        Ok(etcd)
    }

    fn planned(namespace: Option<&str>, listen: IpAddr, tls: Option<PathBuf>) -> io::Result<Etcd> {
        // Asked here, not through `ip netns exec`, whose failure would not say NotFound.
        Command::new("etcd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(missing)?;
        let data = std::env::temp_dir().join(format!("heros-etcd-{}-{:x}", std::process::id(), nanos()));
        std::fs::create_dir_all(&data)?;
        Ok(Etcd {
            child: None,
            namespace: namespace.map(str::to_owned),
            listen,
            tls,
            client_port: free_port()?,
            peer_port: free_port()?,
            data,
        })
    }

    /// `http://<address>:<port>` (`https://` with TLS) for clients, with the address clients
    /// dial (127.0.0.1 when it listens on every address).
    pub fn url(&self) -> String {
        let ip = if self.listen.is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { self.listen };
        format!("{}://{}", self.scheme(), SocketAddr::new(ip, self.client_port))
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server (SIGKILL: as abrupt as a crash or a pulled cable); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (or for the first time, after [`Etcd::reserve`]) on the same ports
    /// and data, and waits until it answers.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.run()
    }

    /// The server's resident memory in KiB (`VmRSS` of /proc), while it runs.
    pub fn resident_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn run(&mut self) -> io::Result<()> {
        let ip = match self.listen {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let scheme = self.scheme();
        let client = format!("{scheme}://{ip}:{}", self.client_port);
        let peer = format!("http://{ip}:{}", self.peer_port);
        let advertise_ip = if self.listen.is_unspecified() { "127.0.0.1".to_owned() } else { ip.clone() };
        let mut command = match &self.namespace {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", namespace, "etcd"]);
                command
            }
            None => Command::new("etcd"),
        };
        command
            .arg("--name")
            .arg("heros-test")
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(format!("{scheme}://{advertise_ip}:{}", self.client_port))
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://{advertise_ip}:{}", self.peer_port))
            .arg("--initial-cluster")
            .arg(format!("heros-test=http://{advertise_ip}:{}", self.peer_port))
            .args(self.tls.iter().flat_map(|dir| {
                let file = |name: &str| dir.join(name).into_os_string();
                [
                    "--cert-file".into(),
                    file("cert.pem"),
                    "--key-file".into(),
                    file("key.pem"),
                    "--client-cert-auth".into(),
                    "--trusted-ca-file".into(),
                    file("ca.pem"),
                ]
            }))
            .arg("--log-level")
            .arg("error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().map_err(missing)?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until etcd accepts connections on its client port (from inside its namespace, the
    /// caller cannot always dial it: it asks etcd's own health through a TCP connect there).
    fn wait_ready(&mut self) -> io::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(io::Error::other(format!("etcd exited at start: {status}")));
            }
            if self.answers() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(io::Error::other(format!(
                    "etcd did not answer on port {} within {READY_TIMEOUT:?}",
                    self.client_port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether etcd serves: its `/health` says so (plaintext), or its port accepts (TLS).
    fn answers(&self) -> bool {
        let health = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        match &self.namespace {
            None => {
                let ip = if self.listen.is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { self.listen };
                let address = SocketAddr::new(ip, self.client_port);
                let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
                    return false;
                };
                if self.tls.is_some() {
                    return true;
                }
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut reply = String::new();
                stream.write_all(health.as_bytes()).is_ok()
                    && stream.read_to_string(&mut reply).is_ok()
                    && reply.contains(r#""health":"true""#)
            }
            // bash's /dev/tcp, inside the namespace.
            Some(namespace) => Command::new("ip")
                .args(["netns", "exec", namespace, "bash", "-c"])
                .arg(format!(
                    r#"exec 3<>/dev/tcp/127.0.0.1/{} && printf '{}' >&3 && grep -q '"health":"true"' <&3"#,
                    self.client_port,
                    health.replace("\r\n", "\\r\\n")
                ))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Why etcd could not be started, keeping the error's kind (`NotFound`: no `etcd` binary).
fn missing(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot start etcd ({e}); install Debian's etcd-server (.ci/run does when it is missing)"),
    )
}

/// A port free now (the OS's choice for port 0).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}
