//! `heros monitor` as a child process, and a small HTTP/1.1 client for its API and its
//! server-sent events (the tests need nothing more than this, so no HTTP client crate).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A running monitor; killed when dropped.
pub struct Monitor {
    child: Child,
    /// `127.0.0.1:port`, as the monitor printed it.
    pub address: String,
    /// What it printed first (`monitor of realm 'r' at http://...`).
    pub first_line: String,
    /// Kept open: a monitor whose stdout is closed would stop at its next line.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Monitor {
    /// Starts `heros <args> monitor --listen 127.0.0.1:0 <monitor_args>`, with HEROS_DISCOVERY
    /// off when `no_mdns`, and waits until it says where it listens.
    pub fn start(args: &[&str], no_mdns: bool, env: &[(&str, &str)]) -> Monitor {
        let mut all = super::owned(args);
        all.extend(super::owned(&["monitor", "--listen", "127.0.0.1:0"]));
        let mut command = Command::new(env!("CARGO_BIN_EXE_heros"));
        command.args(&all).stdout(Stdio::piped()).stderr(Stdio::inherit()).env_remove("HEROS_PEERS");
        command.env_remove("HEROS_REALM").env_remove("HEROS_CREDENTIALS").env_remove("HEROS_TOKEN");
        if no_mdns {
            command.env("HEROS_DISCOVERY", "off");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the heros binary runs");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .map(|rest| rest.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| panic!("the monitor did not say where it listens: {line:?}"));
        Monitor { child, address, first_line: line, _stdout: stdout }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path`: the status and the body as JSON (`Null` if it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, &[], "").await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.request("POST", path, &[("Content-Type", "application/json")], body).await
    }

    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        let (status, body) = self.raw(method, path, headers, body).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// One request on a connection of its own; the status and the body as text.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).await.expect("the monitor accepts");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: {}\r\n", self.address));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            unchunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    }

    /// Opens `/api/stream` (with `?hero=`): the status, and the stream if it is 200.
    pub async fn stream(&self, hero: Option<&str>) -> (u16, Option<Events>) {
        let path = match hero {
            Some(hero) => format!("/api/stream?hero={hero}"),
            None => "/api/stream".to_owned(),
        };
        let mut stream = TcpStream::connect(&self.address).await.expect("the monitor accepts");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n", self.address);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).await.unwrap();
        let status = status_line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let mut chunked = false;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await.unwrap();
            if header.trim().is_empty() {
                break;
            }
            chunked |= header.to_ascii_lowercase().starts_with("transfer-encoding: chunked");
        }
        if status != 200 {
            return (status, None);
        }
        assert!(chunked, "an event stream of unknown length is chunked");
        (status, Some(Events { reader, pending: String::new() }))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A body in chunked transfer encoding, decoded.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A server-sent-events stream: its `data:` items as JSON, in order.
pub struct Events {
    reader: BufReader<TcpStream>,
    /// Decoded text not yet split into lines.
    pending: String,
}

impl Events {
    /// The next item, waiting at most `seconds`; panics on a timeout or the end of the stream.
    pub async fn next(&mut self, seconds: u64) -> Value {
        tokio::time::timeout(Duration::from_secs(seconds), self.next_item())
            .await
            .expect("an item in time")
            .expect("the stream goes on")
    }

    /// The next item for which `wanted` holds, skipping the others.
    pub async fn next_where(&mut self, seconds: u64, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let item = tokio::time::timeout(left, self.next_item())
                .await
                .expect("the wanted item in time")
                .expect("the stream goes on");
            if wanted(&item) {
                return item;
            }
        }
    }

    async fn next_item(&mut self) -> Option<Value> {
        loop {
            // One event: `data: ...` lines ended by an empty line (keep-alive comments skipped).
            if let Some(end) = self.pending.find("\n\n") {
                let event: String = self.pending.drain(..end + 2).collect();
                let data: Vec<&str> = event.lines().filter_map(|line| line.strip_prefix("data:")).collect();
                if data.is_empty() {
                    continue;
                }
                let data = data.iter().map(|line| line.trim_start()).collect::<Vec<_>>().join("\n");
                return Some(serde_json::from_str(&data).unwrap_or_else(|e| panic!("not JSON ({e}): {data}")));
            }
            let mut size = String::new();
            if self.reader.read_line(&mut size).await.ok()? == 0 {
                return None;
            }
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                return None;
            }
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk).await.ok()?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk[..size]));
        }
    }
}
