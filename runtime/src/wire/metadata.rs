//! The request headers of the wire contract. Names and realms may be any UTF-8 (docs/PROTOCOL.md);
//! in a header they are percent-encoded where they are not plain ASCII, so that every gRPC
//! library can send them as ordinary ASCII metadata.

use std::borrow::Cow;

#[cfg(test)]
use http::HeaderMap;
use http::{HeaderName, HeaderValue};

use crate::error::Error;

/// Names the HERO a call is for.
pub const NAME_HEADER: &str = "heros-name";
/// The realm the caller is in.
pub const REALM_HEADER: &str = "heros-realm";

/// The client session a call belongs to (32 hex digits): needed by calls that pass or return
/// handles, and by the `heros.v1.Handles` service.
pub const SESSION_HEADER: &str = "heros-session";

/// The three headers as header names. Inserting or looking up a header by a `&str` parses and
/// checks the name every time (about 200 instructions a header a call); these are ready.
pub(crate) const NAME: HeaderName = HeaderName::from_static(NAME_HEADER);
/// See [`NAME`].
pub(crate) const REALM: HeaderName = HeaderName::from_static(REALM_HEADER);
/// See [`NAME`].
pub(crate) const SESSION: HeaderName = HeaderName::from_static(SESSION_HEADER);

/// `value` (a HERO name or realm) as a header value: visible ASCII as is, everything else (and
/// `%`) as `%XX` (docs/PROTOCOL.md, "Request headers"). Public for tools that build their own
/// requests, such as the `heros` CLI.
pub fn encode_header(value: &str) -> HeaderValue {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&encoded).expect("visible ASCII is a valid header value")
}

/// The decoded value of header `name`, if present.
#[cfg(test)]
fn decode_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, Error> {
    decode_value(headers.get(name), name).map(|value| value.map(Cow::into_owned))
}

/// The decoded `value` of header `name`; borrowed unless it carries percent-escapes, so that
/// routing a call allocates nothing for its headers. Control characters are refused, escaped
/// (`%00`, `%0A`) or raw (a TAB, which header values allow): no valid name or realm has one,
/// and a NUL or a line break would cut or forge what logs and tools show of it.
pub(crate) fn decode_value<'a>(value: Option<&'a HeaderValue>, name: &str) -> Result<Option<Cow<'a, str>>, Error> {
    let Some(value) = value else { return Ok(None) };
    let bytes = value.as_bytes();
    if !bytes.contains(&b'%') {
        // Header values are visible ASCII, so this only fails on obs-text bytes.
        let text =
            std::str::from_utf8(bytes).map_err(|_| Error::invalid_argument(format!("header '{name}' is not UTF-8")))?;
        return without_controls(text, name).map(|text| Some(Cow::Borrowed(text)));
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                Error::invalid_argument(format!("header '{name}' has a bad percent-escape at byte {i}"))
            })?;
            decoded.push(byte);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(decoded)
        .map_err(|_| Error::invalid_argument(format!("header '{name}' is not UTF-8 (after percent-decoding)")))?;
    without_controls(&text, name)?;
    Ok(Some(Cow::Owned(text)))
}

/// `text`, unless it holds a control character (C0, DEL or C1).
fn without_controls<'a>(text: &'a str, name: &str) -> Result<&'a str, Error> {
    match text.chars().find(|c| c.is_control()) {
        None => Ok(text),
        Some(control) => Err(Error::invalid_argument(format!(
            "header '{name}' holds the control character U+{:04X}; names and realms have none",
            control as u32
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for value in ["my_hero", "Öfen-3", "a%b", "x y"] {
            let mut headers = HeaderMap::new();
            headers.insert(NAME_HEADER, encode_header(value));
            assert_eq!(decode_header(&headers, NAME_HEADER).unwrap().as_deref(), Some(value));
        }
        assert_eq!(encode_header("Öfen"), "%C3%96fen");
        let mut headers = HeaderMap::new();
        headers.insert(NAME_HEADER, HeaderValue::from_static("bad%zz"));
        assert!(decode_header(&headers, NAME_HEADER).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        for value in ["a%00b", "a%0Ab", "a\tb", "%7F", "%C2%85"] {
            let mut headers = HeaderMap::new();
            headers.insert(REALM_HEADER, HeaderValue::from_str(value).unwrap());
            let error = decode_header(&headers, REALM_HEADER).unwrap_err();
            assert!(matches!(error, Error::InvalidArgument { .. }), "{value}: {error:?}");
            assert!(error.to_string().contains("'heros-realm'"), "{value}: {error}");
        }
    }
}
