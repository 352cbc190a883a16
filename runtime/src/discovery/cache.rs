//! What discovery knows: the HEROs resolved from mDNS and those read from etcd, keyed by realm and
//! name, and the change each resolve, put or removal makes. Pure state; the mDNS browser thread
//! and the etcd watches feed it.
//!
//! Each backend's record of a HERO is kept apart, and what the process sees is their merge (etcd's
//! record, with any further addresses mDNS found): a HERO is removed only when no backend knows
//! it any more, so a HERO that one backend lost (an mDNS check missed, an etcd key gone with a
//! lease while the process was cut from etcd) stays listed while the other still sees it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use tracing::debug;

use super::record::{self, decode_properties};
use super::DiscoveryEvent;
use crate::proto::HeroInfo;

/// One resolve of a DNS-SD instance, as mdns-sd reports it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The instance's full name, e.g. `oven@lab._heros._tcp.local.`.
    pub(crate) fullname: String,
    pub(crate) port: u16,
    /// Every address mdns-sd has cached for the host: each resolve event carries the merged set,
    /// so a later event replaces an earlier one.
    pub(crate) addresses: BTreeSet<IpAddr>,
    pub(crate) info: std::result::Result<HeroInfo, String>,
}

impl Resolved {
    pub(crate) fn from_mdns(service: &mdns_sd::ResolvedService) -> Self {
        Resolved {
            fullname: service.fullname.clone(),
            port: service.port,
            addresses: service.addresses.iter().map(|ip| ip.to_ip_addr()).collect(),
            info: decode_properties(&service.txt_properties),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Keyed by (realm, name), so that listings come out sorted.
    heros: BTreeMap<(String, String), Entry>,
}

#[derive(Debug, Default)]
struct Entry {
    /// From mDNS, with the instance's full name in lower case (DNS names compare
    /// case-insensitively and mdns-sd reports them either way).
    mdns: Option<(String, HeroInfo)>,
    /// From etcd.
    etcd: Option<HeroInfo>,
}

impl Entry {
    /// What the process sees: etcd's record (written by the server itself, so the same
    /// everywhere), with the addresses only mDNS found appended.
    fn merged(&self) -> Option<HeroInfo> {
        match (&self.etcd, &self.mdns) {
            (Some(etcd), Some((_, mdns))) => {
                let mut info = etcd.clone();
                for endpoint in &mdns.endpoints {
                    if !info.endpoints.contains(endpoint) {
                        info.endpoints.push(endpoint.clone());
                    }
                }
                Some(info)
            }
            (Some(etcd), None) => Some(etcd.clone()),
            (None, Some((_, mdns))) => Some(mdns.clone()),
            (None, None) => None,
        }
    }
}

impl Cache {
    /// Takes in a resolve; returns the change it makes, if any. Records that are not a HERO's, or
    /// whose instance label does not match their TXT (a name mdns-sd renamed after a conflict),
    /// are ignored with a debug log.
    pub(crate) fn resolved(&mut self, resolved: Resolved) -> Option<DiscoveryEvent> {
        let mut info = match resolved.info {
            Ok(info) => info,
            Err(why) => {
                debug!(instance = %resolved.fullname, "discovery: ignoring record: {why}");
                return None;
            }
        };
        let fullname = resolved.fullname.to_lowercase();
        if fullname != record::fullname(&info.name, &info.realm).to_lowercase() {
            debug!(instance = %resolved.fullname, name = %info.name, realm = %info.realm,
                "discovery: ignoring record whose instance name does not match its TXT");
            return None;
        }
        info.endpoints = record::endpoints(&resolved.addresses, resolved.port);
        if info.endpoints.is_empty() {
            // With IPv6 on, the first resolve can hold only a link-local address; the next one
            // brings the rest.
            debug!(instance = %resolved.fullname, addresses = ?resolved.addresses,
                "discovery: no usable address yet");
            return None;
        }
        let key = (info.realm.clone(), info.name.clone());
        self.update(key, |entry| entry.mdns = Some((fullname, info)))
    }

    /// Takes in the removal of an mDNS instance (goodbye or expiry).
    pub(crate) fn removed(&mut self, fullname: &str) -> Option<DiscoveryEvent> {
        let fullname = fullname.to_lowercase();
        let key = self
            .heros
            .iter()
            .find(|(_, entry)| entry.mdns.as_ref().is_some_and(|(name, _)| *name == fullname))
            .map(|(key, _)| key.clone())?;
        self.update(key, |entry| entry.mdns = None)
    }

    /// Takes in a HERO's record read from etcd (a put, or the listing a watch starts from).
    pub(crate) fn etcd_put(&mut self, info: HeroInfo) -> Option<DiscoveryEvent> {
        let key = (info.realm.clone(), info.name.clone());
        self.update(key, |entry| entry.etcd = Some(info))
    }

    /// Takes in the deletion of a HERO's etcd key (it left, or its lease expired).
    pub(crate) fn etcd_removed(&mut self, realm: &str, name: &str) -> Option<DiscoveryEvent> {
        let key = (realm.to_owned(), name.to_owned());
        self.heros.contains_key(&key).then(|| self.update(key, |entry| entry.etcd = None))?
    }

    /// Replaces what etcd said about `realm` (every realm for `None`) by a fresh listing, after
    /// a watch could not be resumed: returns the changes, as a watch would have reported them.
    pub(crate) fn etcd_resync(&mut self, realm: Option<&str>, listing: Vec<HeroInfo>) -> Vec<DiscoveryEvent> {
        let listed: BTreeSet<(String, String)> = listing.iter().map(|i| (i.realm.clone(), i.name.clone())).collect();
        let gone: Vec<(String, String)> = self
            .heros
            .iter()
            .filter(|((r, _), entry)| entry.etcd.is_some() && realm.is_none_or(|realm| realm == r))
            .map(|(key, _)| key.clone())
            .filter(|key| !listed.contains(key))
            .collect();
        let mut changes: Vec<DiscoveryEvent> =
            gone.into_iter().filter_map(|(r, n)| self.etcd_removed(&r, &n)).collect();
        changes.extend(listing.into_iter().filter_map(|info| self.etcd_put(info)));
        changes
    }

    /// Changes one HERO's entry; returns the change the process sees in the merged record.
    fn update(&mut self, key: (String, String), change: impl FnOnce(&mut Entry)) -> Option<DiscoveryEvent> {
        let entry = self.heros.entry(key.clone()).or_default();
        let before = entry.merged();
        change(entry);
        let after = entry.merged();
        if after.is_none() {
            self.heros.remove(&key);
        }
        let (realm, name) = &key;
        match (before, after) {
            (None, Some(info)) => {
                debug!(%name, %realm, endpoints = ?info.endpoints, "discovery: added");
                Some(DiscoveryEvent::Added(info))
            }
            (Some(old), Some(info)) if old != info => {
                debug!(%name, %realm, endpoints = ?info.endpoints, "discovery: updated");
                Some(DiscoveryEvent::Updated(info))
            }
            (Some(old), None) => {
                debug!(%name, %realm, "discovery: removed");
                Some(DiscoveryEvent::Removed(old))
            }
            _ => None,
        }
    }

    pub(crate) fn lookup(&self, realm: &str, name: &str) -> Option<HeroInfo> {
        self.heros.get(&(realm.to_owned(), name.to_owned())).and_then(Entry::merged)
    }

    /// Everything known, sorted by (realm, name).
    pub(crate) fn known(&self) -> Vec<HeroInfo> {
        self.heros.values().filter_map(Entry::merged).collect()
    }

    /// The names known in one realm, sorted.
    pub(crate) fn names_in(&self, realm: &str) -> Vec<String> {
        self.heros.keys().filter(|(r, _)| r == realm).map(|(_, name)| name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::record::{encode_txt, PROTOCOL_VERSION};

    fn info(name: &str, realm: &str) -> HeroInfo {
        HeroInfo {
            name: name.into(),
            realm: realm.into(),
            interfaces: vec!["examples.v1.Oven".into()],
            tags: vec![],
            metadata: Default::default(),
            protocol_version: PROTOCOL_VERSION,
            endpoints: vec![],
            secured: false,
        }
    }

    fn resolved(name: &str, realm: &str, addresses: &[&str]) -> Resolved {
        let txt = encode_txt(&info(name, realm)).unwrap();
        Resolved {
            fullname: record::fullname(name, realm),
            port: 9,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            info: record::decode_txt(txt.iter().map(|(k, v)| (k.as_str(), Some(v.as_bytes())))),
        }
    }

    #[test]
    fn later_resolves_complete_the_addresses() {
        let mut cache = Cache::default();
        assert_eq!(cache.resolved(resolved("a", "r", &["fe80::1"])), None, "link-local only is not usable");
        assert_eq!(cache.lookup("r", "a"), None);
        let Some(DiscoveryEvent::Added(first)) = cache.resolved(resolved("a", "r", &["fe80::1", "2001:db8::1"])) else {
            panic!("expected Added");
        };
        assert_eq!(first.endpoints, vec!["http://[2001:db8::1]:9"]);
        let Some(DiscoveryEvent::Updated(second)) =
            cache.resolved(resolved("a", "r", &["fe80::1", "2001:db8::1", "198.18.0.1"]))
        else {
            panic!("expected Updated");
        };
        assert_eq!(second.endpoints, vec!["http://198.18.0.1:9", "http://[2001:db8::1]:9"]);
        assert_eq!(cache.resolved(resolved("a", "r", &["2001:db8::1", "198.18.0.1"])), None, "nothing changed");
        assert_eq!(cache.resolved(resolved("a", "r", &["fe80::1"])), None, "no downgrade to nothing usable");
        assert_eq!(cache.lookup("r", "a").unwrap().endpoints.len(), 2);
    }

    #[test]
    fn removal_by_instance_name_in_any_case() {
        let mut cache = Cache::default();
        cache.resolved(resolved("Oven", "lab", &["127.0.0.1"])).unwrap();
        cache.resolved(resolved("b", "lab", &["127.0.0.1"])).unwrap();
        cache.resolved(resolved("c", "other", &["127.0.0.1"])).unwrap();
        assert_eq!(cache.names_in("lab"), vec!["Oven", "b"]);
        let names: Vec<_> = cache.known().into_iter().map(|i| (i.realm, i.name)).collect();
        assert_eq!(names, [("lab", "Oven"), ("lab", "b"), ("other", "c")].map(|(r, n)| (r.to_owned(), n.to_owned())));
        assert!(
            matches!(cache.removed("oven@LAB._heros._tcp.local."), Some(DiscoveryEvent::Removed(i)) if i.name == "Oven")
        );
        assert_eq!(cache.removed("oven@lab._heros._tcp.local."), None);
        assert_eq!(cache.names_in("lab"), vec!["b"]);
    }

    fn from_etcd(name: &str, realm: &str, endpoints: &[&str]) -> HeroInfo {
        HeroInfo { endpoints: endpoints.iter().map(|e| e.to_string()).collect(), ..info(name, realm) }
    }

    #[test]
    fn mdns_and_etcd_records_merge_and_a_hero_goes_only_when_both_lost_it() {
        let mut cache = Cache::default();
        let added = cache.etcd_put(from_etcd("a", "r", &["http://10.0.0.1:9"]));
        assert!(matches!(added, Some(DiscoveryEvent::Added(ref i)) if i.endpoints == ["http://10.0.0.1:9"]));
        assert_eq!(cache.etcd_put(from_etcd("a", "r", &["http://10.0.0.1:9"])), None, "the same put again");
        let Some(DiscoveryEvent::Updated(merged)) = cache.resolved(resolved("a", "r", &["10.0.0.1", "10.0.0.2"]))
        else {
            panic!("mDNS adds an address");
        };
        assert_eq!(merged.endpoints, ["http://10.0.0.1:9", "http://10.0.0.2:9"]);
        assert_eq!(cache.etcd_removed("r", "a"), None, "mDNS still sees it, at the same endpoints");
        assert_eq!(cache.names_in("r"), ["a"]);
        assert!(matches!(cache.removed("a@r._heros._tcp.local."), Some(DiscoveryEvent::Removed(_))));
        assert!(cache.known().is_empty());
        assert_eq!(cache.etcd_removed("r", "a"), None);
    }

    #[test]
    fn an_etcd_resync_reports_what_a_watch_would_have() {
        let mut cache = Cache::default();
        cache.etcd_put(from_etcd("gone", "r", &["http://h:1"])).unwrap();
        cache.etcd_put(from_etcd("same", "r", &["http://h:1"])).unwrap();
        cache.etcd_put(from_etcd("moved", "r", &["http://h:1"])).unwrap();
        cache.etcd_put(from_etcd("elsewhere", "other", &["http://h:1"])).unwrap();
        cache.resolved(resolved("gone_too", "r", &["127.0.0.1"])).unwrap();
        let changes = cache.etcd_resync(
            Some("r"),
            vec![
                from_etcd("same", "r", &["http://h:1"]),
                from_etcd("moved", "r", &["http://h:2"]),
                from_etcd("new", "r", &["http://h:1"]),
            ],
        );
        let summary: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| match c {
                DiscoveryEvent::Added(i) => ("added", i.name.as_str()),
                DiscoveryEvent::Updated(i) => ("updated", i.name.as_str()),
                DiscoveryEvent::Removed(i) => ("removed", i.name.as_str()),
                _ => ("other", ""),
            })
            .collect();
        assert_eq!(summary, [("removed", "gone"), ("updated", "moved"), ("added", "new")]);
        assert_eq!(cache.names_in("r"), ["gone_too", "moved", "new", "same"], "mDNS's own HERO stays");
        assert_eq!(cache.names_in("other"), ["elsewhere"], "another realm is not touched");
    }

    #[test]
    fn foreign_and_renamed_records_are_ignored() {
        let mut cache = Cache::default();
        let mut garbled = resolved("a", "r", &["127.0.0.1"]);
        garbled.info = Err("no 'heros' TXT entry: not a HERO".into());
        assert_eq!(cache.resolved(garbled), None);
        let mut renamed = resolved("a", "r", &["127.0.0.1"]);
        renamed.fullname = "a@r (2)._heros._tcp.local.".into();
        assert_eq!(cache.resolved(renamed), None);
        assert!(cache.known().is_empty());
    }
}
