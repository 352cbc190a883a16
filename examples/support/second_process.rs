//! Runs a two-process example: the example starts itself a second time, and the HEROs that
//! process shares are then called over the network, as they would be from another program.
//!
//! Not an example of its own (Cargo builds only the files directly in `examples/`): each
//! two-process example includes it with `#[path = "support/second_process.rs"] mod second_process;`
//! and calls [`run`] from `main`.

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// A future that resolves when the second process should stop; see [`run`].
pub(crate) type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the example as two processes, and `main` is then this one call.
///
/// In the *first* process (the one the user starts), `call` runs against the HEROs of a second
/// process; in the *second*, `serve` shares them. The second process is this same executable,
/// started again with an environment variable set (`<EXAMPLE>_<SECOND>`, e.g.
/// `CALLBACKS_NOTIFIER`). It must print one line starting with `READY` once its HEROs are
/// shared, and serve until the [`Stop`] it is given resolves: that happens when the first
/// process is done, or dies. Everything the second process prints shows up in the first
/// process's output as `[<second> process] ...`.
///
/// Unless `HEROS_NETNS=host`, the first process moves into a private network namespace first,
/// where only loopback exists, so the example's mDNS stays off the real network (which takes
/// root). The second process inherits that namespace and finds its peer there.
pub(crate) fn run<Serve, Call>(
    example: &str,
    second: &str,
    serve: impl FnOnce(Stop) -> Serve,
    call: impl FnOnce() -> Call,
) -> anyhow::Result<()>
where
    Serve: Future<Output = anyhow::Result<()>>,
    Call: Future<Output = anyhow::Result<()>>,
{
    let marker = format!("{example}_{second}").to_uppercase();
    let is_second = std::env::var_os(&marker).is_some();
    // Before any thread exists (a namespace is per thread), so that the runtime's threads and
    // the second process inherit it.
    if !is_second && std::env::var("HEROS_NETNS").as_deref() != Ok("host") {
        heros_testing::netns::enter_private_network()
            .map_err(|e| anyhow::anyhow!("{e}\n(run as root, or set HEROS_NETNS=host to use the real network)"))?;
        println!("{example}: in a private network namespace (only lo, multicast stays here)");
    }
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    let runtime = tokio::runtime::Runtime::new()?;
    if is_second {
        return runtime.block_on(serve(Box::pin(stdin_closed())));
    }

    let second = SecondProcess::start(&marker, second)?;
    let result = runtime.block_on(call());
    second.stop()?;
    result
}

/// The second process, seen from the first: running, ready, and its output echoed.
struct SecondProcess {
    child: Child,
    echo: JoinHandle<()>,
}

impl SecondProcess {
    /// Starts this executable again with `marker` set, and returns once it has printed its
    /// `READY` line (an error if it ended first). Its stdin is a pipe from this process, kept
    /// open until [`SecondProcess::stop`]: closing it is how the second process learns to stop.
    fn start(marker: &str, name: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(marker, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut output = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        output.read_line(&mut ready)?;
        if ready.is_empty() {
            anyhow::bail!("the {name} process ended before it was ready: {:?}", child.wait()?);
        }
        print!("[{name} process] {ready}");
        // On a thread of its own, so that what the second process prints while it is called
        // (often because of the call) shows at once, between the first process's own lines.
        let prefix = format!("[{name} process]");
        let echo =
            std::thread::spawn(move || output.lines().map_while(Result::ok).for_each(|l| println!("{prefix} {l}")));
        Ok(SecondProcess { child, echo })
    }

    /// Stops the second process by closing its stdin, and waits until it has ended and all it
    /// printed has been echoed.
    fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        self.child.wait()?;
        let _ = self.echo.join();
        Ok(())
    }
}

/// Resolves when stdin reaches its end. The first process closes the pipe to stop the second
/// one; the pipe also closes when the first process dies, however it dies, so the second never
/// outlives it (a signal would be lost with a killed parent).
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
}
