//! The wire contract of discovery (docs/PROTOCOL.md): how one HERO is written into DNS-SD records
//! and read back. Pure functions, no sockets.
//!
//! - one instance of [`SERVICE_TYPE`] per HERO, labelled `<name>@<realm>`, also registered under
//!   the realm's subtype `_<realm>._sub._heros._tcp.local.`;
//! - SRV: a host name unique to the serving process, and the gRPC port;
//! - A/AAAA: the addresses the gRPC server listens on;
//! - TXT: `heros=<protocol version>`, `name`, `realm`, `if` (full service names, comma-separated),
//!   `tags` (comma-separated), `secured=1` for a HERO of a secured realm, and `m.<key>=<value>`
//!   per metadata entry.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use mdns_sd::TxtProperties;

use crate::error::{Error, Result};
use crate::proto::HeroInfo;
use crate::wire::names::{instance_label, validate_name};

/// The DNS-SD service type every HERO is an instance of.
pub(crate) const SERVICE_TYPE: &str = "_heros._tcp.local.";

/// The wire contract version, written as `heros=` in TXT (one constant for the whole crate).
pub(crate) use crate::wire::PROTOCOL_VERSION;

/// One TXT string (`key=value`) is prefixed by a length byte (RFC 6763 §6.1).
const MAX_TXT_ENTRY: usize = 255;

/// Above this the TXT record no longer fits into one Ethernet-sized mDNS packet (RFC 6763 §6.2).
const MAX_TXT_TOTAL: usize = 1300;

const VERSION_KEY: &str = "heros";
const NAME_KEY: &str = "name";
const REALM_KEY: &str = "realm";
const INTERFACES_KEY: &str = "if";
const TAGS_KEY: &str = "tags";
const METADATA_PREFIX: &str = "m.";
const SECURED_KEY: &str = "secured";

/// The subtype a HERO of `realm` is registered under, so a realm can be browsed on its own.
pub(crate) fn realm_subtype(realm: &str) -> String {
    format!("_{realm}._sub.{SERVICE_TYPE}")
}

/// The DNS-SD full name of a HERO's instance, escaped as mdns-sd writes it.
pub(crate) fn fullname(name: &str, realm: &str) -> String {
    let mut escaped = String::new();
    for c in instance_label(name, realm).chars() {
        if matches!(c, '.' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("{escaped}.{SERVICE_TYPE}")
}

/// The TXT entries of a HERO, in a fixed order. Fails with [`Error::Config`] when an entry cannot
/// be written (too long, a list item containing `,`, a metadata key that is not printable ASCII).
pub(crate) fn encode_txt(info: &HeroInfo) -> Result<Vec<(String, String)>> {
    validate_name(&info.name, &info.realm)?;
    let hero = instance_label(&info.name, &info.realm);
    let list = |what: &str, items: &[String]| -> Result<String> {
        if let Some(bad) = items.iter().find(|item| item.is_empty() || item.contains(',')) {
            return Err(Error::config(format!("HERO '{hero}': {what} '{bad}' is empty or contains ','")));
        }
        Ok(items.join(","))
    };
    let mut entries = vec![
        (VERSION_KEY.to_owned(), PROTOCOL_VERSION.to_string()),
        (NAME_KEY.to_owned(), info.name.clone()),
        (REALM_KEY.to_owned(), info.realm.clone()),
        (INTERFACES_KEY.to_owned(), list("interface", &info.interfaces)?),
        (TAGS_KEY.to_owned(), list("tag", &info.tags)?),
    ];
    if info.secured {
        entries.push((SECURED_KEY.to_owned(), "1".to_owned()));
    }
    let mut metadata: Vec<_> = info.metadata.iter().collect();
    metadata.sort();
    for (key, value) in metadata {
        // RFC 6763 §6.4: keys are printable US-ASCII without '='; compared case-insensitively.
        if key.is_empty() || key.bytes().any(|b| !(0x20..=0x7e).contains(&b) || b == b'=') {
            return Err(Error::config(format!(
                "HERO '{hero}': metadata key '{key}' must be non-empty printable ASCII without '='"
            )));
        }
        entries.push((format!("{METADATA_PREFIX}{key}"), value.clone()));
    }
    let mut total = 0;
    for (key, value) in &entries {
        let len = key.len() + 1 + value.len();
        if len > MAX_TXT_ENTRY {
            let what = match key.as_str() {
                INTERFACES_KEY => "its interface list".to_owned(),
                TAGS_KEY => "its tag list".to_owned(),
                _ => format!("TXT entry '{key}'"),
            };
            return Err(Error::config(format!(
                "HERO '{hero}': {what} is {len} bytes as the TXT entry '{key}=...'; the limit is {MAX_TXT_ENTRY}"
            )));
        }
        total += 1 + len;
    }
    if total > MAX_TXT_TOTAL {
        return Err(Error::config(format!(
            "HERO '{hero}': its TXT record is {total} bytes; the limit is {MAX_TXT_TOTAL} (fewer or shorter tags and metadata)"
        )));
    }
    Ok(entries)
}

/// Reads a HERO back from TXT entries (`key`, raw value). The endpoints are left empty. Errors say
/// why the record is not a HERO's; the caller ignores such records.
pub(crate) fn decode_txt<'a>(
    entries: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> std::result::Result<HeroInfo, String> {
    let mut text: HashMap<String, &str> = HashMap::new();
    let mut metadata = HashMap::new();
    for (key, value) in entries {
        let value = match value {
            Some(bytes) => std::str::from_utf8(bytes).map_err(|_| format!("TXT '{key}' is not UTF-8"))?,
            None => "",
        };
        let lower = key.to_ascii_lowercase();
        if let Some(meta) = lower.strip_prefix(METADATA_PREFIX) {
            // Keep the key's case as written; the first of duplicates wins (RFC 6763 §6.4).
            if !meta.is_empty() {
                metadata.entry(key[METADATA_PREFIX.len()..].to_owned()).or_insert_with(|| value.to_owned());
            }
        } else {
            text.entry(lower).or_insert(value);
        }
    }
    let version = text.get(VERSION_KEY).ok_or("no 'heros' TXT entry: not a HERO")?;
    let protocol_version =
        version.parse::<u32>().ok().filter(|v| *v >= 1).ok_or_else(|| format!("bad protocol version '{version}'"))?;
    let name = text.get(NAME_KEY).ok_or("no 'name' TXT entry")?.to_string();
    let realm = text.get(REALM_KEY).ok_or("no 'realm' TXT entry")?.to_string();
    validate_name(&name, &realm).map_err(|e| e.to_string())?;
    let list = |key: &str| -> Vec<String> {
        text.get(key).map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
    };
    Ok(HeroInfo {
        name,
        realm,
        interfaces: list(INTERFACES_KEY),
        tags: list(TAGS_KEY),
        metadata,
        protocol_version,
        endpoints: Vec::new(),
        secured: text.get(SECURED_KEY).is_some_and(|v| *v == "1"),
    })
}

/// [`decode_txt`] over the TXT record mdns-sd resolved.
pub(crate) fn decode_properties(txt: &TxtProperties) -> std::result::Result<HeroInfo, String> {
    decode_txt(txt.iter().map(|p| (p.key(), p.val())))
}

/// The gRPC endpoints (`http://ip:port`) of a set of addresses: IPv4 first, then IPv6 in brackets,
/// loopback last within each (as the server lists its own). IPv6 link-local addresses are
/// dropped: a URL cannot carry the scope they need.
pub(crate) fn endpoints(addresses: &BTreeSet<IpAddr>, port: u16) -> Vec<String> {
    let mut usable: Vec<&IpAddr> = addresses
        .iter()
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_unspecified(),
            IpAddr::V6(v6) => !v6.is_unspecified() && !v6.is_unicast_link_local(),
        })
        .collect();
    usable.sort_by_key(|ip| (ip.is_ipv6(), ip.is_loopback(), **ip));
    usable
        .into_iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("http://{v4}:{port}"),
            IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdns_sd::{IntoTxtProperties, TxtProperty};

    fn hero() -> HeroInfo {
        HeroInfo {
            name: "oven".into(),
            realm: "lab".into(),
            interfaces: vec!["examples.v1.Oven".into(), "heros.v1.Describe".into()],
            tags: vec!["heater".into(), "room-3".into()],
            metadata: [("Owner".to_owned(), "ada = b".to_owned()), ("x".to_owned(), String::new())].into(),
            protocol_version: PROTOCOL_VERSION,
            endpoints: Vec::new(),
            secured: false,
        }
    }

    fn through_mdns(entries: Vec<(String, String)>) -> TxtProperties {
        entries.into_iter().map(TxtProperty::from).collect::<Vec<_>>().into_txt_properties()
    }

    #[test]
    fn txt_round_trip() {
        let info = hero();
        let txt = encode_txt(&info).unwrap();
        assert_eq!(txt[0], ("heros".to_owned(), "1".to_owned()));
        assert!(txt.contains(&("if".to_owned(), "examples.v1.Oven,heros.v1.Describe".to_owned())));
        assert!(txt.contains(&("m.Owner".to_owned(), "ada = b".to_owned())));
        assert_eq!(decode_properties(&through_mdns(txt)).unwrap(), info);
        let secured = HeroInfo { secured: true, ..hero() };
        let txt = encode_txt(&secured).unwrap();
        assert!(txt.contains(&("secured".to_owned(), "1".to_owned())));
        assert_eq!(decode_properties(&through_mdns(txt)).unwrap(), secured);

        let bare = HeroInfo { interfaces: vec![], tags: vec![], metadata: HashMap::new(), ..hero() };
        assert_eq!(decode_properties(&through_mdns(encode_txt(&bare).unwrap())).unwrap(), bare);
    }

    #[test]
    fn names_are_escaped_like_mdns_sd() {
        assert_eq!(fullname("oven", "lab"), "oven@lab._heros._tcp.local.");
        assert_eq!(fullname("a\\b", "lab"), "a\\\\b@lab._heros._tcp.local.");
        assert_eq!(realm_subtype("lab"), "_lab._sub._heros._tcp.local.");
    }

    #[test]
    fn unwritable_records_are_refused_clearly() {
        let many = HeroInfo { interfaces: (0..20).map(|i| format!("examples.v1.Interface{i:02}")).collect(), ..hero() };
        let err = encode_txt(&many).unwrap_err().to_string();
        assert!(err.contains("interface list") && err.contains("limit is 255"), "{err}");

        let comma = HeroInfo { tags: vec!["a,b".into()], ..hero() };
        assert!(encode_txt(&comma).unwrap_err().to_string().contains("'a,b'"));

        let key = HeroInfo { metadata: [("k=v".to_owned(), "1".to_owned())].into(), ..hero() };
        assert!(encode_txt(&key).unwrap_err().to_string().contains("metadata key"));

        let big = HeroInfo { metadata: (0..10).map(|i| (format!("k{i}"), "v".repeat(200))).collect(), ..hero() };
        assert!(encode_txt(&big).unwrap_err().to_string().contains("limit is 1300"));
    }

    #[test]
    fn malformed_txt_is_not_a_hero() {
        let decode = |entries: &[(&str, &[u8])]| decode_txt(entries.iter().map(|(k, v)| (*k, Some(*v))));
        let good: &[(&str, &[u8])] = &[("heros", b"1"), ("name", b"a"), ("realm", b"r")];
        assert!(decode(good).is_ok());
        assert!(decode(&good[1..]).unwrap_err().contains("not a HERO"));
        assert!(decode(&[("heros", b"x"), ("name", b"a"), ("realm", b"r")]).is_err());
        assert!(decode(&[("heros", b"0"), ("name", b"a"), ("realm", b"r")]).is_err());
        assert!(decode(&[("heros", b"1"), ("name", b"a")]).is_err());
        assert!(decode(&[("heros", b"1"), ("name", b"a.b"), ("realm", b"r")]).is_err());
        assert!(decode(&[("heros", b"1"), ("name", b"\xff"), ("realm", b"r")]).unwrap_err().contains("UTF-8"));
        assert!(decode_txt([("heros", None), ("name", Some(&b"a"[..])), ("realm", Some(&b"r"[..]))]).is_err());
        // Keys are case-insensitive, the first of duplicates wins, unknown keys are ignored.
        let info = decode(&[("HEROS", b"2"), ("Name", b"a"), ("name", b"b"), ("realm", b"r"), ("new", b"?")]).unwrap();
        assert_eq!((info.name.as_str(), info.protocol_version), ("a", 2));
    }

    #[test]
    fn endpoints_put_ipv4_first_and_drop_link_local() {
        let addresses: BTreeSet<IpAddr> = ["fe80::1", "::1", "2001:db8::5", "198.18.0.2", "127.0.0.1", "0.0.0.0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            endpoints(&addresses, 7),
            vec!["http://198.18.0.2:7", "http://127.0.0.1:7", "http://[2001:db8::5]:7", "http://[::1]:7"]
        );
        let only_link_local: BTreeSet<IpAddr> = ["fe80::1".parse().unwrap()].into();
        assert!(endpoints(&only_link_local, 7).is_empty());
    }
}
