//! `heros monitor`: a web page that shows the HEROs of a realm live, and lets a person read and
//! set their attributes, call their methods and watch their events.
//!
//! The server talks to HEROs with the tool's own code (reflection, dynamic calls, `watch`), so
//! the monitor is the command line in a browser, with the same names, JSON and errors. Pages
//! talk to it over one server-sent-events stream each, plus plain JSON requests.
//!
//! ## Layout
//! - `listen`: loopback unless `--allow-remote`; which `Host` headers are answered.
//! - `hub`: the state shared by all pages: `roster` (HEROs and their health), `connections`
//!   (one per HERO) and `feeds` (one subscription per watched HERO member, fanned out).
//! - `http`: the routes and the live stream; `failure`: errors as HTTP; `actions`: calls and
//!   sets; `forms`: fields as typed inputs.
//! - `assets`: the page (`assets/index.html`, `app.js`, `style.css`), built into the binary.

mod actions;
mod assets;
mod connections;
mod failure;
mod feeds;
mod forms;
mod http;
mod hub;
mod listen;
mod roster;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::locate::Locator;

/// Serves the monitor on `listen` until Ctrl-C.
pub(crate) async fn run(locator: Locator, listen: SocketAddr, allow_remote: bool, timeout: Duration) -> Result<()> {
    listen::check(listen, allow_remote)?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| anyhow!("cannot listen on {listen}: {e}"))?;
    if !local.ip().is_loopback() {
        eprintln!(
            "heros monitor: listening on {local}, beyond this machine (--allow-remote): whoever reaches it \
             can use these credentials"
        );
    }
    let realm = locator.realm.clone();
    let hub = hub::Hub::start(locator, timeout)?;
    // The first line says where: with `--listen 127.0.0.1:0`, scripts and tests read the port.
    crate::output::line(format_args!("monitor of realm '{realm}' at http://{local}/"));
    let app = http::router(hub, local, allow_remote);
    crate::until_stopped(
        async { axum::serve(listener, app).await.map_err(|e| anyhow!("the monitor stopped: {e}")) },
        None,
    )
    .await
}
