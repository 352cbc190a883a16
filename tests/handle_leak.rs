//! Nothing leaks when a client dies: a client process takes 10,000 handles (each value holding
//! 16 KiB) and is killed with SIGKILL; the server's table returns to zero within the lease, every
//! value is dropped, and the server's memory comes back.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::lab::TestInstrument;
use common::proto::{self, InstrumentRemote};
use heros::{Hero, Server};

const HANDLES: usize = 10_000;
const BALLAST: usize = 16 * 1024;
const LEASE: Duration = Duration::from_secs(5);

/// Not a test by itself: the client process of the test below. It takes the handles, says so,
/// and waits to be killed.
#[test]
fn handle_client_role() {
    let Ok(url) = std::env::var("HEROS_TEST_HANDLE_CLIENT") else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let stub = InstrumentRemote::connect(&url).await.unwrap();
        let mut handles = Vec::with_capacity(HANDLES);
        for channel in 0..HANDLES {
            handles.push(stub.open(channel as u32).await.unwrap());
        }
        println!("HELD {}", handles.len());
        std::future::pending::<()>().await;
    });
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Gives freed heap pages back to the kernel, so that RSS shows what is really still in use.
#[allow(unsafe_code)] // one libc call without preconditions
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_leaves_nothing_behind() {
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(false)
        .lease(LEASE)
        // One client session holds all of them.
        .limits(heros::Limits { max_handles_per_session: HANDLES, ..heros::Limits::default() })
        .start()
        .await
        .unwrap();
    let instrument = TestInstrument::new(BALLAST);
    let live = instrument.live.clone();
    let hero = server.share(Hero::new("instrument").interface(proto::InstrumentServer::new(instrument))).await.unwrap();
    trim_heap();
    let before = rss();

    let mut client = Command::new(std::env::current_exe().unwrap())
        .args(["handle_client_role", "--exact", "--nocapture"])
        .env("HEROS_TEST_HANDLE_CLIENT", hero.url())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = client.stdout.take().unwrap();
    let held = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).find(|line| line.contains("HELD "))
    });
    let held = tokio::time::timeout(Duration::from_secs(120), held).await.expect("client took its handles").unwrap();
    assert!(held.is_some_and(|line| line.contains(&format!("HELD {HANDLES}"))));

    let stats = server.handle_stats();
    assert_eq!(stats.entries, HANDLES as u64);
    assert_eq!(stats.sessions.len(), 1);
    assert!(stats.sessions[0].held);
    assert_eq!(live.load(Ordering::SeqCst), HANDLES);
    let peak = rss();
    let grown = peak.saturating_sub(before);
    assert!(grown >= (HANDLES * BALLAST) as u64 / 2, "the values show in memory: grew {grown} bytes");

    client.kill().unwrap(); // SIGKILL: no goodbye, no releases
    client.wait().unwrap();
    let killed = Instant::now();
    // The values are dropped just after they leave the table (outside its lock): wait for both.
    while server.handle_stats().entries > 0 || live.load(Ordering::SeqCst) > 0 {
        assert!(
            killed.elapsed() < LEASE,
            "not released within the lease: {} values alive, table {:?}",
            live.load(Ordering::SeqCst),
            server.handle_stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let emptied_after = killed.elapsed();
    assert!(server.handle_stats().sessions.is_empty());

    trim_heap();
    let after = rss();
    let kept = after.saturating_sub(before);
    println!(
        "table empty {emptied_after:?} after SIGKILL; RSS before {} MiB, with {HANDLES} handles {} MiB, after {} MiB",
        before >> 20,
        peak >> 20,
        after >> 20
    );
    assert!(kept < grown / 4, "memory did not come back: {kept} of {grown} bytes still resident");
}
