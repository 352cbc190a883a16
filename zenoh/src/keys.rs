//! The zenoh key space of Python HEROS: `@object/<realm>/<name>/<endpoint>`, where the endpoint
//! is a member's name, `_discover`, `_capabilities`, or `_health` (the liveliness token).

use crate::error::{Error, Result};

/// The namespace of all HEROs.
pub(crate) const OBJECTS: &str = "@object";
/// Answers with the HERO's descriptor (name, class, implements, tags).
pub(crate) const DISCOVER: &str = "_discover";
/// Answers with the list of the HERO's capabilities.
pub(crate) const CAPABILITIES: &str = "_capabilities";
/// The HERO's liveliness token.
pub(crate) const HEALTH: &str = "_health";

/// `@object/<realm>/<name>`, after checking that neither part would change the key's meaning.
pub(crate) fn base(realm: &str, name: &str) -> Result<String> {
    for (what, part) in [("realm", realm), ("name", name)] {
        if part.is_empty() || part.contains(['/', '*', '$', '?', '#']) {
            return Err(Error::InvalidArgument(format!(
                "the {what} '{part}' cannot be part of a zenoh key (empty, or has one of / * $ ? #)"
            )));
        }
    }
    Ok(format!("{OBJECTS}/{realm}/{name}"))
}

/// The HERO name in a key `@object/<realm>/<name>/<endpoint...>` of `realm`.
pub(crate) fn name_of(key: &str, realm: &str) -> Option<String> {
    let rest = key.strip_prefix(OBJECTS)?.strip_prefix('/')?.strip_prefix(realm)?.strip_prefix('/')?;
    rest.split('/').next().filter(|name| !name.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_built_and_read_back() {
        assert_eq!(base("heros", "oven").unwrap(), "@object/heros/oven");
        assert_eq!(name_of("@object/heros/oven/_health", "heros").as_deref(), Some("oven"));
        assert_eq!(name_of("@object/lab/oven/_health", "heros"), None);
        assert!(base("heros", "a/b").is_err());
        assert!(base("", "a").is_err());
    }
}
