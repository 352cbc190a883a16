//! Configuration from the environment, as in Python HEROS, and direct `heros://` addresses.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `HEROS_LOG` | tracing filter (read by examples and the CLI, never by the library) | errors only |
//! | `HEROS_REALM` | realm of HEROs started and looked up | `heros` |
//! | `HEROS_BIND` | address the server listens on: `ip`, `ip:port` or `:port` | `0.0.0.0:0` |
//! | `HEROS_PEERS` | servers to ask directly, without mDNS: `host:port` or `heros://host:port`, comma-separated | none |
//! | `HEROS_INTERFACES` | network interfaces (names or IPs) mDNS uses, comma-separated | all |
//! | `HEROS_DISCOVERY` | backends, comma-separated: `mdns`, `etcd`, both, or `off` (no multicast at all; direct addresses only) | `mdns` (`mdns,etcd` when `HEROS_ETCD` is set) |
//! | `HEROS_ETCD` | etcd endpoints (`http://host:2379` or `https://...`), comma-separated: the cluster discovery registers in and watches | none |
//! | `HEROS_ETCD_TTL` | seconds of the etcd lease a server keeps alive: a killed process's HEROs vanish this long after | `5` |
//! | `HEROS_IN_PROCESS` | `on`: a stub whose HERO is served by its own process calls it directly; `off`: over loopback gRPC | `on` |
//! | `HEROS_LEASE_MS` | lease of a client session that holds no stream: its handles are released this long after its last use | `30000` |
//! | `HEROS_CREDENTIALS` | credentials folder (`ca.pem`, `cert.pem`, `key.pem`, optional `denylist`): serve and call over TLS with mutual authentication against the realm CA | none (plaintext) |
//! | `HEROS_TOKEN` | shared token every call must carry (`authorization: Bearer`); weaker than certificates | none |
//! | `HEROS_DIAL` | where a server may connect for a caller (HERO references, callbacks): `known` or `any` | `known` |
//! | `HEROS_MDNS_TTL` | seconds until a HERO that vanished without goodbye is dropped (0: record expiry, 120 s) | `30` |
//!
//! The limits of a server (`HEROS_MAX_MESSAGE_SIZE`, `HEROS_MAX_CONNECTIONS`, ...) are read here
//! too, into [`Config::limits`]; see [`Limits`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::wire::names::{validate_name, validate_realm, DEFAULT_REALM};

/// Settings of a server or a client, normally read with [`Config::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Realm of HEROs started and looked up.
    pub realm: String,
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// Servers to ask directly, as `http://host:port`.
    pub peers: Vec<String>,
    /// Network interfaces mDNS uses (names or addresses); empty for all.
    pub interfaces: Vec<String>,
    /// Whether mDNS is used at all.
    pub mdns: bool,
    /// etcd endpoints (`http://host:port` or `https://host:port`) discovery uses; empty: no etcd.
    pub etcd: Vec<String>,
    /// The lease time of this process's etcd registrations (`HEROS_ETCD_TTL`).
    pub etcd_ttl: std::time::Duration,
    /// Whether stubs in this process call the server's HEROs directly, without a socket.
    pub in_process: bool,
    /// Lease of client sessions that hold no stream (`HEROS_LEASE_MS`).
    pub lease: std::time::Duration,
    /// What one peer can make a server hold (the `HEROS_MAX_*` variables and their kin).
    pub limits: Limits,
    /// Credentials folder of a secured realm (`HEROS_CREDENTIALS`); `None`: plaintext.
    pub credentials: Option<std::path::PathBuf>,
    /// Shared token every call must carry (`HEROS_TOKEN`).
    pub token: Option<crate::security::Token>,
    /// Where a server may connect on a caller's behalf (`HEROS_DIAL`).
    pub dial: crate::security::DialPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            realm: DEFAULT_REALM.to_owned(),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            peers: Vec::new(),
            interfaces: Vec::new(),
            mdns: true,
            etcd: Vec::new(),
            etcd_ttl: DEFAULT_ETCD_TTL,
            in_process: true,
            lease: std::time::Duration::from_secs(30),
            limits: Limits::default(),
            credentials: None,
            token: None,
            dial: crate::security::DialPolicy::Known,
        }
    }
}

impl Config {
    /// Reads `HEROS_REALM`, `HEROS_BIND`, `HEROS_PEERS`, `HEROS_INTERFACES`, `HEROS_DISCOVERY`
    /// and `HEROS_IN_PROCESS`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup` (for tests and embedders).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Config { limits: Limits::from_lookup(&lookup)?, ..Config::default() };
        let var = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(realm) = var("HEROS_REALM") {
            validate_realm(&realm).map_err(|e| Error::config(format!("HEROS_REALM: {e}")))?;
            config.realm = realm;
        }
        if let Some(bind) = var("HEROS_BIND") {
            config.bind = parse_bind(&bind).map_err(|e| Error::config(format!("HEROS_BIND: {e}")))?;
        }
        if let Some(peers) = var("HEROS_PEERS") {
            config.peers = split(&peers)
                .map(|peer| parse_endpoint(peer).map_err(|e| Error::config(format!("HEROS_PEERS: {e}"))))
                .collect::<Result<_>>()?;
        }
        if let Some(interfaces) = var("HEROS_INTERFACES") {
            config.interfaces = split(&interfaces).map(str::to_owned).collect();
        }
        if let Some(etcd) = var("HEROS_ETCD") {
            config.etcd = split(&etcd)
                .map(|url| parse_etcd_endpoint(url).map_err(|e| Error::config(format!("HEROS_ETCD: {e}"))))
                .collect::<Result<_>>()?;
        }
        if let Some(ttl) = var("HEROS_ETCD_TTL") {
            config.etcd_ttl = ttl
                .parse::<u64>()
                .ok()
                .filter(|secs| *secs >= MIN_ETCD_TTL_SECS)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    Error::config(format!(
                        "HEROS_ETCD_TTL: '{ttl}' is not a number of seconds, {MIN_ETCD_TTL_SECS} or more"
                    ))
                })?;
        }
        // Without HEROS_DISCOVERY, HEROS_ETCD alone adds etcd to the default, mDNS.
        if let Some(discovery) = var("HEROS_DISCOVERY") {
            let (mdns, etcd) =
                parse_backends(&discovery).map_err(|e| Error::config(format!("HEROS_DISCOVERY: {e}")))?;
            if etcd && config.etcd.is_empty() {
                return Err(Error::config(
                    "HEROS_DISCOVERY names etcd, but HEROS_ETCD (http://host:2379,...) is not set",
                ));
            }
            config.mdns = mdns;
            if !etcd {
                config.etcd.clear();
            }
        }
        if let Some(lease) = var("HEROS_LEASE_MS") {
            let ms: u64 = lease.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                Error::config(format!("HEROS_LEASE_MS: '{lease}' is not a positive number of milliseconds"))
            })?;
            config.lease = std::time::Duration::from_millis(ms);
        }
        if let Some(dir) = var("HEROS_CREDENTIALS") {
            config.credentials = Some(dir.into());
        }
        if let Some(token) = var("HEROS_TOKEN") {
            config.token = Some(crate::security::Token::new(token));
        }
        if let Some(dial) = var("HEROS_DIAL") {
            config.dial = dial.parse().map_err(|e| Error::config(format!("HEROS_DIAL: {e}")))?;
        }
        if let Some(in_process) = var("HEROS_IN_PROCESS") {
            config.in_process = match in_process.to_ascii_lowercase().as_str() {
                "on" | "1" | "yes" => true,
                "off" | "0" | "no" => false,
                other => return Err(Error::config(format!("HEROS_IN_PROCESS: '{other}' is neither 'on' nor 'off'"))),
            };
        }
        Ok(config)
    }
}

impl Config {
    /// Whether any discovery backend (mDNS or etcd) is on: a HERO can be found by name.
    pub fn discovery_on(&self) -> bool {
        self.mdns || !self.etcd.is_empty()
    }

    /// Turns every discovery backend off: HEROs are reached only by address.
    pub fn discovery_off(&mut self) {
        self.mdns = false;
        self.etcd.clear();
    }

    /// The TLS and token this configuration names, loaded; `None` for an unsecured process.
    pub(crate) fn security(&self) -> Result<Option<std::sync::Arc<crate::security::Security>>> {
        crate::security::Security::load(self.credentials.as_deref(), self.token.as_ref())
    }
}

/// The lease time of etcd registrations when `HEROS_ETCD_TTL` is not set: a killed process's
/// HEROs are listed at most this long; short, because keeping a lease alive costs one small
/// message per third of it, per process (not per HERO).
pub(crate) const DEFAULT_ETCD_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// etcd refuses (or rounds up) shorter leases than its election timeout allows, 2 s at most.
const MIN_ETCD_TTL_SECS: u64 = 2;

/// `HEROS_DISCOVERY`: which backends, as (mdns, etcd).
fn parse_backends(text: &str) -> std::result::Result<(bool, bool), String> {
    let (mut mdns, mut etcd) = (false, false);
    for backend in split(text) {
        match backend.to_ascii_lowercase().as_str() {
            "mdns" | "on" | "1" => mdns = true,
            "etcd" => etcd = true,
            "off" | "none" | "0" if !text.contains(',') => return Ok((false, false)),
            other => return Err(format!("'{other}' is not 'mdns', 'etcd' or 'off' (e.g. mdns,etcd)")),
        }
    }
    if !mdns && !etcd {
        return Err(format!("'{text}' names no backend (mdns, etcd, mdns,etcd or off)"));
    }
    Ok((mdns, etcd))
}

/// One `HEROS_ETCD` entry: `http://host:port` or `https://host:port` (a bare `host:port` is
/// plaintext), as tonic dials it.
fn parse_etcd_endpoint(text: &str) -> std::result::Result<String, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        Some((other, _)) => return Err(format!("'{text}': scheme '{other}' is neither http nor https")),
        None => ("http", text),
    };
    let endpoint = parse_endpoint(rest).map_err(|e| format!("{e} (expected http://host:2379)"))?;
    Ok(endpoint.replacen("http", scheme, 1))
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `ip`, `ip:port`, `:port` or `[v6]:port`.
fn parse_bind(text: &str) -> std::result::Result<SocketAddr, String> {
    // A bare IPv6 address starts with ':' too, so try addresses before ":port".
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| format!("'{text}': port is not a number 0..65535"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    text.parse::<SocketAddr>().map_err(|_| format!("'{text}' is not 'ip', 'ip:port' or ':port'"))
}

/// `host:port`, `http://host:port` or `heros://host:port` as the `http://host:port` tonic dials.
pub(crate) fn parse_endpoint(text: &str) -> std::result::Result<String, String> {
    let rest = text.strip_prefix("heros://").or_else(|| text.strip_prefix("http://")).unwrap_or(text);
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.is_empty() {
        return Err(format!("'{text}' is not 'host:port'"));
    }
    let port = authority.rsplit_once(':').map(|(_, port)| port).ok_or_else(|| format!("'{text}' has no port"))?;
    port.parse::<u16>().map_err(|_| format!("'{text}': port '{port}' is not a number 0..65535"))?;
    Ok(format!("http://{authority}"))
}

/// A direct address of one HERO: `heros://host:port/name`, optionally `?realm=r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeroUrl {
    /// `http://host:port` of the server.
    pub endpoint: String,
    /// The HERO's name.
    pub name: String,
    /// The realm the call carries; the process realm when absent.
    pub realm: Option<String>,
}

impl std::str::FromStr for HeroUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        let bad =
            |why: &str| Error::config(format!("'{url}' is not a HERO URL (heros://host:port/name[?realm=r]): {why}"));
        let rest = url.strip_prefix("heros://").ok_or_else(|| bad("it must start with heros://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, name) = rest.split_once('/').ok_or_else(|| bad("no HERO name after the address"))?;
        let endpoint = parse_endpoint(authority).map_err(|e| bad(&e))?;
        let realm = match query {
            None => None,
            Some(query) => Some(
                query.strip_prefix("realm=").map(str::to_owned).ok_or_else(|| bad("the only query key is 'realm'"))?,
            ),
        };
        validate_name(name, realm.as_deref().unwrap_or(DEFAULT_REALM)).map_err(|e| bad(&e.to_string()))?;
        Ok(HeroUrl { endpoint, name: name.to_owned(), realm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(config(&[]).unwrap(), Config::default());
        assert_eq!(Config::default().realm, "heros");
    }

    #[test]
    fn every_variable_is_read() {
        let c = config(&[
            ("HEROS_REALM", "lab"),
            ("HEROS_BIND", "127.0.0.1:4711"),
            ("HEROS_PEERS", "198.18.0.1:50051, heros://host-b:1"),
            ("HEROS_INTERFACES", "veth0,lo"),
            ("HEROS_DISCOVERY", "off"),
            ("HEROS_IN_PROCESS", "off"),
            ("HEROS_LEASE_MS", "1500"),
            ("HEROS_CREDENTIALS", "/etc/heros/lab"),
            ("HEROS_TOKEN", "s3cret"),
            ("HEROS_DIAL", "any"),
        ])
        .unwrap();
        assert_eq!(c.lease, std::time::Duration::from_millis(1500));
        assert_eq!(c.credentials.as_deref(), Some(std::path::Path::new("/etc/heros/lab")));
        assert_eq!(c.token, Some(crate::security::Token::new("s3cret")));
        assert_eq!(c.dial, crate::security::DialPolicy::Any);
        assert_eq!(c.realm, "lab");
        assert_eq!(c.bind, "127.0.0.1:4711".parse().unwrap());
        assert_eq!(c.peers, vec!["http://198.18.0.1:50051", "http://host-b:1"]);
        assert_eq!(c.interfaces, vec!["veth0", "lo"]);
        assert!(!c.mdns);
        assert!(!c.in_process);
        assert!(Config::default().in_process);
        assert_eq!(config(&[("HEROS_BIND", ":9000")]).unwrap().bind.port(), 9000);
        assert_eq!(config(&[("HEROS_BIND", "::1")]).unwrap().bind, "[::1]:0".parse().unwrap());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value) in [
            ("HEROS_BIND", "nonsense"),
            ("HEROS_PEERS", "no-port"),
            ("HEROS_REALM", "a.b"),
            ("HEROS_DISCOVERY", "maybe"),
            ("HEROS_IN_PROCESS", "sometimes"),
            ("HEROS_LEASE_MS", "0"),
            ("HEROS_LEASE_MS", "soon"),
            ("HEROS_DIAL", "sometimes"),
            ("HEROS_DISCOVERY", "mdns,zeroconf"),
            ("HEROS_DISCOVERY", "etcd"),
            ("HEROS_ETCD", "ftp://h:1"),
            ("HEROS_ETCD", "http://no-port"),
            ("HEROS_ETCD", "http://h:1/path"),
            ("HEROS_ETCD_TTL", "1"),
            ("HEROS_ETCD_TTL", "soon"),
        ] {
            let err = config(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn discovery_backends() {
        let etcd = "http://10.0.0.1:2379, https://etcd-b:2379,etcd-c:2379";
        let c = config(&[("HEROS_ETCD", etcd)]).unwrap();
        assert!(c.mdns, "HEROS_ETCD alone adds etcd to mDNS");
        assert_eq!(c.etcd, vec!["http://10.0.0.1:2379", "https://etcd-b:2379", "http://etcd-c:2379"]);
        let c = config(&[("HEROS_ETCD", etcd), ("HEROS_DISCOVERY", "etcd"), ("HEROS_ETCD_TTL", "3")]).unwrap();
        assert!(!c.mdns && c.etcd.len() == 3 && c.discovery_on());
        assert_eq!(c.etcd_ttl, std::time::Duration::from_secs(3));
        let c = config(&[("HEROS_ETCD", etcd), ("HEROS_DISCOVERY", "mdns")]).unwrap();
        assert!(c.mdns && c.etcd.is_empty());
        let c = config(&[("HEROS_ETCD", etcd), ("HEROS_DISCOVERY", "MDNS,etcd")]).unwrap();
        assert!(c.mdns && !c.etcd.is_empty());
        let mut c = config(&[("HEROS_ETCD", etcd), ("HEROS_DISCOVERY", "off")]).unwrap();
        assert!(!c.discovery_on());
        c.etcd.push("http://h:1".into());
        c.discovery_off();
        assert!(!c.discovery_on());
        let err = config(&[("HEROS_DISCOVERY", "etcd")]).unwrap_err().to_string();
        assert!(err.contains("HEROS_ETCD"), "{err}");
        assert!(config(&[("HEROS_DISCOVERY", "off,etcd"), ("HEROS_ETCD", etcd)]).is_err());
    }

    #[test]
    fn the_readme_lists_every_variable_of_this_table() {
        let readme = include_str!("../../README.md");
        let variables: Vec<&str> = include_str!("config.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! | `HEROS_"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        assert!(variables.len() >= 12, "{variables:?}");
        for variable in variables {
            assert!(readme.contains(&format!("| `HEROS_{variable}` |")), "README.md's table lacks HEROS_{variable}");
        }
    }

    #[test]
    fn hero_urls() {
        let url: HeroUrl = "heros://127.0.0.1:50051/my_hero".parse().unwrap();
        assert_eq!(url, HeroUrl { endpoint: "http://127.0.0.1:50051".into(), name: "my_hero".into(), realm: None });
        let url: HeroUrl = "heros://h:1/x?realm=lab".parse().unwrap();
        assert_eq!(url.realm.as_deref(), Some("lab"));
        for bad in ["http://h:1/x", "heros://h:1", "heros://h/x", "heros://h:1/x?foo=1", "heros://h:1/a.b"] {
            assert!(bad.parse::<HeroUrl>().is_err(), "{bad}");
        }
    }
}
