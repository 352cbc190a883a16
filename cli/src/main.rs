//! `heros`: the command-line tool for HEROs. It lists them (mDNS, or servers given with
//! `--peer`), describes their interfaces, calls methods, reads and sets attributes and watches
//! events, with arguments and results as JSON. It needs no `.proto` file: each server describes
//! its HEROs' interfaces over gRPC reflection.
//!
//! ## Layout
//! - `args`: the command line (clap).
//! - `locate`: finding HEROs by name, by `--peer`, by `heros://` URL; `progress`: the spinner.
//! - `hero`: one HERO: channel, headers, calls of every kind (unary and streaming).
//! - `reflection`: descriptors from the server; `interface`: methods, attributes and events.
//! - `codec`: the tonic codec for dynamic messages (and missed-event counts); `json`: JSON ↔
//!   messages with errors that name the field.
//! - `list`, `describe`, `call` (call, get, set), `watch`: the commands; `table`: aligned text;
//!   `output`: stdout.
//! - `zenoh`: the HEROs of Python HEROS for `list --zenoh` (feature `zenoh`).
//! - `remote`: errors from servers (status code, `ErrorDetail` kind).
//! - `monitor`: `heros monitor`, the live web page (its own layout in `monitor/mod.rs`).

mod args;
mod call;
mod codec;
mod describe;
mod hero;
mod interface;
mod json;
mod list;
mod locate;
mod monitor;
mod output;
mod progress;
mod reflection;
mod remote;
mod table;
mod watch;
mod zenoh;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Parser;

use args::{Cli, Command, RealmCommand};
use hero::Hero;
use locate::Locator;

/// To find a HERO by name, as the runtime's `connect`.
const FIND_TIMEOUT: Duration = heros_runtime::DEFAULT_CONNECT_TIMEOUT;
/// To collect the list of HEROs: mDNS answers come within about a second.
const LIST_WAIT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow!("cannot start the async runtime: {error}"), cli.json),
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error, cli.json),
    }
}

async fn run(cli: &Cli) -> Result<()> {
    if let Command::Realm { action } = &cli.command {
        return realm(action, cli.json);
    }
    if let Some(dir) = &cli.credentials {
        hero::use_credentials(dir)?;
    }
    if let Some(token) = &cli.token {
        hero::use_token(token)?;
    }
    let locator = Locator::new(cli.realm.as_deref(), &cli.peers)?;
    let find_timeout = cli.timeout.unwrap_or(FIND_TIMEOUT);
    let connect = |name: &str| {
        let (locator, name) = (locator.clone(), name.to_owned());
        async move {
            let info = locator.find(&name, find_timeout).await?;
            Hero::connect(info, find_timeout).await
        }
    };
    match &cli.command {
        Command::List { watch, duration, zenoh } => {
            let wait = cli.timeout.unwrap_or(LIST_WAIT);
            match zenoh {
                true => list::both_worlds(&locator, wait, cli.json).await,
                false => list::run(&locator, wait, *watch, *duration, cli.json).await,
            }
        }
        Command::Describe { hero } => {
            describe::run(&connect(hero).await?, cli.json);
            Ok(())
        }
        Command::Call { hero, method, request } => {
            call::call(&connect(hero).await?, method, request.as_deref(), cli.json).await
        }
        Command::Get { hero, attribute } => call::get(&connect(hero).await?, attribute, cli.json).await,
        Command::Set { hero, attribute, value } => {
            let value = from_stdin(value)?;
            call::set(&connect(hero).await?, attribute, &value, cli.json).await
        }
        Command::Watch { hero, event, count, duration } => {
            let hero = connect(hero).await?;
            until_stopped(watch::run(&hero, event, *count, cli.json), *duration).await
        }
        Command::Monitor { listen, allow_remote } => {
            monitor::run(locator.clone(), *listen, *allow_remote, find_timeout).await
        }
        Command::Realm { .. } => unreachable!("handled above"),
    }
}

/// `heros realm init|issue`: files only, no network.
fn realm(action: &RealmCommand, as_json: bool) -> Result<()> {
    use heros_runtime::security::realm;
    match action {
        RealmCommand::Init { dir } => {
            let ca = realm::init(dir)?;
            match as_json {
                true => output::line(serde_json::json!({ "ca": ca }).to_string()),
                false => output::line(format!(
                    "realm CA written: {} (give it to everyone) and {} (keep it private)\n\
                     next: heros realm issue {} <name> [--role observe|operate]",
                    ca.display(),
                    dir.join("ca.key").display(),
                    dir.display()
                )),
            }
        }
        RealmCommand::Issue { dir, name, role, out } => {
            let issued = realm::issue(dir, name, *role, out.as_deref())?;
            match as_json {
                true => output::line(
                    serde_json::json!({ "credentials": issued.dir, "serial": issued.serial, "role": role.as_str() })
                        .to_string(),
                ),
                false => output::line(format!(
                    "credentials for '{name}' ({role}) written to {}\nserial {} (to revoke: add it to a 'denylist' file in each credentials folder)\n\
                     use: HEROS_CREDENTIALS={} <program>",
                    issued.dir.display(),
                    issued.serial,
                    issued.dir.display()
                )),
            }
        }
    }
    Ok(())
}

/// `argument`, or for `-` what stdin holds (JSON too long or too awkward for the shell).
pub(crate) fn from_stdin(argument: &str) -> Result<String> {
    if argument != "-" {
        return Ok(argument.to_owned());
    }
    std::io::read_to_string(std::io::stdin()).map_err(|e| anyhow!("cannot read stdin: {e}"))
}

/// Runs `work` until it ends, Ctrl-C, or `limit` passes (the last two are a normal end).
pub(crate) async fn until_stopped(
    work: impl std::future::Future<Output = Result<()>>,
    limit: Option<Duration>,
) -> Result<()> {
    let limit = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
        () = limit => Ok(()),
    }
}

/// Prints `error` on stderr (as `{"error": ...}` with `--json`) and gives the exit code.
fn fail(error: &anyhow::Error, as_json: bool) -> ExitCode {
    let remote = error.chain().find_map(|cause| cause.downcast_ref::<remote::RemoteError>());
    if as_json {
        let mut report = serde_json::json!({ "message": format!("{error:#}") });
        if let Some(remote) = remote {
            report["remote"] = remote.to_json();
        }
        let _ = writeln!(std::io::stderr(), "{}", serde_json::json!({ "error": report }));
    } else {
        let _ = writeln!(std::io::stderr(), "heros: {error:#}");
    }
    ExitCode::FAILURE
}
