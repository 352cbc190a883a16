//! Values that cannot travel: an instrument's sessions stay in the instrument's process and
//! callers hold handles to them, as with Python HEROS's unserializable return values (but
//! counted, and released when the caller drops them or goes away).
//!
//! ```sh
//! cargo run --example unserializable
//! ```
//!
//! Two processes, as in `quickstart` (a private network namespace; `HEROS_NETNS=host` uses the
//! real network): this one starts the *instrument process*, which shares `instrument`; then it
//! opens two sessions, reads through each, puts `Settings` on the instrument's server with
//! `store` and passes that handle to `configure`, and finally drops its handles and watches the
//! server's handle table empty (the releases go out in batches, in the background).

mod proto {
    heros::include_proto!("examples.v1");
}

#[path = "support/second_process.rs"]
mod second_process;

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::{Instrument, InstrumentRemote, InstrumentServer, Settings};

/// An open session: a channel, its gain, and the log file every reading goes to. An open file is
/// a descriptor of this process and means nothing anywhere else, so the session cannot be sent.
struct Session {
    channel: u32,
    gain: Mutex<f64>,
    log: Mutex<std::fs::File>,
    path: std::path::PathBuf,
}

impl Drop for Session {
    // Runs when the last handle to the session is released: proof, on this side, that it was.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        println!("session on channel {} closed, its log {} removed", self.channel, self.path.display());
    }
}

/// A fake instrument whose channel `n` reads `gain * (1 + n/10)`.
struct Lab;

impl Instrument for Lab {
    type InstrumentSession = Session;

    async fn open(&self, channel: u32) -> heros::Result<std::sync::Arc<Session>> {
        let path = std::env::temp_dir().join(format!("heros-instrument-{}-ch{channel}.log", std::process::id()));
        let log = std::fs::File::create(&path)
            .map_err(|e| heros::Error::failed("IoError", format!("{}: {e}", path.display())))?;
        Ok(std::sync::Arc::new(Session { channel, gain: Mutex::new(1.0), log: Mutex::new(log), path }))
    }

    async fn read(&self, session: std::sync::Arc<Session>) -> heros::Result<f64> {
        let value = *session.gain.lock().unwrap() * (1.0 + f64::from(session.channel) / 10.0);
        writeln!(session.log.lock().unwrap(), "{value}").map_err(|e| heros::Error::failed("IoError", e))?;
        Ok(value)
    }

    async fn configure(&self, session: std::sync::Arc<Session>, settings: Settings) -> heros::Result<String> {
        *session.gain.lock().unwrap() = settings.gain;
        Ok(format!("channel {}: gain {} ('{}')", session.channel, settings.gain, settings.label))
    }
}

/// The instrument process: says READY and serves until `stop` resolves.
async fn serve_instrument(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let hero = heros::share("instrument", InstrumentServer::new(Lab)).await?;
    println!("READY: 'instrument' at {}", hero.url());
    stop.await;
    hero.shutdown().await;
    println!("'instrument' has left");
    Ok(())
}

/// One line about the instrument server's handle table.
fn print_stats(stats: &heros::proto::HandleStats, when: &str) {
    let sessions = stats.sessions.len();
    println!(
        "handle table {when}: {} entries, {} references, client sessions: {sessions}",
        stats.entries, stats.references
    );
}

/// This process's side: sessions and settings by handle.
async fn use_instrument() -> anyhow::Result<()> {
    let instrument = InstrumentRemote::connect("instrument").await?;
    print_stats(&instrument.target().handle_stats().await?, "at first");
    let first = instrument.open(1).await?;
    let second = instrument.open(2).await?;
    for session in [&first, &second] {
        println!("open -> handle {} '{}'", session.type_name(), session.repr());
    }
    println!(
        "read(first) = {:.3}, read(second) = {:.3}",
        instrument.read(&first).await?,
        instrument.read(&second).await?
    );

    // Settings are a plain message, but stored once they can be passed by handle to any call.
    let settings = instrument.target().store(&Settings { gain: 10.0, label: "calibrated".into() }).await?;
    println!("store(Settings) -> handle {} '{}'", settings.type_name(), settings.repr());
    println!("configure(first, settings) -> {}", instrument.configure(&first, &settings).await?);
    println!("read(first) = {:.3} after configure", instrument.read(&first).await?);
    print_stats(&instrument.target().handle_stats().await?, "with two sessions and the settings");

    drop((first, second, settings));
    // The releases leave in the background: poll until the table is empty, within a deadline.
    let dropped = Instant::now();
    loop {
        let stats = instrument.target().handle_stats().await?;
        if stats.entries == 0 {
            print_stats(&stats, &format!("{} ms after dropping the handles", dropped.elapsed().as_millis()));
            return Ok(());
        }
        anyhow::ensure!(
            dropped.elapsed() < Duration::from_secs(5),
            "the instrument still holds {stats:?} 5 s after the drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() -> anyhow::Result<()> {
    second_process::run("unserializable", "instrument", serve_instrument, use_instrument)
}
