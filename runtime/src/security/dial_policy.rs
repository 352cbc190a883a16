//! Where a server may connect while it serves a call. A `HeroRef` argument and a callback target
//! make the server dial an address the caller names; unchecked, any caller could use a HERO to
//! probe or reach hosts and ports it cannot reach itself (and read the answer from the error).
//! By default (`HEROS_DIAL=known`) a server dials only endpoints that discovery or `HEROS_PEERS`
//! knows, its own, and the calling peer's own address; anything else is refused before any
//! connection, with [`Error::DialRefused`], which says nothing about the target.
//!
//! Dialling outside of a call (a client resolving a reference a server returned) is not checked:
//! there the process dials for itself.

use std::net::IpAddr;
use std::sync::RwLock;

use crate::error::{Error, Result};

/// Which endpoints a server may dial on a caller's behalf (`HEROS_DIAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DialPolicy {
    /// Endpoints discovery or `HEROS_PEERS` knows, the server's own, the caller's address.
    #[default]
    Known,
    /// Anywhere (the behaviour before version 1 had security; for closed networks).
    Any,
}

impl std::str::FromStr for DialPolicy {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "known" => Ok(DialPolicy::Known),
            "any" => Ok(DialPolicy::Any),
            other => Err(format!("'{other}' is neither 'known' nor 'any'")),
        }
    }
}

/// What the process's server knows: set when it starts (one server per process).
pub(crate) struct ServerSide {
    pub(crate) policy: DialPolicy,
    /// `HEROS_PEERS`, as `http://host:port`.
    pub(crate) peers: Vec<String>,
    /// The server's own endpoints.
    pub(crate) own: Vec<String>,
    /// The endpoints discovery knows now (asked only when a reference is checked).
    pub(crate) discovered: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

static SERVER_SIDE: RwLock<Option<ServerSide>> = RwLock::new(None);

/// Records what the process's server knows.
pub(crate) fn server_started(side: ServerSide) {
    *SERVER_SIDE.write().unwrap_or_else(|e| e.into_inner()) = Some(side);
}

/// The endpoints among `endpoints` this process may dial now. Outside of a call: all of them.
/// Serving a call: those the policy allows; none is [`Error::DialRefused`].
pub(crate) fn permitted(endpoints: &[String]) -> Result<Vec<String>> {
    let Some(caller) = super::caller_peer() else { return Ok(endpoints.to_vec()) };
    let side = SERVER_SIDE.read().unwrap_or_else(|e| e.into_inner());
    let Some(side) = side.as_ref() else { return Ok(endpoints.to_vec()) };
    if side.policy == DialPolicy::Any {
        return Ok(endpoints.to_vec());
    }
    let discovered = (side.discovered)();
    let allowed: Vec<String> = endpoints
        .iter()
        .filter(|endpoint| {
            host_ip(endpoint).is_some_and(|ip| ip.to_canonical() == caller.to_canonical())
                || side.peers.contains(endpoint)
                || side.own.contains(endpoint)
                || discovered.contains(endpoint)
        })
        .cloned()
        .collect();
    if allowed.is_empty() {
        tracing::info!(%caller, "refused to dial for a caller: no endpoint of its reference is known (HEROS_DIAL)");
        return Err(Error::DialRefused);
    }
    Ok(allowed)
}

/// The IP of `http://ip:port` (host names are not resolved: a name is never the caller's).
fn host_ip(endpoint: &str) -> Option<IpAddr> {
    let authority = endpoint.strip_prefix("http://")?.trim_end_matches('/');
    let (host, _port) = authority.rsplit_once(':')?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_endpoints() {
        assert_eq!(host_ip("http://127.0.0.2:5"), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(host_ip("http://[::1]:5"), Some("::1".parse().unwrap()));
        assert_eq!(host_ip("http://host:5"), None);
        assert_eq!("any".parse::<DialPolicy>(), Ok(DialPolicy::Any));
        assert!("sometimes".parse::<DialPolicy>().is_err());
    }

    #[test]
    fn outside_a_call_everything_is_permitted() {
        let endpoints = vec!["http://203.0.113.9:1".to_owned()];
        assert_eq!(permitted(&endpoints).unwrap(), endpoints);
    }
}
