//! A child process run to its end within a time limit, its output collected: what tests do with
//! an example, a client in another language or a browser script.
//!
//! Both pipes are drained by threads while the child runs, so that neither fills up and blocks
//! it; a child still running at the limit is killed.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How a child ended, and what it printed.
#[derive(Debug)]
pub struct Finished {
    /// `None` when it was still running at the limit (and was killed).
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Whether it ended by itself, with success.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }
}

/// Runs `command` (its stdout and stderr piped) until it ends or `limit` passes. Fails only when
/// the child cannot be started. Blocking.
pub fn run_to_end(command: &mut Command, limit: Duration) -> io::Result<Finished> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || pipe.map(|pipe| io::read_to_string(pipe).unwrap_or_default()).unwrap_or_default())
    };
    let stdout = drain(child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = |reader: std::thread::JoinHandle<String>| reader.join().unwrap_or_default();
    Ok(Finished { status, stdout: output(stdout), stderr: output(stderr) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_are_collected() {
        let finished =
            run_to_end(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), Duration::from_secs(10))
                .unwrap();
        assert_eq!((finished.stdout.as_str(), finished.stderr.as_str()), ("out\n", "err\n"));
        assert_eq!(finished.status.and_then(|status| status.code()), Some(3));
        assert!(!finished.succeeded());
    }

    #[test]
    fn a_child_past_the_limit_is_killed() {
        let started = Instant::now();
        let finished = run_to_end(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap();
        assert!(finished.status.is_none() && started.elapsed() < Duration::from_secs(10), "{finished:?}");
    }
}
