//! Python HEROS (the PyPI `heros` package) for the tests that check interop over zenoh: a venv
//! that `zenoh/tests/python/setup.sh` makes, a private network in which zenoh's scouting works,
//! and a Python process driven line by line. heros-zenoh's interop tests and the CLI's test of
//! `heros list --zenoh` use it.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// `zenoh/tests/python`: the venv's requirements, `setup.sh`, and `zenoh_interop.py` (the Python
/// side of the tests: it serves the seed's `TestObject`, drives a Rust HERO, ...).
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zenoh/tests/python")
}

/// The interpreter of the venv with Python HEROS under `dir` (a test's `CARGO_TARGET_TMPDIR`
/// joined with a name all tests share), made by `setup.sh` on the first call of the process
/// (installing from PyPI the first time ever; later calls return at once). Blocking; panics
/// with setup.sh's output when it fails.
pub fn python(dir: &Path) -> PathBuf {
    static READY: Mutex<bool> = Mutex::new(false);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if !*ready {
        let script = python_dir().join("setup.sh");
        let output = Command::new("bash").arg(&script).arg(dir).output().expect("bash runs setup.sh");
        assert!(
            output.status.success(),
            "{} failed: {}{}",
            script.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        *ready = true;
    }
    dir.join("venv/bin/python")
}

/// Moves the calling thread into a private network namespace (see [`crate::netns`]) with a veth
/// pair whose two ends both stay inside it: zenoh's multicast scouting needs an interface other
/// than `lo` (it leaves loopback addresses out of its hello messages), and nothing sent there can
/// leave the namespace. Returns when the link is up. Make the venv ([`python`]) first: PyPI is
/// not reachable from inside.
pub fn enter_private_zenoh_network() -> io::Result<()> {
    crate::netns::enter_private_network()?;
    // 198.18.0.0/15 is the benchmarking range.
    for args in [
        &["link", "add", "zh0", "type", "veth", "peer", "name", "zh1"][..],
        &["addr", "add", "198.18.7.1/24", "dev", "zh0"],
        &["link", "set", "zh0", "up"],
        &["link", "set", "zh1", "up"],
    ] {
        let status = Command::new("ip").args(args).status()?;
        if !status.success() {
            return Err(io::Error::other(format!("ip {} failed ({status})", args.join(" "))));
        }
    }
    // zenoh picks its scouting interface when a session opens, among those that are running: wait
    // for the link to be up (its carrier comes a moment after `ip link set up`, later on a loaded
    // machine).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = Command::new("ip").args(["-o", "link", "show", "zh0"]).output()?;
        if String::from_utf8_lossy(&shown.stdout).contains("state UP") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("veth zh0 is not up after 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Python process of `zenoh_interop.py`, its output (stdout and stderr) read line by line.
/// Killed when dropped.
pub struct PythonScript {
    child: Child,
    /// Its stdin; `serve` runs until it closes ([`PythonScript::finish`] closes it).
    pub stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PythonScript {
    /// Starts `python zenoh_interop.py ARGS...` with the venv's interpreter `python`.
    pub fn start(python: &Path, args: &[&str]) -> PythonScript {
        let mut child = Command::new(python)
            .arg(python_dir().join("zenoh_interop.py"))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python starts");
        let (send, lines) = mpsc::channel();
        for pipe in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn io::Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = send.send(line);
                }
            });
        }
        let stdin = child.stdin.take();
        PythonScript { child, stdin, lines, seen: Vec::new() }
    }

    /// Waits (blocking) for a line that is `expected`; panics with all output so far.
    pub fn expect_line(&mut self, expected: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    println!("python: {line}");
                    let found = line.trim() == expected;
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("python did not say {expected:?} within {within:?}; it said:\n{}", self.seen.join("\n"));
    }

    /// Closes its stdin, waits for it to end and returns all it said; panics unless it exited 0.
    pub fn finish(mut self, within: Duration) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for python") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end with the pipes: take what they still hold.
        std::thread::sleep(Duration::from_millis(50));
        self.seen.extend(self.lines.try_iter());
        let output = self.seen.join("\n");
        println!("--- python ---\n{output}\n--- end ---");
        assert!(status.is_some_and(|s| s.success()), "python failed ({status:?}):\n{output}");
        output
    }
}

impl Drop for PythonScript {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
