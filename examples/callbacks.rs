//! Callbacks: a client shares a HERO of its own and passes a reference to it; the other side
//! calls back into the client through that reference.
//!
//! ```sh
//! cargo run --example callbacks
//! ```
//!
//! Two processes, as in `quickstart` (a private network namespace; `HEROS_NETNS=host` uses the
//! real network): this one starts the *notifier process*, which shares `notifier`. This process
//! shares a `Listener` on a server of its own, without mDNS (the reference carries the
//! listener's address, so the notifier needs no discovery to call it), and passes it to
//! `notifier.countdown(&listener, 3)`. While that call runs, the notifier calls `notify` on the
//! listener three times, each call a request from the notifier's process back into this one.

mod proto {
    heros::include_proto!("examples.v1");
}

#[path = "support/second_process.rs"]
mod second_process;

use std::sync::{Arc, Mutex};

use proto::{Listener, ListenerRemote, ListenerServer, Notifier, NotifierRemote, NotifierServer};

/// The client's listener: keeps the notices it is sent.
#[derive(Default)]
struct Notices(Mutex<Vec<(u32, String)>>);

impl Listener for Notices {
    async fn notify(&self, sequence: u32, text: String) -> heros::Result<()> {
        println!("listener: notice {sequence}: {text}");
        self.0.lock().unwrap().push((sequence, text));
        Ok(())
    }
}

/// Counts down into whatever listener it is given.
struct Countdown;

impl Notifier for Countdown {
    async fn countdown(&self, listener: ListenerRemote, count: u32) -> heros::Result<u32> {
        println!("notifier: calling back '{}' at {}", listener.target().name(), listener.target().endpoint());
        for sequence in 1..=count {
            // Each notice waits for the listener's answer, so they arrive in order and an error
            // on the listener's side ends the countdown and reaches the caller of `countdown`.
            listener.notify(sequence, format!("T minus {}", count - sequence + 1)).await?;
        }
        Ok(count)
    }
}

/// The notifier process: says READY and serves until `stop` resolves.
async fn serve_notifier(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let hero = heros::share("notifier", NotifierServer::new(Countdown)).await?;
    println!("READY: 'notifier' at {}", hero.url());
    stop.await;
    hero.shutdown().await;
    println!("'notifier' has left");
    Ok(())
}

/// This process's side: a listener of its own, passed by reference.
async fn listen() -> anyhow::Result<()> {
    let notifier = NotifierRemote::connect("notifier").await?;
    // A server of this process for the listener alone: nobody needs to find it by name.
    let server = heros::Server::builder().mdns(false).start().await?;
    let notices = Arc::new(Notices::default());
    let listener =
        server.share(heros::Hero::new("listener").interface(ListenerServer::from_arc(notices.clone()))).await?;
    println!("listener shared at {} (not advertised)", listener.url());

    let delivered = notifier.countdown(&listener, 3).await?;
    println!("countdown(&listener, 3) -> {delivered} delivered");
    let received = notices.0.lock().unwrap().clone();
    println!("notices received: {received:?}");
    anyhow::ensure!(received.len() == delivered as usize, "{delivered} delivered but {} received", received.len());

    listener.shutdown().await;
    server.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    second_process::run("callbacks", "notifier", serve_notifier, listen)
}
