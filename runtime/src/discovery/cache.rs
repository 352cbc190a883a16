//! What discovery knows: the HEROs resolved from mDNS, keyed by realm and name, and the change
//! each resolve or removal makes. Pure state; the browser thread feeds it.

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

#[derive(Debug)]
struct Entry {
    /// Lower case: DNS names compare case-insensitively and mdns-sd reports them either way.
    fullname: String,
    info: HeroInfo,
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
        match self.heros.get_mut(&key) {
            Some(entry) if entry.info == info => None,
            Some(entry) => {
                debug!(name = %info.name, realm = %info.realm, endpoints = ?info.endpoints, "discovery: updated");
                entry.info = info.clone();
                Some(DiscoveryEvent::Updated(info))
            }
            None => {
                debug!(name = %info.name, realm = %info.realm, endpoints = ?info.endpoints, "discovery: added");
                self.heros.insert(key, Entry { fullname, info: info.clone() });
                Some(DiscoveryEvent::Added(info))
            }
        }
    }

    /// Takes in the removal of an instance (goodbye or expiry).
    pub(crate) fn removed(&mut self, fullname: &str) -> Option<DiscoveryEvent> {
        let fullname = fullname.to_lowercase();
        let key = self.heros.iter().find(|(_, entry)| entry.fullname == fullname).map(|(key, _)| key.clone())?;
        let entry = self.heros.remove(&key)?;
        debug!(name = %entry.info.name, realm = %entry.info.realm, "discovery: removed");
        Some(DiscoveryEvent::Removed(entry.info))
    }

    pub(crate) fn lookup(&self, realm: &str, name: &str) -> Option<HeroInfo> {
        self.heros.get(&(realm.to_owned(), name.to_owned())).map(|entry| entry.info.clone())
    }

    /// Everything known, sorted by (realm, name).
    pub(crate) fn known(&self) -> Vec<HeroInfo> {
        self.heros.values().map(|entry| entry.info.clone()).collect()
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
