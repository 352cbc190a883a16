//! CBOR as Python HEROS writes it (`heros/serdes.py`, cbor2): the tags it defines, its error
//! payload, and the mapping between CBOR and `serde_json::Value` that [`crate::RemoteHero`]
//! offers its callers.
//!
//! JSON has no bytes, sets or tags, so the mapping spells them as one-key objects: CBOR bytes
//! become `{"$bytes": [1, 2, 3]}`, a HERO reference (tag 9000) `{"$hero": {"realm": r, "name":
//! n}}`, an object Python could not send (tag 9001) `{"$object": {"type": t, "id": i, "repr":
//! s}}` (pass it back as an argument and Python gets its object again, tag 9002), a numpy array
//! (tag 4242) `{"$ndarray": {"shape": [..], "dtype": "<f8", "data": {"$bytes": [..]}}}`; a set
//! (tag 258) becomes a list.

use ciborium::Value as Cbor;
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// numpy array: `[shape, dtype as bytes, data]`.
pub(crate) const NDARRAY_TAG: u64 = 4242;
/// A reference to a HERO: `[realm, name]`.
pub(crate) const HERO_TAG: u64 = 9000;
/// An object the sender could not serialize: `[type, id, repr]`; the id stays valid on the sender.
pub(crate) const UNSERIALIZABLE_TAG: u64 = 9001;
/// An object of the receiver's, sent back by the id it handed out in a tag 9001.
pub(crate) const UNSERIALIZABLE_REF_TAG: u64 = 9002;
/// An exception: `{"__heros_error__": true, "type", "module", "message", "traceback"}`.
pub(crate) const ERROR_TAG: u64 = 9005;
/// A set (cbor2's standard tag).
pub(crate) const SET_TAG: u64 = 258;
/// The marker key of an error payload.
const ERROR_MARKER: &str = "__heros_error__";

/// Encodes a CBOR value.
pub(crate) fn to_bytes(value: &Cbor) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail, and every ciborium::Value is encodable.
    ciborium::into_writer(value, &mut bytes).expect("a CBOR value encodes into a Vec");
    bytes
}

/// Decodes one CBOR value; `what` names it in the error.
pub(crate) fn from_bytes(bytes: &[u8], what: &str) -> Result<Cbor> {
    ciborium::from_reader(bytes).map_err(|e| Error::Protocol(format!("{what} is not CBOR: {e}")))
}

/// A text key of a CBOR map.
pub(crate) fn text(key: &str) -> Cbor {
    Cbor::Text(key.to_owned())
}

/// The entry `key` of a CBOR map, if the value is a map that has it.
pub(crate) fn get<'a>(map: &'a Cbor, key: &str) -> Option<&'a Cbor> {
    map.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
}

/// Python HEROS's error payload for `error`, which Python raises as a `RemoteHEROError` (and, for
/// a builtin type such as `AttributeError`, as a subclass of that builtin too).
pub(crate) fn error_payload(error: &Error) -> Vec<u8> {
    let fields = vec![
        (text(ERROR_MARKER), Cbor::Bool(true)),
        (text("type"), text(&error.python_type())),
        (text("module"), text("heros_rust")),
        (text("message"), text(&error.python_message())),
        (text("traceback"), Cbor::Null),
    ];
    to_bytes(&Cbor::Tag(ERROR_TAG, Box::new(Cbor::Map(fields))))
}

/// Reads an error reply of a Python (or Rust) HERO: the tagged payload, or, from protocol
/// version 0.1, any value, taken as its text.
pub(crate) fn error_from_payload(bytes: &[u8]) -> Error {
    let value = match from_bytes(bytes, "an error reply") {
        Ok(value) => value,
        Err(error) => return error,
    };
    let payload = match &value {
        Cbor::Tag(ERROR_TAG, inner) => inner.as_ref(),
        other => other,
    };
    let field = |key: &str| get(payload, key).and_then(Cbor::as_text).map(str::to_owned);
    if get(payload, ERROR_MARKER).and_then(Cbor::as_bool) == Some(true) {
        Error::Remote {
            remote_type: field("type").unwrap_or_else(|| "RemoteHEROError".into()),
            message: field("message").unwrap_or_default(),
            traceback: field("traceback"),
        }
    } else {
        let message = match payload {
            Cbor::Text(text) => text.clone(),
            other => to_json(other).to_string(),
        };
        Error::Remote { remote_type: "RemoteHEROError".into(), message, traceback: None }
    }
}

/// CBOR as JSON (see the module's doc for bytes, tags and sets).
pub fn to_json(value: &Cbor) -> Json {
    match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(*b),
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(i) = i64::try_from(i) {
                Json::from(i)
            } else if let Ok(u) = u64::try_from(i) {
                Json::from(u)
            } else {
                Json::from(i as f64)
            }
        }
        Cbor::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Cbor::Text(t) => Json::String(t.clone()),
        Cbor::Bytes(b) => bytes_json(b),
        Cbor::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Cbor::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(t) => t.clone(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Cbor::Tag(tag, inner) => tagged_json(*tag, inner),
        _ => Json::Null,
    }
}

fn bytes_json(bytes: &[u8]) -> Json {
    one("$bytes", Json::Array(bytes.iter().map(|b| Json::from(*b)).collect()))
}

fn one(key: &str, value: Json) -> Json {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Json::Object(map)
}

fn tagged_json(tag: u64, inner: &Cbor) -> Json {
    let items = inner.as_array().map(Vec::as_slice).unwrap_or_default();
    match (tag, items) {
        (SET_TAG, _) => to_json(inner),
        (HERO_TAG, [realm, name]) => one("$hero", serde_json::json!({"realm": to_json(realm), "name": to_json(name)})),
        (UNSERIALIZABLE_TAG, [kind, id, repr]) => {
            one("$object", serde_json::json!({"type": to_json(kind), "id": to_json(id), "repr": to_json(repr)}))
        }
        (NDARRAY_TAG, [shape, dtype, data]) => {
            let dtype = match dtype {
                Cbor::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
                other => to_json(other),
            };
            one("$ndarray", serde_json::json!({"shape": to_json(shape), "dtype": dtype, "data": to_json(data)}))
        }
        (ERROR_TAG, _) => {
            let Error::Remote { remote_type, message, .. } =
                error_from_payload(&to_bytes(&Cbor::Tag(tag, Box::new(inner.clone()))))
            else {
                return Json::Null;
            };
            one("$error", serde_json::json!({"type": remote_type, "message": message}))
        }
        _ => serde_json::json!({"$tag": tag, "value": to_json(inner)}),
    }
}

/// JSON as CBOR: the inverse of [`to_json`] for the one-key objects it writes (`$bytes`,
/// `$hero`, `$object`, which goes back as tag 9002, `$ndarray`).
pub fn from_json(value: &Json) -> Result<Cbor> {
    Ok(match value {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cbor::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Cbor::Integer(u.into())
            } else {
                Cbor::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Array(items) => Cbor::Array(items.iter().map(from_json).collect::<Result<_>>()?),
        Json::Object(map) => match special(map)? {
            Some(value) => value,
            None => {
                Cbor::Map(map.iter().map(|(k, v)| Ok((Cbor::Text(k.clone()), from_json(v)?))).collect::<Result<_>>()?)
            }
        },
    })
}

fn special(map: &Map<String, Json>) -> Result<Option<Cbor>> {
    let Some((key, inner)) = map.iter().next().filter(|_| map.len() == 1) else { return Ok(None) };
    let bad = |what: &str| Error::InvalidArgument(format!("{key}: {what}"));
    let field = |name: &str| inner.get(name).ok_or_else(|| bad(&format!("needs '{name}'")));
    Ok(Some(match key.as_str() {
        "$bytes" => Cbor::Bytes(json_bytes(inner).ok_or_else(|| bad("needs a list of numbers 0..=255"))?),
        "$hero" => {
            Cbor::Tag(HERO_TAG, Box::new(Cbor::Array(vec![from_json(field("realm")?)?, from_json(field("name")?)?])))
        }
        "$object" => Cbor::Tag(UNSERIALIZABLE_REF_TAG, Box::new(from_json(field("id")?)?)),
        "$ndarray" => {
            let dtype = field("dtype")?.as_str().ok_or_else(|| bad("'dtype' is a string such as '<f8'"))?;
            Cbor::Tag(
                NDARRAY_TAG,
                Box::new(Cbor::Array(vec![
                    from_json(field("shape")?)?,
                    Cbor::Bytes(dtype.as_bytes().to_vec()),
                    from_json(field("data")?)?,
                ])),
            )
        }
        _ => return Ok(None),
    }))
}

fn json_bytes(value: &Json) -> Option<Vec<u8>> {
    value.as_array()?.iter().map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_cbor_with_bytes_and_references() {
        let value = serde_json::json!({
            "n": -3, "big": u64::MAX, "x": 1.5, "s": "t", "b": true, "none": null,
            "raw": {"$bytes": [0, 255]}, "ref": {"$hero": {"realm": "heros", "name": "h"}},
            "list": [1, [2]],
        });
        let cbor = from_json(&value).unwrap();
        assert_eq!(to_json(&from_bytes(&to_bytes(&cbor), "test").unwrap()), value);
    }

    #[test]
    fn an_object_python_could_not_send_goes_back_by_its_id() {
        let object = Cbor::Tag(
            UNSERIALIZABLE_TAG,
            Box::new(Cbor::Array(vec![text("m.C"), Cbor::Integer(7.into()), text("<C>")])),
        );
        let json = to_json(&object);
        assert_eq!(json, serde_json::json!({"$object": {"type": "m.C", "id": 7, "repr": "<C>"}}));
        assert_eq!(from_json(&json).unwrap(), Cbor::Tag(UNSERIALIZABLE_REF_TAG, Box::new(Cbor::Integer(7.into()))));
    }

    #[test]
    fn bad_bytes_are_refused_with_the_reason() {
        let error = from_json(&serde_json::json!({"$bytes": [256]})).unwrap_err();
        assert!(error.to_string().contains("$bytes"), "{error}");
    }

    #[test]
    fn an_error_payload_reads_back_as_the_same_remote_error() {
        let error = Error::Hero(heros_runtime::Error::failed("Overheated", "92 is above 80"));
        match error_from_payload(&error_payload(&error)) {
            Error::Remote { remote_type, message, .. } => {
                assert_eq!(remote_type, "Overheated");
                assert_eq!(message, "92 is above 80");
            }
            other => panic!("{other:?}"),
        }
        let old = to_bytes(&text("plain text"));
        assert!(matches!(error_from_payload(&old), Error::Remote { message, .. } if message == "plain text"));
    }
}
