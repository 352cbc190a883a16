//! The optional Python HEROS side: the original library, installed from PyPI into a venv next to
//! the benchmark binary, measured on the same machine in the same run. Anything that goes wrong
//! here skips the Python figures with a message; it never fails the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

const REQUIREMENTS: &str = include_str!("../python/requirements.txt");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/heros_bench.py");

/// How long the Python side may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// A venv with Python HEROS in it.
pub(crate) struct PythonHeros {
    python: PathBuf,
}

/// Makes (once) the venv and installs Python HEROS into it. Must run before the benchmark enters
/// its private network namespace: PyPI is not reachable from there.
pub(crate) fn install() -> anyhow::Result<PythonHeros> {
    let venv = std::env::current_exe()?.parent().context("the binary's folder")?.join("heros-bench-python");
    let python = venv.join("bin/python");
    let installed = venv.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&installed).is_ok_and(|r| r == REQUIREMENTS) {
        return Ok(PythonHeros { python });
    }
    eprintln!("python: installing Python HEROS into {} (once)…", venv.display());
    run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv), "python3 -m venv")?;
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    let pip = venv.join("bin/pip");
    run(
        Command::new(&pip).args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&requirements),
        "pip install",
    )?;
    std::fs::write(&installed, REQUIREMENTS)?;
    Ok(PythonHeros { python })
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).output().with_context(|| format!("{what} did not start"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!("{what} failed ({}): {last}", output.status);
    }
    Ok(())
}

impl PythonHeros {
    /// Runs the Python benchmark (inside the namespace) and returns its JSON object.
    pub(crate) async fn measure(&self, quick: bool) -> anyhow::Result<Value> {
        let mut command = tokio::process::Command::new(&self.python);
        command.arg(Path::new(SCRIPT)).stdin(Stdio::null()).stderr(Stdio::inherit()).kill_on_drop(true);
        if quick {
            command.arg("--quick");
        }
        let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
            .await
            .with_context(|| format!("the Python benchmark did not finish within {RUN_TIMEOUT:?}"))??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line =
            stdout.lines().rev().find(|l| l.starts_with('{')).with_context(|| {
                format!("the Python benchmark ({}) printed no JSON: {}", output.status, stdout.trim())
            })?;
        Ok(serde_json::from_str(line)?)
    }
}
