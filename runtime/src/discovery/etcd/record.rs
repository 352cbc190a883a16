//! The etcd side of the discovery contract (docs/PROTOCOL.md, "Discovery through etcd"): where a
//! HERO's key is and what its value holds. Pure functions, no connection.
//!
//! - key: `/heros/v1/<realm>/<name>` (names and realms cannot contain `/`);
//! - value: a JSON object with the fields of the mDNS TXT record under the same names
//!   (`heros`, `name`, `realm`, `if`, `tags`, `secured`, and the metadata as `m`), the lists as
//!   JSON arrays, plus `endpoints`, the `http://ip:port` addresses of the HERO's server (what
//!   mDNS carries in SRV and A/AAAA records);
//! - the key is bound to the lease of the serving process: it vanishes when the process stops
//!   keeping the lease alive.

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::proto::HeroInfo;
use crate::wire::names::validate_name;

/// Every HERO key starts with this.
pub(crate) const ROOT: &str = "/heros/v1/";

/// The prefix of one realm's keys, or of every realm's for `None`.
pub(crate) fn prefix(realm: Option<&str>) -> String {
    match realm {
        Some(realm) => format!("{ROOT}{realm}/"),
        None => ROOT.to_owned(),
    }
}

/// The end of the range of keys that start with `prefix` (etcd's `range_end`: the prefix with
/// its last byte incremented).
pub(crate) fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    // The prefixes end in '/', never 0xff.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// The key of one HERO.
pub(crate) fn key(realm: &str, name: &str) -> String {
    format!("{ROOT}{realm}/{name}")
}

/// The (realm, name) a key is about; `None` for a key that is not a HERO's.
pub(crate) fn parse_key(key: &[u8]) -> Option<(String, String)> {
    let key = std::str::from_utf8(key).ok()?.strip_prefix(ROOT)?;
    let (realm, name) = key.split_once('/')?;
    validate_name(name, realm).ok()?;
    Some((realm.to_owned(), name.to_owned()))
}

/// The value of a HERO's key. The record must be valid (checked by [`super::super::record`]
/// before it is advertised anywhere).
pub(crate) fn encode(info: &HeroInfo) -> Result<Vec<u8>> {
    // The same rules as the TXT record, so that a HERO valid for one backend is for the other.
    super::super::record::encode_txt(info)?;
    let metadata: Map<String, Value> = info.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let value = json!({
        "heros": info.protocol_version,
        "name": info.name,
        "realm": info.realm,
        "if": info.interfaces,
        "tags": info.tags,
        "m": metadata,
        "secured": info.secured,
        "endpoints": info.endpoints,
    });
    Ok(value.to_string().into_bytes())
}

/// Reads a HERO back from its key and value. Errors say why the value is not a HERO's record;
/// the caller ignores such keys.
pub(crate) fn decode(key: &[u8], value: &[u8]) -> std::result::Result<HeroInfo, String> {
    let (realm, name) = parse_key(key).ok_or("not a HERO key (/heros/v1/<realm>/<name>)")?;
    let value: Value = serde_json::from_slice(value).map_err(|e| format!("not JSON: {e}"))?;
    let protocol_version = value
        .get("heros")
        .and_then(Value::as_u64)
        .filter(|v| *v >= 1)
        .ok_or("no 'heros' protocol version: not a HERO")?;
    let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_owned);
    if text("name").as_deref() != Some(name.as_str()) || text("realm").as_deref() != Some(realm.as_str()) {
        return Err("'name' and 'realm' do not match the key".into());
    }
    let list = |field: &str| -> Vec<String> {
        value
            .get(field)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let metadata = value
        .get("m")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let endpoints = list("endpoints");
    if endpoints.is_empty() {
        return Err("no endpoints".into());
    }
    Ok(HeroInfo {
        name,
        realm,
        interfaces: list("if"),
        tags: list("tags"),
        metadata,
        protocol_version: u32::try_from(protocol_version).map_err(|_| "protocol version out of range")?,
        endpoints,
        secured: value.get("secured").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTOCOL_VERSION;

    fn hero() -> HeroInfo {
        HeroInfo {
            name: "oven".into(),
            realm: "lab".into(),
            interfaces: vec!["examples.v1.Oven".into()],
            tags: vec!["heater".into()],
            metadata: [("Owner".to_owned(), "ada".to_owned())].into(),
            protocol_version: PROTOCOL_VERSION,
            endpoints: vec!["http://198.18.0.1:4711".into()],
            secured: true,
        }
    }

    #[test]
    fn keys_and_ranges() {
        assert_eq!(key("lab", "oven"), "/heros/v1/lab/oven");
        assert_eq!(prefix(Some("lab")), "/heros/v1/lab/");
        assert_eq!(range_end(&prefix(Some("lab"))), b"/heros/v1/lab0");
        assert_eq!(range_end(&prefix(None)), b"/heros/v10");
        assert_eq!(parse_key(b"/heros/v1/lab/oven"), Some(("lab".into(), "oven".into())));
        for bad in [&b"/heros/v1/lab"[..], b"/heros/v1/lab/a/b", b"/other/lab/oven", b"/heros/v1/lab/", b"\xff"] {
            assert_eq!(parse_key(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn value_round_trip() {
        let info = hero();
        let value = encode(&info).unwrap();
        let json: Value = serde_json::from_slice(&value).unwrap();
        assert_eq!(json["if"], json!(["examples.v1.Oven"]));
        assert_eq!(json["m"]["Owner"], "ada");
        assert_eq!(decode(key("lab", "oven").as_bytes(), &value).unwrap(), info);
    }

    #[test]
    fn foreign_values_are_not_heros() {
        let value = encode(&hero()).unwrap();
        assert!(decode(b"/heros/v1/lab/other", &value).unwrap_err().contains("match the key"));
        assert!(decode(b"/heros/v1/lab/oven", b"{").unwrap_err().contains("JSON"));
        assert!(decode(b"/heros/v1/lab/oven", br#"{"name":"oven","realm":"lab"}"#).unwrap_err().contains("not a HERO"));
        let no_endpoints = HeroInfo { endpoints: vec![], ..hero() };
        assert!(decode(b"/heros/v1/lab/oven", &encode(&no_endpoints).unwrap()).unwrap_err().contains("endpoints"));
        let bad = HeroInfo { tags: vec!["a,b".into()], ..hero() };
        assert!(encode(&bad).is_err(), "the TXT rules apply");
    }
}
