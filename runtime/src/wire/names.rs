//! What a HERO name and a realm may be. Both end up in one DNS-SD instance label
//! (`<name>@<realm>`, at most 63 bytes), in gRPC metadata and in `heros://` URLs.

use crate::error::{Error, Result};

/// The realm a HERO or a client is in when nothing else is said (as in Python HEROS).
pub const DEFAULT_REALM: &str = "heros";

/// Longest DNS label, which holds `<name>@<realm>`.
const MAX_LABEL: usize = 63;

/// Checks a HERO name: 1..=63 bytes together with its realm; printable; no `@`, `.`, `,` or `/`,
/// which separate the parts of instance labels, TXT lists and URLs.
pub fn validate_name(name: &str, realm: &str) -> Result<()> {
    validate_part("HERO name", name)?;
    validate_part("realm", realm)?;
    let label = name.len() + 1 + realm.len();
    if label > MAX_LABEL {
        return Err(Error::config(format!(
            "HERO name '{name}' with realm '{realm}' is {label} bytes as a DNS-SD label '<name>@<realm>'; the limit is {MAX_LABEL}"
        )));
    }
    Ok(())
}

/// Checks a realm on its own.
pub fn validate_realm(realm: &str) -> Result<()> {
    validate_part("realm", realm)
}

fn validate_part(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::config(format!("{what} must not be empty")));
    }
    if let Some(bad) =
        value.chars().find(|c| matches!(c, '@' | '.' | ',' | '/' | '=') || c.is_control() || c.is_whitespace())
    {
        return Err(Error::config(format!(
            "{what} '{value}' contains {bad:?}; '@ . , / =', spaces and control characters are not allowed"
        )));
    }
    Ok(())
}

/// The DNS-SD instance label of a HERO.
pub(crate) fn instance_label(name: &str, realm: &str) -> String {
    format!("{name}@{realm}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_label_rules() {
        assert!(validate_name("my_hero", "heros").is_ok());
        assert!(validate_name("Ofen-3 ü", "heros").is_err(), "spaces are refused");
        assert!(validate_name("Ofen-3-ü", "lab").is_ok(), "unicode is fine");
        assert!(validate_name("", "heros").is_err());
        assert!(validate_name("a.b", "heros").is_err());
        assert!(validate_name("a", "r@s").is_err());
        assert!(validate_name(&"x".repeat(57), "heros").is_ok());
        let too_long = validate_name(&"x".repeat(58), "heros").unwrap_err();
        assert!(too_long.to_string().contains("limit is 63"), "{too_long}");
    }
}
