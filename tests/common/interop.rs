//! The HEROs that clients in other languages drive (`tests/interop_python.rs`,
//! `tests/interop_node.rs`): one of each kind of thing a HERO can do, on one server, so that a
//! Python or Node client with nothing but the `.proto` files exercises methods, attributes, remote
//! errors, events, handles, references, realms and streaming methods against real Rust HEROs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use heros::Server;

pub use super::interop_heros::*;

/// A client process that takes longer than this hangs; it is killed and the test fails.
const CLIENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `tests/interop/<language>/setup.sh <folder>` once per test process (it is quick when
/// nothing changed) and returns the folder, under `target/tmp`, where it installed the language's
/// side. A failing setup fails the test with its output: a machine that cannot install the other
/// language must not pass.
pub fn install(language: &str) -> PathBuf {
    static INSTALLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{language}"));
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if !installed.iter().any(|done| done == language) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/interop/{language}/setup.sh"));
        let output = Command::new("bash").arg(&script).arg(&folder).output().expect("bash runs setup.sh");
        assert!(
            output.status.success(),
            "{} failed ({}):\n{}{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        installed.push(language.to_owned());
    }
    folder
}

/// Runs a client process to its end, prints its output and returns it; fails the test with that
/// output when the client exits non-zero or runs longer than [`CLIENT_LIMIT`]. Blocking.
pub fn run_client(mut command: Command, what: &str) -> String {
    let finished = heros_testing::process::run_to_end(&mut command, CLIENT_LIMIT).expect("the client starts");
    let output = format!("{}{}", finished.stdout, finished.stderr);
    println!("--- {what} ---\n{output}--- end of {what} ---");
    match finished.status {
        Some(status) if status.success() => output,
        Some(status) => panic!("{what} failed ({status}):\n{output}"),
        None => panic!("{what} did not finish within {CLIENT_LIMIT:?}:\n{output}"),
    }
}

/// Serves the interop HEROs (`included` among them) on a loopback server of their own (no mDNS)
/// while `client` runs, on a blocking thread, with the server's `host:port`; returns what
/// `client` returns.
pub async fn against_interop_heros<T: Send + 'static>(
    included: IncludedHeros,
    client: impl FnOnce(String) -> T + Send + 'static,
) -> T {
    let server = super::local_server().await;
    let _heros = share_interop_heros(&server, included).await;
    let target = server.local_addr().to_string();
    let output = in_blocking_thread(move || client(target)).await;
    server.shutdown().await;
    output
}

/// Like [`against_interop_heros`], on a server of a secured realm made for the occasion (a new
/// realm CA; TLS with mutual authentication): `client` gets the server's `host:port` and a
/// credentials folder (`ca.pem`, `cert.pem`, `key.pem`, role operate) issued for `language`.
pub async fn against_secured_interop_heros<T: Send + 'static>(
    language: &str,
    included: IncludedHeros,
    client: impl FnOnce(String, PathBuf) -> T + Send + 'static,
) -> T {
    use heros::security::realm;
    let dir = std::env::temp_dir().join(format!("heros-interop-{language}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    realm::init(&dir).expect("realm CA");
    let server_credentials = realm::issue(&dir, "server", heros::Role::Operate, None).expect("server certificate").dir;
    let client_credentials = realm::issue(&dir, language, heros::Role::Operate, None).expect("client certificate").dir;
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(false)
        .credentials(server_credentials)
        .start()
        .await
        .expect("secured server starts");
    let _heros = share_interop_heros(&server, included).await;
    let target = server.local_addr().to_string();
    let output = in_blocking_thread(move || client(target, client_credentials)).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    output
}

/// Runs `f` off the runtime (servers keep serving meanwhile); its panic is the test's.
pub async fn in_blocking_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
