//! Both sides of the HEROS usage guide in one command, as two processes that find each other over
//! real mDNS:
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It first moves into a private network namespace of its own (so no multicast leaves the
//! machine; this needs root), then starts itself again as the process that shares "my_hero",
//! runs the access side against it, and stops the HERO. Set `HEROS_NETNS=host` to use the
//! machine's real network instead.

#[path = "access_remote_hero_simple.rs"]
mod access_side;
#[path = "share_local_hero_simple.rs"]
mod share_side;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn main() -> anyhow::Result<()> {
    // Before any thread exists, so that the runtime's threads and the child inherit it.
    if std::env::var("HEROS_NETNS").as_deref() != Ok("host") && std::env::var_os("QUICKSTART_SHARE").is_none() {
        heros_testing::netns::enter_private_network()
            .map_err(|e| anyhow::anyhow!("{e}\n(run as root, or set HEROS_NETNS=host to use the real network)"))?;
        println!("quickstart: in a private network namespace (only lo, multicast stays here)");
    }
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("HEROS_LOG")).init();
    let runtime = tokio::runtime::Runtime::new()?;
    if std::env::var_os("QUICKSTART_SHARE").is_some() {
        return runtime.block_on(share_side::run(share_side::interrupted()));
    }

    let started = std::time::Instant::now();
    let mut hero_process =
        Command::new(std::env::current_exe()?).env("QUICKSTART_SHARE", "1").stdout(Stdio::piped()).spawn()?;
    let mut hero_output = BufReader::new(hero_process.stdout.take().expect("piped"));
    let mut ready = String::new();
    hero_output.read_line(&mut ready)?;
    print!("[hero process] {ready}");
    if ready.is_empty() {
        anyhow::bail!("the HERO process ended before it was ready: {:?}", hero_process.wait()?);
    }

    let result = runtime.block_on(access_side::run("my_hero"));
    println!("quickstart: done in {:.2} s", started.elapsed().as_secs_f64());

    // SIGTERM lets the HERO say goodbye on mDNS and finish its calls.
    Command::new("kill").arg("-TERM").arg(hero_process.id().to_string()).status()?;
    for line in hero_output.lines() {
        println!("[hero process] {}", line?);
    }
    hero_process.wait()?;
    result
}
