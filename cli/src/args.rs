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

    /// Credentials folder of a secured realm (`ca.pem`, `cert.pem`, `key.pem`, as `heros realm
    /// issue` writes it): calls go over TLS with this certificate. Default: HEROS_CREDENTIALS.
    #[arg(long, global = true, value_name = "DIR", env = "HEROS_CREDENTIALS")]
    pub(crate) credentials: Option<std::path::PathBuf>,

    /// Shared token of a token-secured realm (the weaker mode; see README "Securing a realm"),
    /// sent with every call. Default: HEROS_TOKEN (better than the flag, which `ps` shows).
    #[arg(long, global = true, value_name = "TOKEN", env = "HEROS_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,

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
        /// Also list the HEROs on zenoh (Python HEROS, and Rust HEROs shared there) of the realm
        /// (--realm, else HEROS_REALM, else `heros`), in a WORLD column (`grpc` or `zenoh`; the
        /// JSON field `world`). Opens a zenoh session (HEROS_ZENOH_CONFIG, else zenoh's
        /// defaults: multicast scouting). Needs a tool built with the `zenoh` feature.
        #[arg(long, conflicts_with = "watch")]
        zenoh: bool,
    },
    /// A HERO's interfaces: methods with their request and reply, attributes, events.
    Describe {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
    },
    /// Calls a method with its request as JSON; prints the reply as JSON. A method that streams
    /// its replies prints one JSON line per reply as it arrives; one that takes a stream of
    /// requests reads them as JSON lines (from stdin, sent as they are read; EOF ends the
    /// stream). Ctrl-C stops a streaming call.
    Call {
        /// A HERO name, or a `heros://host:port/name` URL.
        hero: String,
        /// The method (`ReadTemp`, `read_temp`, or `examples.v1.TestObject/ReadTemp`).
        method: String,
        /// The request message as a JSON object (default `{}`); `-` reads it from stdin. For a
        /// method that takes a stream of requests: their JSON lines (default, and `-`: stdin).
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
    /// Serves a web page that shows the realm's HEROs live: health, attribute values, events (with
    /// plots of numbers), and forms to set attributes and call methods. Uses --realm, --peer,
    /// --credentials and --token like the other commands. Runs until Ctrl-C.
    Monitor {
        /// Address of the page. Loopback only, unless --allow-remote: the page can do whatever
        /// this tool's credentials allow.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Allow a --listen address beyond this machine (anyone who reaches it can call HEROs).
        #[arg(long)]
        allow_remote: bool,
    },
    /// Makes a secured realm's credentials: `realm init <dir>` (the realm CA), `realm issue <dir>
    /// <name>` (a certificate for a process or a person).
    Realm {
        #[command(subcommand)]
        action: RealmCommand,
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

#[derive(Debug, Subcommand)]
pub(crate) enum RealmCommand {
    /// Makes a realm CA in DIR: `ca.pem` (for everyone) and `ca.key` (keep it here, private).
    Init {
        /// The realm's folder (created if needed).
        dir: std::path::PathBuf,
    },
    /// Issues a certificate for NAME signed by the realm CA in DIR, and writes a credentials
    /// folder (`ca.pem`, `cert.pem`, `key.pem`) for it: point HEROS_CREDENTIALS there. Prints the
    /// certificate's serial (to revoke it: add the serial to a `denylist` file beside `ca.pem`).
    Issue {
        /// The realm's folder, made by `heros realm init`.
        dir: std::path::PathBuf,
        /// The process or person (the certificate's common name).
        name: String,
        /// `operate` (everything) or `observe` (list, describe, get, watch).
        #[arg(long, default_value = "operate")]
        role: heros_runtime::Role,
        /// Where to write the credentials folder (default: DIR/NAME).
        #[arg(long, value_name = "OUT")]
        out: Option<std::path::PathBuf>,
    },
}

const EXAMPLES: &str = "\
Examples:
  heros list
  heros list --zenoh                         (Python HEROS's HEROs too; feature `zenoh`)
  heros describe my_hero
  heros call my_hero ReadTemp '{\"min\": 0, \"max\": 10}'
  heros set my_hero testme 10
  heros --json get my_hero testme
  heros watch furnace Overheated --count 3
  heros --peer 127.0.0.1:50051 list          (no mDNS: ask that server)
  heros call heros://127.0.0.1:50051/my_hero hello
  heros call guide ListFeatures '{\"lo\": {\"latitude\": 1}, \"hi\": {\"latitude\": 9}}'   (one line per reply)
  printf '{\"latitude\": 1}\n{\"latitude\": 2}\n' | heros call guide RecordRoute   (a stream of requests)
  heros realm init lab && heros realm issue lab oven && heros realm issue lab ada --role observe
  heros --credentials lab/ada list           (a secured realm; or HEROS_CREDENTIALS=lab/ada)
  heros monitor --realm lab                  (then open http://127.0.0.1:8080/)";

fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is not a number of seconds >= 0"))
}
