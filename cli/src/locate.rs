//! Finding HEROs: by name over mDNS and etcd (the runtime's `Observer`), through the registry of the
//! servers given with `--peer` / `HEROS_PEERS` (no multicast at all), or by a
//! `heros://host:port/name` URL.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use heros_runtime::proto::registry_client::RegistryClient;
use heros_runtime::proto::{DescribeHeroRequest, HeroInfo, ListHerosRequest};
use heros_runtime::{Config, HeroUrl, Observer};
use tokio::time::Instant;

use crate::progress::Progress;
use crate::remote::RemoteError;

/// Where and in which realm the tool looks.
#[derive(Debug, Clone)]
pub(crate) struct Locator {
    /// The realm of HEROs looked up by name.
    pub(crate) realm: String,
    /// Whether `--realm` was given (then `list` shows only that realm).
    pub(crate) realm_given: bool,
    /// `http://host:port` of each server to ask directly; empty: discovery.
    pub(crate) peers: Vec<String>,
    mdns: bool,
    /// Whether etcd is one of the discovery backends (`HEROS_DISCOVERY`, `HEROS_ETCD`).
    etcd: bool,
}

impl Locator {
    /// From the options, falling back to `HEROS_REALM`, `HEROS_PEERS` and `HEROS_DISCOVERY`.
    pub(crate) fn new(realm: Option<&str>, peers: &[String]) -> Result<Locator> {
        let config = Config::from_env().map_err(|e| anyhow!("{e}"))?;
        if let Some(realm) = realm {
            heros_runtime::validate_realm(realm).map_err(|e| anyhow!("--realm: {e}"))?;
        }
        let peers = if peers.is_empty() {
            config.peers.clone()
        } else {
            peers.iter().map(|peer| endpoint(peer)).collect::<Result<_>>()?
        };
        Ok(Locator {
            realm: realm.map_or(config.realm.clone(), str::to_owned),
            realm_given: realm.is_some(),
            peers,
            mdns: config.mdns,
            etcd: !config.etcd.is_empty(),
        })
    }

    /// The HERO `name` (or a `heros://` URL), waiting at most `timeout` for discovery.
    pub(crate) async fn find(&self, name: &str, timeout: Duration) -> Result<HeroInfo> {
        if name.starts_with("heros://") {
            return self.by_url(name, timeout).await;
        }
        heros_runtime::validate_name(name, &self.realm).map_err(|e| anyhow!("{e}"))?;
        if !self.peers.is_empty() {
            let known = self.ask_peers(Some(&self.realm), timeout).await?;
            return known.iter().find(|hero| hero.name == name).cloned().ok_or_else(|| {
                anyhow!(
                    "no HERO '{name}' in realm '{}' at {}; known there: {}",
                    self.realm,
                    self.peers.join(", "),
                    names(&known)
                )
            });
        }
        let mut observer = self.observer(Some(&self.realm))?;
        let progress = Progress::start(
            format!("looking for '{name}' in realm '{}' over {}", self.realm, self.backends()),
            timeout,
        );
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(hero) = observer.known().into_iter().find(|hero| hero.name == name) {
                return Ok(hero);
            }
            if tokio::time::timeout_at(deadline, observer.next()).await.is_err() {
                drop(progress);
                bail!(
                    "no HERO '{name}' in realm '{}' appeared over {} within {:.1} s; known in that realm: {}{}",
                    self.realm,
                    self.backends(),
                    timeout.as_secs_f64(),
                    names(&observer.known()),
                    observer.outage().map(|why| format!(" ({why})")).unwrap_or_default()
                );
            }
        }
    }

    /// Every HERO known after `wait` (mDNS) or at once (peers), in `--realm` if given.
    pub(crate) async fn list(&self, wait: Duration) -> Result<Vec<HeroInfo>> {
        let realm = self.realm_given.then_some(self.realm.as_str());
        if !self.peers.is_empty() {
            return self.ask_peers(realm, wait).await;
        }
        let observer = self.observer(realm)?;
        self.settle(&observer, wait).await;
        if let Some(why) = observer.outage() {
            crate::output::warn(format_args!("{why}; listing what is known without etcd"));
        }
        Ok(observer.known())
    }

    /// Waits for `observer` to know everyone, showing progress: over mDNS `wait` (it has no "that
    /// was everyone", and answers to the first query arrive within about a second); through etcd
    /// alone, until etcd has listed the realm (at most `wait`).
    pub(crate) async fn settle(&self, observer: &Observer, wait: Duration) {
        let what = match self.realm_given {
            true => format!("listening for HEROs of realm '{}' over {}", self.realm, self.backends()),
            false => format!("listening for HEROs over {}", self.backends()),
        };
        let _progress = Progress::start(what, wait);
        match self.mdns {
            true => tokio::time::sleep(wait).await,
            false => observer.synced(wait).await,
        }
    }

    /// The discovery backends, for messages: "mDNS", "etcd" or "mDNS and etcd".
    fn backends(&self) -> &'static str {
        match (self.mdns, self.etcd) {
            (true, true) => "mDNS and etcd",
            (false, true) => "etcd",
            _ => "mDNS",
        }
    }

    /// The mDNS observer of `realm` (all realms for `None`).
    pub(crate) fn observer(&self, realm: Option<&str>) -> Result<Observer> {
        if !self.mdns && !self.etcd {
            bail!("discovery is off (HEROS_DISCOVERY=off): give a server with --peer host:port or HEROS_PEERS");
        }
        let observer = match realm {
            Some(realm) => Observer::new(realm),
            None => Observer::all_realms(),
        };
        observer.map_err(|e| anyhow!("cannot start discovery ({}): {e}", self.backends()))
    }

    /// `ListHeros` on every peer, the peer's own address first among each HERO's endpoints.
    pub(crate) async fn ask_peers(&self, realm: Option<&str>, timeout: Duration) -> Result<Vec<HeroInfo>> {
        let mut heros: Vec<HeroInfo> = Vec::new();
        for peer in &self.peers {
            let (_, channel) = crate::hero::dial(std::slice::from_ref(peer), timeout).await?;
            let request = ListHerosRequest { realm: realm.unwrap_or_default().to_owned() };
            let reply = tokio::time::timeout(timeout, RegistryClient::new(channel).list_heros(request))
                .await
                .map_err(|_| anyhow!("{peer} did not answer ListHeros within {timeout:?}"))?
                .map_err(|status| RemoteError::from_status(&status))
                .with_context(|| format!("ListHeros at {peer}"))?;
            for mut hero in reply.into_inner().heros {
                if heros.iter().any(|known| known.name == hero.name && known.realm == hero.realm) {
                    continue;
                }
                prefer(&mut hero.endpoints, peer);
                heros.push(hero);
            }
        }
        heros.sort_by(|a, b| (&a.realm, &a.name).cmp(&(&b.realm, &b.name)));
        Ok(heros)
    }

    /// `DescribeHero` at the URL's server; the HERO must be in the realm the URL (or the tool) names.
    async fn by_url(&self, url: &str, timeout: Duration) -> Result<HeroInfo> {
        let url: HeroUrl = url.parse().map_err(|e| anyhow!("{e}"))?;
        let (_, channel) = crate::hero::dial(std::slice::from_ref(&url.endpoint), timeout).await?;
        let request = DescribeHeroRequest { name: url.name.clone() };
        let reply = tokio::time::timeout(timeout, RegistryClient::new(channel).describe_hero(request))
            .await
            .map_err(|_| anyhow!("{} did not answer DescribeHero within {timeout:?}", url.endpoint))?
            .map_err(|status| RemoteError::from_status(&status))?;
        let mut hero = reply.into_inner().info.ok_or_else(|| anyhow!("DescribeHero sent no HeroInfo"))?;
        let realm = url.realm.as_deref().unwrap_or(&self.realm);
        if hero.realm != realm {
            bail!(
                "HERO '{}' at {} is in realm '{}', not '{realm}' (add ?realm={} to the URL)",
                hero.name,
                url.endpoint,
                hero.realm,
                hero.realm
            );
        }
        prefer(&mut hero.endpoints, &url.endpoint);
        Ok(hero)
    }
}

/// Puts `endpoint` first: the address the user gave is the one known to work from here.
fn prefer(endpoints: &mut Vec<String>, endpoint: &str) {
    endpoints.retain(|known| known != endpoint);
    endpoints.insert(0, endpoint.to_owned());
}

fn names(heros: &[HeroInfo]) -> String {
    if heros.is_empty() {
        return "none".to_owned();
    }
    heros.iter().map(|hero| hero.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// `host:port`, `http://host:port` or `heros://host:port` as `http://host:port`.
fn endpoint(peer: &str) -> Result<String> {
    let authority = peer.strip_prefix("heros://").or_else(|| peer.strip_prefix("http://")).unwrap_or(peer);
    let authority = authority.trim_end_matches('/');
    let port = authority.rsplit_once(':').map(|(_, port)| port);
    match port.map(str::parse::<u16>) {
        Some(Ok(_)) if !authority.contains('/') => Ok(format!("http://{authority}")),
        _ => bail!("--peer '{peer}' is not host:port"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_written_as_endpoints() {
        assert_eq!(endpoint("127.0.0.1:4000").unwrap(), "http://127.0.0.1:4000");
        assert_eq!(endpoint("heros://host:1/").unwrap(), "http://host:1");
        assert_eq!(endpoint("http://[::1]:9").unwrap(), "http://[::1]:9");
        assert!(endpoint("host").is_err());
        assert!(endpoint("host:port").is_err());
        assert!(endpoint("host:1/name").is_err());
    }

    #[test]
    fn the_given_endpoint_comes_first() {
        let mut endpoints = vec!["http://198.18.0.1:5".to_owned(), "http://127.0.0.1:5".to_owned()];
        prefer(&mut endpoints, "http://127.0.0.1:5");
        assert_eq!(endpoints, ["http://127.0.0.1:5", "http://198.18.0.1:5"]);
    }
}
