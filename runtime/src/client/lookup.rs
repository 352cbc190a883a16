//! Finding a HERO: by name (the discovery cache, then `HEROS_PEERS`, then waiting for discovery), by
//! `heros://` URL (its server's registry), and again after it moved.

use std::time::Duration;

use super::target::{Target, DEFAULT_CONNECT_TIMEOUT};
use crate::client::stub::Remote;
use crate::config::{Config, HeroUrl};
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::net::describe::{describe_hero, list_heros};
use crate::proto::HeroInfo;

/// The HERO of `stale` at other endpoints than the record lists: from discovery (waiting up to
/// `timeout` for a fresh record) or from `HEROS_PEERS`.
pub(crate) async fn find_moved(config: &Config, stale: &HeroInfo, timeout: Duration) -> Option<HeroInfo> {
    if config.discovery_on() {
        let discovery = Discovery::global(config).ok()?;
        return fresh_record(&discovery, stale, tokio::time::Instant::now() + timeout).await;
    }
    let found = find(config, &stale.realm, &stale.name, timeout).await.ok()?;
    (found.endpoints != stale.endpoints).then_some(found)
}

/// Waits until discovery knows `stale`'s HERO at other endpoints, or `deadline`.
pub(super) async fn fresh_record(
    discovery: &Discovery,
    stale: &HeroInfo,
    deadline: tokio::time::Instant,
) -> Option<HeroInfo> {
    let mut changes = discovery.subscribe();
    loop {
        if let Some(info) = discovery.lookup(&stale.realm, &stale.name) {
            if info.endpoints != stale.endpoints {
                return Some(info);
            }
        }
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => return None,
        }
    }
}

/// Connects a typed stub `R` to the HERO `name` (see [`Target::connect`]).
pub async fn connect<R: Remote>(name: &str) -> Result<R> {
    connect_timeout(name, DEFAULT_CONNECT_TIMEOUT).await
}

/// Like [`connect`], waiting at most `timeout` for discovery.
pub async fn connect_timeout<R: Remote>(name: &str, timeout: Duration) -> Result<R> {
    Ok(R::from_target(Target::connect(name, R::INTERFACE, timeout).await?))
}

/// Finds a HERO: the discovery cache first (no round trip), then each of `HEROS_PEERS`, then
/// waits for discovery (mDNS, etcd) until `timeout`.
pub(crate) async fn find(config: &Config, realm: &str, name: &str, timeout: Duration) -> Result<HeroInfo> {
    crate::wire::names::validate_name(name, realm)?;
    let discovery = if config.discovery_on() { Some(Discovery::global(config)?) } else { None };
    if let Some(info) = discovery.as_ref().and_then(|d| d.lookup(realm, name)) {
        return Ok(info);
    }
    let mut known_by_peers = Vec::new();
    for peer in &config.peers {
        match list_heros(peer, realm).await {
            Ok(heros) => {
                if let Some(info) = heros.iter().find(|h| h.name == name) {
                    return Ok(info.clone());
                }
                known_by_peers.extend(heros.into_iter().map(|h| h.name));
            }
            Err(error) => tracing::debug!(%peer, "peer did not answer: {error}"),
        }
    }
    match discovery {
        Some(discovery) => discovery.resolve(realm, name, timeout).await.map_err(|error| match error {
            Error::DiscoveryTimeout { name, realm, waited, mut known } => {
                known.extend(known_by_peers);
                known.sort();
                known.dedup();
                Error::DiscoveryTimeout { name, realm, waited, known }
            }
            other => other,
        }),
        None => {
            Err(Error::HeroNotFound { name: name.to_owned(), realm: realm.to_owned(), known: Some(known_by_peers) })
        }
    }
}

/// Asks the server in `url` about the HERO it names, so that a wrong name fails at connect.
pub(super) async fn describe_by_url(url: &HeroUrl, config: &Config) -> Result<HeroInfo> {
    let description = describe_hero(&url.endpoint, &url.name).await?;
    let mut info = description.info.unwrap_or_default();
    let realm = url.realm.clone().unwrap_or_else(|| config.realm.clone());
    if info.realm != realm {
        return Err(Error::RealmMismatch { hero: info.name, hero_realm: info.realm, caller_realm: realm });
    }
    // Reach it the way the user said, not by the addresses the server lists for itself.
    info.endpoints.insert(0, url.endpoint.clone());
    info.endpoints.dedup();
    Ok(info)
}
