//! Which calls each role may make in a secured realm (docs/PROTOCOL.md, "Security"): the
//! framework's services by name, a HERO's rpcs by their kind (methods need `operate`; reading
//! attributes and subscribing to events is observing). A set of an attribute is told by its
//! request's value, so that check is where the value is read (`security::roles::may_set_attribute`).

use crate::error::Error;
use crate::interface::MemberKind;
use crate::security::Role;
use crate::server::routing::{split_path, HeroTable};

/// Framework rpcs an observer may call (whole services, or `Service/Method`).
const OBSERVE_SERVICES: &[&str] = &[
    crate::server::registry::SERVICE_NAME,
    crate::server::health::SERVICE_NAME,
    crate::server::reflection::V1_SERVICE,
    crate::server::reflection::V1ALPHA_SERVICE,
    crate::server::attribute_watch::SERVICE_NAME,
];
const OBSERVE_METHODS: &[(&str, &str)] = &[
    (crate::handles::service::HANDLES_SERVICE, "Browse"),
    (crate::server::callbacks::SERVICE_NAME, "ListCallbacks"),
    (OPERATIONS, "Get"),
    (OPERATIONS, "Watch"),
    (OPERATIONS, "Wait"),
    (OPERATIONS, "List"),
];
const OPERATIONS: &str = crate::server::operations::service::SERVICE_NAME;
/// Framework services whose other rpcs need `operate`.
const FRAMEWORK_SERVICES: &[&str] = &[
    crate::handles::service::HANDLES_SERVICE,
    crate::handles::service::SESSIONS_SERVICE,
    crate::server::callbacks::SERVICE_NAME,
    OPERATIONS,
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
