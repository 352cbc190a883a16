//! The shared-token mode (`HEROS_TOKEN`): every call carries `authorization: Bearer <token>`,
//! compared in constant time. Weaker than certificates: anyone who has the token is an
//! operator, nobody can be revoked alone, and without TLS the token crosses the network in
//! clear text, where anyone on the LAN can read it. For setups that cannot hand out certificates.

use subtle::ConstantTimeEq;

/// The header the token travels in (gRPC's usual place for credentials).
pub(crate) const AUTHORIZATION: http::HeaderName = http::header::AUTHORIZATION;

/// A shared secret. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token; empty ones are refused by [`crate::Config::from_env`].
    pub fn new(secret: impl Into<String>) -> Token {
        Token(secret.into())
    }

    /// The header value a client sends.
    pub(crate) fn header(&self) -> Option<http::HeaderValue> {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Whether `presented` (the whole header value) carries this token. The comparison takes the
    /// same time wherever the first differing byte is, so timing tells an attacker nothing.
    pub(crate) fn accepts(&self, presented: Option<&http::HeaderValue>) -> bool {
        let Some(presented) = presented else { return false };
        let Some(secret) = presented.as_bytes().strip_prefix(b"Bearer ") else { return false };
        secret.ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_is_accepted() {
        let token = Token::new("s3cret");
        assert!(token.accepts(token.header().as_ref()));
        assert!(!token.accepts(Some(&http::HeaderValue::from_static("Bearer s3cre"))));
        assert!(!token.accepts(Some(&http::HeaderValue::from_static("Bearer s3cret!"))));
        assert!(!token.accepts(Some(&http::HeaderValue::from_static("s3cret"))));
        assert!(!token.accepts(None));
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
