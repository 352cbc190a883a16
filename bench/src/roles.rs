//! The benchmark's other processes. The binary starts itself again with `HEROS_BENCH_ROLE` set;
//! each child lives until its stdin closes, so that none outlives the run even if it panics.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The environment variable that names a child's role.
pub(crate) const ROLE_VARIABLE: &str = "HEROS_BENCH_ROLE";

/// How long a child may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the role named by `HEROS_BENCH_ROLE`; `None` when this is the main process.
pub(crate) fn run_role_if_child() -> Option<anyhow::Result<()>> {
    let process_start = std::time::Instant::now();
    let role = std::env::var(ROLE_VARIABLE).ok()?;
    let mut args = std::env::args().skip(1);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return Some(Err(error.into())),
    };
    Some(runtime.block_on(async move {
        match role.as_str() {
            "server" => crate::hero::serve_all().await,
            "table-server" => crate::hero::serve_table().await,
            "tls-server" => crate::tls::serve(&args.next().context("credentials folder")?).await,
            "discovery-hero" => crate::discovery::hero_role(&args.next().context("HERO name")?).await,
            "discovery-client" => crate::discovery::client_role(&args.next().context("HERO name")?).await,
            "scale-heros" => {
                let from = args.next().context("first HERO number")?.parse()?;
                crate::scale::heros_role(from, args.next().context("HERO count")?.parse()?).await
            }
            "scale-client" => {
                let expected = args.next().context("HERO count")?.parse()?;
                crate::scale::client_role(process_start, expected, &args.next().context("HERO name")?).await
            }
            other => bail!("unknown {ROLE_VARIABLE} '{other}'"),
        }
    }))
}

/// Resolves when the parent closes our stdin (or dies).
pub(crate) async fn wait_for_stdin_to_close() {
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// A child process of the benchmark; killed when dropped.
pub(crate) struct ChildProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl ChildProcess {
    /// Starts this binary in `role` with `args`.
    pub(crate) fn start(role: &str, args: &[&str]) -> anyhow::Result<ChildProcess> {
        ChildProcess::start_wrapped(&[], role, args)
    }

    /// Starts this binary in `role` with `args`, under `wrapper` (a command and its arguments,
    /// such as `valgrind --tool=callgrind`) when that is not empty.
    pub(crate) fn start_wrapped(wrapper: &[&str], role: &str, args: &[&str]) -> anyhow::Result<ChildProcess> {
        let exe = std::env::current_exe()?;
        let mut command = match wrapper.split_first() {
            None => Command::new(&exe),
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(&exe);
                command
            }
        };
        let mut child = command
            .env(ROLE_VARIABLE, role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the {role} process"))?;
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(ChildProcess { child, stdout })
    }

    /// The child's process id (valgrind runs the program inside its own process, so under a
    /// valgrind wrapper this is the program's too).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next line the child prints, without its newline.
    pub(crate) async fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(READY_TIMEOUT, self.stdout.read_line(&mut line)).await;
        match read {
            Ok(Ok(0)) => bail!("the child process exited without a word"),
            Ok(Ok(_)) => Ok(line.trim_end().to_owned()),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => bail!("the child process said nothing for {READY_TIMEOUT:?}"),
        }
    }

    /// Closes its stdin and waits for it to end.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("child process ended with {status}");
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("child process did not stop within 15 s; killed it")
            }
        }
    }
}

/// The value of `key=` in a `READY key=value …` line.
pub(crate) fn field<'a>(line: &'a str, key: &str) -> anyhow::Result<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .with_context(|| format!("no {key}= in the child's line '{line}'"))
}
