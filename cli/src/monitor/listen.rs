//! Where the monitor may listen. Its page calls every HERO of the realm with the tool's own
//! credentials or token, so whoever reaches the page can do what those credentials allow: it
//! listens on loopback unless `--allow-remote` says otherwise, and only answers requests whose
//! `Host` names the address it listens on (a web page elsewhere cannot reach it through DNS
//! rebinding).

use std::net::SocketAddr;

use anyhow::{bail, Result};

/// Refuses a non-loopback `listen` address unless `allow_remote`.
pub(crate) fn check(listen: SocketAddr, allow_remote: bool) -> Result<()> {
    if listen.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    bail!(
        "refusing to listen on {listen}: the monitor calls HEROs with this tool's credentials, and \
         anyone who reaches that address could too. Listen on loopback (the default, \
         127.0.0.1:8080; reach it from elsewhere with an SSH tunnel), or add --allow-remote"
    )
}

/// Whether a request's `Host` header is one the monitor answers. On loopback: the literal
/// addresses and `localhost`, with the port it listens on. With `--allow-remote` any host is
/// accepted (the person chose to be reachable by other names).
pub(crate) fn host_allowed(host: Option<&str>, listen: SocketAddr, allow_remote: bool) -> bool {
    if allow_remote {
        return true;
    }
    let Some(host) = host else { return false };
    let port = listen.port();
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"))
        || host == listen.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_is_allowed_anything_else_needs_the_flag() {
        assert!(check(addr("127.0.0.1:8080"), false).is_ok());
        assert!(check(addr("[::1]:8080"), false).is_ok());
        let error = check(addr("0.0.0.0:8080"), false).unwrap_err().to_string();
        assert!(error.contains("refusing to listen on 0.0.0.0:8080") && error.contains("--allow-remote"), "{error}");
        assert!(check(addr("198.18.0.1:80"), false).is_err());
        assert!(check(addr("0.0.0.0:8080"), true).is_ok());
    }

    #[test]
    fn only_the_listening_host_is_answered() {
        let listen = addr("127.0.0.1:8080");
        assert!(host_allowed(Some("127.0.0.1:8080"), listen, false));
        assert!(host_allowed(Some("localhost:8080"), listen, false));
        assert!(!host_allowed(Some("evil.example:8080"), listen, false));
        assert!(!host_allowed(Some("localhost:9999"), listen, false));
        assert!(!host_allowed(None, listen, false));
        assert!(host_allowed(Some("monitor.lab:8080"), addr("0.0.0.0:8080"), true));
    }
}
