//! The command line: global options and one subcommand per thing a person does with HEROs.

use std::time::Duration;

use clap::{Parser, Subcommand};

/// Lists, describes, calls and watches HEROs. Every interface is read from the HERO's server
/// (gRPC reflection), so no `.proto` file is needed.
#[derive(Debug, Parser)]
#[command(name = "heros", version, about, long_about = None, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Machine-readable output: JSON (one JSON value per line for `watch` and `list --watch`).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// The realm of the HEROs looked up by name (default: HEROS_REALM, else `heros`). `list`
    /// shows every realm unless this is given.
    #[arg(long, global = true, value_name = "REALM")]
    pub(crate) realm: Option<String>,

    /// Ask this server directly (its registry) instead of using mDNS; repeatable. Also read from
    /// HEROS_PEERS. Accepts `host:port`, `http://host:port` or `heros://host:port`.
    #[arg(long = "peer", global = true, value_name = "HOST:PORT")]
    pub(crate) peers: Vec<String>,

    /// Seconds to wait for discovery and for each call (default: 10 to find a HERO by name,
    /// 2 to collect the list of HEROs).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) timeout: Option<Duration>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The HEROs that discovery (or the peers) know: name, realm, interfaces, tags, endpoint.
    List {
        /// Then print HEROs joining (+), leaving (-) and changing (~), until Ctrl-C. With --json,
        /// one line per change, `{"change": "joined"|"left"|"changed", "hero": {...}}`, the HEROs
        /// known at the start as joined.
        #[arg(long)]
        watch: bool,
        /// With --watch: stop after this many seconds.
        #[arg(long = "for", value_name = "SECONDS", value_parser = seconds, requires = "watch")]
        duration: Option<Duration>,
    },
    /// A HERO's interfaces: methods with their request and reply, attributes, events.
    Describe {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
    },
    /// Calls a method with its request as JSON; prints the reply as JSON.
    Call {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
        /// The method (`ReadTemp`, `read_temp`, or `examples.v1.TestObject/ReadTemp`).
        method: String,
        /// The request message as a JSON object (default `{}`); `-` reads it from stdin.
        request: Option<String>,
    },
    /// Reads an attribute; prints its value as JSON.
    Get {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
        /// The attribute (`Testme` or `testme`).
        attribute: String,
    },
    /// Sets an attribute to a JSON value; prints the value it then has.
    Set {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
        /// The attribute (`Testme` or `testme`).
        attribute: String,
        /// The new value as JSON, e.g. `10`, `"text"` or `{"x": 1}`; `-` reads it from stdin.
        value: String,
    },
    /// Prints each event as JSON (and how many were missed) until Ctrl-C. An attribute can be
    /// watched too: its current value, then each new one.
    Watch {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
        /// The event (`Overheated`) or attribute (`testme`).
        event: String,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long = "for", value_name = "SECONDS", value_parser = seconds)]
        duration: Option<Duration>,
    },
}

const EXAMPLES: &str = "\
Examples:
  heros list
  heros describe my_hero
  heros call my_hero ReadTemp '{\"min\": 0, \"max\": 10}'
  heros set my_hero testme 10
  heros --json get my_hero testme
  heros watch furnace Overheated --count 3
  heros --peer 127.0.0.1:50051 list          (no mDNS: ask that server)
  heros call heros://127.0.0.1:50051/my_hero hello";

fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is not a number of seconds >= 0"))
}
