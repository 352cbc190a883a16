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
        let hero = heros::Server::global()
            .await
            .unwrap()
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
