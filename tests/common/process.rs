//! HERO processes for tests: the test binary runs again in the `hero_process` role (a test that
//! does nothing unless `HEROS_TEST_HERO` is set), inheriting the caller's network namespace.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Not a test by itself: the HERO process the other tests start. It shares a TestHero (and a
/// furnace, for events) called `$HEROS_TEST_HERO`, prints `READY <url>` (or `ERROR <error>`),
/// serves until its stdin closes, then shuts the HERO down and exits at once.
pub fn hero_process_role() {
    let Ok(name) = std::env::var("HEROS_TEST_HERO") else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = heros::Server::global().await.unwrap();
        // `HEROS_TEST_SHARE_AT` (ms since the epoch): share then, so that several processes
        // started apart share at the same instant (the name-race tests).
        if let Some(at) = std::env::var("HEROS_TEST_SHARE_AT").ok().and_then(|at| at.parse::<u64>().ok()) {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at);
            if let Ok(wait) = at.duration_since(std::time::SystemTime::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        let hero = server
            .share(
                heros::Hero::new(&name)
                    .tag("test")
                    .interface(super::proto::TestObjectServer::new(super::TestHero::new(5)))
                    // Events too, for the tests of subscriptions across a restart.
                    .interface(super::proto::FurnaceServer::new(super::lab::TestFurnace::default())),
            )
            .await;
        match hero {
            Ok(hero) => {
                println!("READY {}", hero.url());
                if std::env::var_os("HEROS_TEST_USE_ALL_FILES").is_some() {
                    use_all_files();
                }
                tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await.unwrap();
                hero.shutdown().await;
                // At once, as a program whose `main` ends after `shutdown()`: what the HERO sends
                // on leaving must be out by now (tests/events.rs checks its event streams).
                std::process::exit(0);
            }
            Err(error) => println!("ERROR {error}"),
        }
    });
}

/// Not a test by itself: a client process (on another simulated host). It connects to
/// `$HEROS_TEST_CLIENT` by name, waiting at most `$HEROS_TEST_TIMEOUT_MS` (default: the stubs'
/// own), calls it, and prints `RESULT ...`; [`client_result`] runs it and reads that line.
pub fn client_process_role() {
    let Ok(name) = std::env::var("HEROS_TEST_CLIENT") else { return };
    let timeout = std::env::var("HEROS_TEST_TIMEOUT_MS").ok().and_then(|ms| ms.parse().ok());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let timeout = timeout.map_or(heros::DEFAULT_CONNECT_TIMEOUT, std::time::Duration::from_millis);
        match super::proto::TestObjectRemote::connect_timeout(&name, timeout).await {
            Ok(stub) => match stub.read_temp(0, 10).await {
                Ok(value) => println!("RESULT read_temp={value} endpoint={}", stub.target().endpoint()),
                Err(error) => println!("RESULT call failed: {error}"),
            },
            Err(error) => println!("RESULT connect failed: {error}"),
        }
    });
}

/// Runs `command` (this test binary, e.g. through `ip netns exec`) in the `client_process` role
/// for HERO `name`, and returns its `RESULT ...` line.
pub fn client_result(mut command: Command, name: &str) -> String {
    command.args(["client_process", "--exact", "--nocapture"]).env("HEROS_TEST_CLIENT", name);
    let mut client = command.stdout(Stdio::piped()).spawn().unwrap();
    let result = BufReader::new(client.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.find("RESULT ").map(|at| line[at..].to_owned()))
        .unwrap_or_else(|| "RESULT the client ended without a word".into());
    client.wait().unwrap();
    result
}

/// Opens files until the process has no descriptor left, and keeps them: the server's next
/// `accept` fails with EMFILE (the test of the accept loop's back-off).
fn use_all_files() {
    let mut held = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        held.push(file);
    }
    std::mem::forget(held);
}

/// The executable of example `name`, built first if this test run has not built it.
pub fn example(name: &str) -> PathBuf {
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

/// A HERO process; closing its stdin makes it leave gracefully, dropping it kills it.
pub struct HeroProcess {
    child: Child,
    pub stdin: Option<ChildStdin>,
    pub first_line: String,
}

impl HeroProcess {
    pub fn start(name: &str, env: &[(&str, &str)]) -> HeroProcess {
        Self::start_with(Command::new(std::env::current_exe().unwrap()), name, env)
    }

    /// Like [`HeroProcess::start`], through a given command (e.g. `ip netns exec ns <this binary>`).
    pub fn start_with(mut command: Command, name: &str, env: &[(&str, &str)]) -> HeroProcess {
        command.args(["hero_process", "--exact", "--nocapture"]).env("HEROS_TEST_HERO", name);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest may print its own words before ours on the same line.
        let first_line = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                ["READY ", "ERROR "].iter().find_map(|marker| line.find(marker).map(|at| line[at..].to_owned()))
            })
            .unwrap_or_else(|| "ERROR the HERO process ended without a word".into());
        HeroProcess { child, stdin, first_line }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ready(&self) -> bool {
        self.first_line.starts_with("READY ")
    }

    /// Closes stdin: the HERO says goodbye and the process ends.
    pub fn leave(mut self) {
        drop(self.stdin.take());
        self.child.wait().unwrap();
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for HeroProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `test` in a private network namespace with a fresh tokio runtime, or says why not.
pub fn in_private_network<F: std::future::Future<Output = ()>>(test: impl FnOnce() -> F) {
    if let Err(error) = heros_testing::netns::enter_private_network() {
        println!("skipping: cannot enter a private network namespace: {error}");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(test());
}
