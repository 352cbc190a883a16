//! `heros-zenoh`: the HEROs on zenoh (Python HEROS, and Rust HEROs shared with `ZenohFace`),
//! listed and called from the command line. `heros list` shows the gRPC world (and, built with
//! its feature `zenoh`, both with `--zenoh`); this tool calls the zenoh one, so that the default
//! `heros` tool never compiles zenoh.
//!
//! ```text
//! heros-zenoh list [--realm R] [--wait-ms N] [--json]
//! heros-zenoh call NAME METHOD [ARG ...] [KEY=VALUE ...] [--realm R]   (values are JSON)
//! heros-zenoh get NAME ATTRIBUTE [--realm R]
//! heros-zenoh set NAME ATTRIBUTE VALUE [--realm R]
//! heros-zenoh watch NAME EVENT [--realm R]
//! ```
//!
//! The zenoh session is configured from `HEROS_ZENOH_CONFIG` (JSON5), as Python HEROS's is.

use std::process::ExitCode;
use std::time::Duration;

use heros_zenoh::{discover, RemoteHero, ZenohFace};
use serde_json::{Map, Value};

const USAGE: &str = "usage:
  heros-zenoh list [--realm R] [--wait-ms N] [--json]
  heros-zenoh call NAME METHOD [ARG ...] [KEY=VALUE ...] [--realm R]   (ARG and VALUE are JSON)
  heros-zenoh get NAME ATTRIBUTE [--realm R]
  heros-zenoh set NAME ATTRIBUTE VALUE [--realm R]
  heros-zenoh watch NAME EVENT [--realm R]";

struct Options {
    realm: String,
    wait: Duration,
    json: bool,
    words: Vec<String>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options { realm: "heros".into(), wait: Duration::from_secs(2), json: false, words: Vec::new() };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--realm" => options.realm = args.next().ok_or("--realm needs a value")?,
            "--wait-ms" => {
                let ms = args.next().ok_or("--wait-ms needs a value")?;
                options.wait =
                    Duration::from_millis(ms.parse().map_err(|_| format!("--wait-ms: '{ms}' is not a number"))?);
            }
            "--json" => options.json = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => options.words.push(arg),
        }
    }
    Ok(options)
}

fn json_arg(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("'{text}' is not JSON ({e}); quote strings: '\"text\"'"))
}

async fn run(options: Options) -> Result<(), String> {
    let words: Vec<&str> = options.words.iter().map(String::as_str).collect();
    let face = ZenohFace::open().await.map_err(|e| e.to_string())?;
    let session = face.session();
    let connect = |name: &str| {
        let name = name.to_owned();
        let realm = options.realm.clone();
        async move { RemoteHero::connect(session, &realm, &name, options.wait).await.map_err(|e| e.to_string()) }
    };
    match words.as_slice() {
        ["list"] => {
            let heros = discover(session, &options.realm, options.wait).await.map_err(|e| e.to_string())?;
            if options.json {
                println!("{}", Value::Array(heros.iter().map(|h| h.raw.clone()).collect()));
            } else if heros.is_empty() {
                println!("no HEROs answered in realm '{}'", options.realm);
            } else {
                println!("{:<24} {:<20} {:<28} TAGS", "NAME", "CLASS", "IMPLEMENTS");
                for hero in heros {
                    let tags: Vec<&str> =
                        hero.tags.iter().map(String::as_str).filter(|t| !t.starts_with("_zid:")).collect();
                    println!(
                        "{:<24} {:<20} {:<28} {}",
                        hero.name,
                        hero.class,
                        hero.implements.join(","),
                        tags.join(",")
                    );
                }
            }
        }
        ["call", name, method, rest @ ..] => {
            let (mut args, mut kwargs) = (Vec::new(), Map::new());
            for word in rest {
                match word.split_once('=') {
                    Some((key, value)) if !key.is_empty() && !key.starts_with(['"', '[', '{']) => {
                        kwargs.insert(key.to_owned(), json_arg(value)?);
                    }
                    _ => args.push(json_arg(word)?),
                }
            }
            let hero = connect(name).await?;
            println!("{}", hero.call(method, args, kwargs).await.map_err(|e| e.to_string())?);
        }
        ["get", name, attribute] => {
            println!("{}", connect(name).await?.get(attribute).await.map_err(|e| e.to_string())?);
        }
        ["set", name, attribute, value] => {
            let value = json_arg(value)?;
            connect(name).await?.set(attribute, &value).await.map_err(|e| e.to_string())?;
        }
        ["watch", name, event] => {
            let hero = connect(name).await?;
            let events = hero.subscribe(event).await.map_err(|e| e.to_string())?;
            while let Some(value) = events.recv().await {
                println!("{value}");
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Ok(filter) = std::env::var("HEROS_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("heros-zenoh: {message}");
            ExitCode::FAILURE
        }
    }
}
