//! Roles in a secured realm and which calls each allows. The role rides in the client
//! certificate as the SAN URI `heros:role:<role>` (`realm issue --role`); a certificate without
//! one is an observer. A shared token (`HEROS_TOKEN`) grants `operate`.
//!
//! "observe" may read: list and describe HEROs, health, reflection, read attributes, subscribe
//! to events, watch attributes, browse exports and list callbacks. "operate" may do everything
//! else too: call methods, set attributes, open sessions and use handles, connect callbacks.

use crate::error::Error;
use crate::interface::MemberKind;
use crate::server::routing::{split_path, HeroTable};

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

/// Framework rpcs an observer may call (whole services, or `Service/Method`).
const OBSERVE_SERVICES: &[&str] = &[
    crate::server::registry::SERVICE_NAME,
    crate::server::health::SERVICE_NAME,
    crate::server::reflection::V1_SERVICE,
    crate::server::reflection::V1ALPHA_SERVICE,
    crate::events::attribute_watch::SERVICE_NAME,
];
const OBSERVE_METHODS: &[(&str, &str)] =
    &[(crate::handles::service::HANDLES_SERVICE, "Browse"), (crate::events::callbacks::SERVICE_NAME, "ListCallbacks")];
/// Framework services whose other rpcs need `operate`.
const FRAMEWORK_SERVICES: &[&str] = &[
    crate::handles::service::HANDLES_SERVICE,
    crate::handles::service::SESSIONS_SERVICE,
    crate::events::callbacks::SERVICE_NAME,
];

/// Whether `role` may make the call at `path`. Attribute rpcs pass here: only a set needs
/// `operate`, and that is told by the request's value ([`may_set_attribute`]).
pub(crate) fn check(table: &HeroTable, path: &str, role: Role) -> Result<(), Error> {
    if role == Role::Operate {
        return Ok(());
    }
    // A path that is no rpc gets the router's own error.
    let Some((interface, method)) = split_path(path) else { return Ok(()) };
    if OBSERVE_SERVICES.contains(&interface) || OBSERVE_METHODS.contains(&(interface, method)) {
        return Ok(());
    }
    let operate =
        || Error::PermissionDenied { role: Role::Operate.as_str().to_owned(), action: format!("{interface}/{method}") };
    if FRAMEWORK_SERVICES.contains(&interface) {
        return Err(operate());
    }
    let kind = table.all().iter().find_map(|hero| {
        let service = hero.service(interface)?;
        service.interface().members.iter().find(|m| m.name == method).map(|m| m.kind)
    });
    match kind {
        Some(MemberKind::Method) => Err(operate()),
        // Reads and subscriptions; or no such rpc here, which the router answers as NOT_FOUND.
        _ => Ok(()),
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
