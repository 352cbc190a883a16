//! What the tool says on stderr while it waits for discovery: a spinner with the time waited on
//! a terminal, one plain line otherwise (logs and tests read it as it is).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shown until dropped.
pub(crate) struct Progress {
    spinner: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts telling that the tool is `what` (e.g. "looking for 'oven' over mDNS").
    pub(crate) fn start(what: String, limit: Duration) -> Progress {
        let limit = format!("{:.0} s", limit.as_secs_f64());
        if !std::io::stderr().is_terminal() {
            let _ = writeln!(std::io::stderr(), "{what} (up to {limit})");
            return Progress { spinner: None };
        }
        let started = Instant::now();
        let spinner = tokio::spawn(async move {
            const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            for frame in FRAMES.iter().cycle() {
                let waited = started.elapsed().as_secs_f64();
                let _ = write!(std::io::stderr(), "\r\x1b[2K{frame} {what}… {waited:.1} s of {limit}");
                let _ = std::io::stderr().flush();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { spinner: Some(spinner) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.abort();
            // Clear the spinner's line, so that what follows starts clean.
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}
