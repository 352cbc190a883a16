//! Roles in a secured realm and which calls each allows. The role rides in the client
//! certificate as the SAN URI `heros:role:<role>` (`realm issue --role`); a certificate without
//! one is an observer. A shared token (`HEROS_TOKEN`) grants `operate`.
//!
//! "observe" may read: list and describe HEROs, health, reflection, read attributes, subscribe
//! to events, watch attributes, browse exports and list callbacks. "operate" may do everything
//! else too: call methods, set attributes, open sessions and use handles, connect callbacks.
//! Which rpc needs which role is the server's business (`server/access.rs`).

use crate::error::Error;

/// The SAN URI prefix that carries a role in a certificate.
pub(crate) const ROLE_URI_PREFIX: &str = "heros:role:";

/// What an authenticated peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read: list, describe, get attributes, subscribe, watch, health, reflection.
    Observe,
    /// Everything: methods, setting attributes, handles, callbacks.
    Operate,
}

impl Role {
    /// `observe` or `operate`, as written in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Observe => "observe",
            Role::Operate => "operate",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Role, Error> {
        match text {
            "observe" => Ok(Role::Observe),
            "operate" => Ok(Role::Operate),
            other => Err(Error::config(format!("'{other}' is not a role: 'observe' or 'operate'"))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refuses a set of `attribute` when the call being served came from an observer. Calls from
/// this process, and calls to servers without security, have no role and pass.
pub(crate) fn may_set_attribute(hero: &str, attribute: &str) -> Result<(), Error> {
    match super::caller_role() {
        Some(Role::Observe) => Err(Error::PermissionDenied {
            role: Role::Operate.as_str().to_owned(),
            action: format!("setting attribute '{attribute}' of HERO '{hero}'"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("observe".parse::<Role>().unwrap(), Role::Observe);
        assert_eq!("operate".parse::<Role>().unwrap(), Role::Operate);
        assert!("admin".parse::<Role>().is_err());
        assert!(Role::Observe < Role::Operate);
    }
}
