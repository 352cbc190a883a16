//! The library's one error type, and the one place it is mapped to and from gRPC status.
//!
//! Every variant says what the caller can do about it (see [`Error::is_transient`]). On the wire an
//! error is a gRPC status whose `grpc-status-details-bin` trailer holds a `google.rpc.Status` with
//! one `heros.v1.ErrorDetail` inside, so that clients in other languages read the kind and the
//! context with their ordinary rich-error helpers (docs/PROTOCOL.md).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use prost::Message;
use tonic::{Code, Status};

use crate::proto::ErrorDetail;

/// The result type of everything in HEROS.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms of what the caller can do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server has no HERO of that name (in that realm). Check the name, or rediscover.
    #[error("no HERO named '{name}' in realm '{realm}'; {}", listing("known there", known))]
    HeroNotFound {
        /// The name asked for.
        name: String,
        /// The realm it was looked for in.
        realm: String,
        /// The HEROs that do exist there; `None` when the server does not list its HEROs
        /// (`HEROS_LIST_HEROS_IN_ERRORS=off`).
        known: Option<Vec<String>>,
    },
    /// Discovery did not find the HERO before the timeout. Is it running, in this realm, and does
    /// multicast reach it? Otherwise give its address (`heros://host:port/name`, `HEROS_PEERS`).
    #[error("no HERO named '{name}' appeared in realm '{realm}' within {waited:?}; known there: {}", list(known))]
    DiscoveryTimeout {
        /// The name asked for.
        name: String,
        /// The realm it was looked for in.
        realm: String,
        /// How long discovery waited.
        waited: Duration,
        /// The HEROs that discovery did find in that realm.
        known: Vec<String>,
    },
    /// The HERO exists but does not implement the interface the call was made through.
    #[error("HERO '{hero}' does not implement {interface}; it implements: {}", list(implemented))]
    InterfaceNotImplemented {
        /// The HERO called.
        hero: String,
        /// The interface (full service name) asked for.
        interface: String,
        /// The interfaces it does implement.
        implemented: Vec<String>,
    },
    /// No HERO on the server implements the interface the call was made through.
    #[error("no HERO here implements {interface}; {}", listing("HEROs here", known))]
    InterfaceNotServed {
        /// The interface (full service name) called.
        interface: String,
        /// The HEROs this server does host; `None` when it does not list them
        /// (`HEROS_LIST_HEROS_IN_ERRORS=off`).
        known: Option<Vec<String>>,
    },
    /// The interface has no method (or attribute, or event) of that name.
    #[error("{interface} of HERO '{hero}' has no method '{method}'; it has: {}", list(available))]
    MethodNotFound {
        /// The HERO called.
        hero: String,
        /// The interface called through.
        interface: String,
        /// The unknown method.
        method: String,
        /// The methods, attributes and events the interface does have.
        available: Vec<String>,
    },
    /// More than one HERO on the server implements the interface and the call named none of them.
    /// Send the `heros-name` header (stubs always do).
    #[error(
        "{interface} is implemented by several HEROs here ({}); name one with the 'heros-name' header",
        list(candidates)
    )]
    AmbiguousHero {
        /// The interface called.
        interface: String,
        /// The HEROs that implement it.
        candidates: Vec<String>,
    },
    /// The call came from another realm. HEROs of one realm are invisible to the others.
    #[error("HERO '{hero}' lives in realm '{hero_realm}' and refuses calls from realm '{caller_realm}'")]
    RealmMismatch {
        /// The HERO called.
        hero: String,
        /// Its realm.
        hero_realm: String,
        /// The realm the call said it came from.
        caller_realm: String,
    },
    /// The attribute can be read but not set.
    #[error("attribute '{attribute}' of HERO '{hero}' is read-only")]
    ReadOnly {
        /// The HERO.
        hero: String,
        /// The attribute.
        attribute: String,
    },
    /// A HERO of that name is already alive in the realm. Choose another name or stop the other.
    #[error("a HERO named '{name}' is already alive in realm '{realm}' at {endpoint}")]
    NameConflict {
        /// The contested name.
        name: String,
        /// The realm.
        realm: String,
        /// Where the living one is served.
        endpoint: String,
    },
    /// An argument (or the request's bytes) is wrong. Fix the argument; retrying will not help.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong with it.
        message: String,
    },
    /// The HERO cannot be reached (it went away, or the network is down). Retry, or rediscover it.
    #[error("HERO unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
    },
    /// A long-running operation that the server does not hold (never started, or expired).
    #[error("no operation '{id}' on this server (unknown, or ended longer ago than its lifetime)")]
    OperationNotFound {
        /// The id asked for.
        id: String,
    },
    /// The call or operation was cancelled before it ended.
    #[error("cancelled: {message}")]
    Cancelled {
        /// What was cancelled, and by whom if known.
        message: String,
    },
    /// The call's deadline passed.
    #[error("deadline exceeded: {message}")]
    Timeout {
        /// What timed out.
        message: String,
    },
    /// The HERO's own code failed: the kind and message are the application's.
    #[error("{kind}: {message}")]
    Failed {
        /// The application's name for the failure, e.g. `Overheated`.
        kind: String,
        /// What happened.
        message: String,
    },
    /// A handle or a client session was refused: see [`HandleProblem`] for each case.
    #[error("{message}")]
    Handle {
        /// Which rule the handle broke.
        problem: HandleProblem,
        /// What happened, naming the handle and the argument.
        message: String,
    },
    /// A limit of the server was reached: a quota of the caller's session or peer address, or
    /// a bound on what one connection may hold. Release something (handles, exports, sessions),
    /// read replies, or ask the server's operator to raise the limit named.
    #[error("limit reached: {message} ({limit} is {max})")]
    LimitReached {
        /// The setting that bites, as its environment variable, e.g. `HEROS_MAX_HANDLES_PER_SESSION`.
        limit: String,
        /// Its value on the server.
        max: u64,
        /// What was refused.
        message: String,
    },
    /// The HERO's code panicked while serving the call. The server goes on; the HERO's state
    /// may be inconsistent, so treat this as a bug report, not as a retryable failure.
    #[error("HERO '{hero}' panicked in {method}: {message}")]
    Panic {
        /// The HERO called.
        hero: String,
        /// The method (`Interface/Method`) that panicked.
        method: String,
        /// The panic message.
        message: String,
    },
    /// Configuration (an environment variable, a URL, a name) is invalid.
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The caller is authenticated but its role does not allow this call (a secured realm). Ask
    /// for a certificate with `role`; retrying will not help.
    #[error("permission denied: {action} needs the '{role}' role")]
    PermissionDenied {
        /// The role that was missing (`operate` or `observe`).
        role: String,
        /// What was refused.
        action: String,
    },
    /// The caller could not be authenticated: no TLS where the realm is secured, a certificate of
    /// another CA or a revoked one, a wrong or missing token. Fix the credentials.
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// What was missing or wrong.
        message: String,
    },
    /// The server may not connect to where a HERO reference or callback points (its dial policy,
    /// `HEROS_DIAL`). The error says nothing about the target, on purpose.
    #[error("refused: this server does not connect to endpoints it does not know (HEROS_DIAL)")]
    DialRefused,
    /// Any other gRPC status, e.g. from a server that is not a HEROS server.
    #[error("{code:?}: {message}")]
    Rpc {
        /// The status code.
        code: Code,
        /// The status message.
        message: String,
    },
}

/// Why a handle (or the session it belongs to) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandleProblem {
    /// Not an id this server issued: malformed, or forged (INVALID_ARGUMENT, `HANDLE_INVALID`).
    Invalid,
    /// The value was released; ids are never reused (NOT_FOUND, `HANDLE_RELEASED`).
    Released,
    /// Issued by another server, or by an earlier run of this one (NOT_FOUND, `HANDLE_STALE`).
    Stale,
    /// Held by another client's session; share it with `attach` and `fetch` (PERMISSION_DENIED,
    /// `HANDLE_FOREIGN`).
    Foreign,
    /// A handle to a value of another type than the argument takes (INVALID_ARGUMENT,
    /// `HANDLE_TYPE`).
    WrongType,
    /// The call passes or returns a handle but names no session (FAILED_PRECONDITION,
    /// `SESSION_REQUIRED`).
    NoSession,
    /// The session ended (its stream closed or its lease ran out) or never existed
    /// (FAILED_PRECONDITION, `SESSION_UNKNOWN`).
    UnknownSession,
    /// Nothing is exported under that name (NOT_FOUND, `EXPORT_NOT_FOUND`).
    UnknownExport,
    /// The export name is taken (ALREADY_EXISTS, `EXPORT_EXISTS`).
    ExportExists,
    /// The export belongs to another session, which still lives: only it may detach it
    /// (PERMISSION_DENIED, `EXPORT_NOT_OWNED`).
    ExportNotOwned,
}

impl HandleProblem {
    const ALL: [HandleProblem; 10] = [
        HandleProblem::Invalid,
        HandleProblem::Released,
        HandleProblem::Stale,
        HandleProblem::Foreign,
        HandleProblem::WrongType,
        HandleProblem::NoSession,
        HandleProblem::UnknownSession,
        HandleProblem::UnknownExport,
        HandleProblem::ExportExists,
        HandleProblem::ExportNotOwned,
    ];

    /// The `ErrorDetail.kind` it travels as.
    pub fn kind(self) -> &'static str {
        match self {
            HandleProblem::Invalid => "HANDLE_INVALID",
            HandleProblem::Released => "HANDLE_RELEASED",
            HandleProblem::Stale => "HANDLE_STALE",
            HandleProblem::Foreign => "HANDLE_FOREIGN",
            HandleProblem::WrongType => "HANDLE_TYPE",
            HandleProblem::NoSession => "SESSION_REQUIRED",
            HandleProblem::UnknownSession => "SESSION_UNKNOWN",
            HandleProblem::UnknownExport => "EXPORT_NOT_FOUND",
            HandleProblem::ExportExists => "EXPORT_EXISTS",
            HandleProblem::ExportNotOwned => "EXPORT_NOT_OWNED",
        }
    }

    fn code(self) -> Code {
        match self {
            HandleProblem::Invalid | HandleProblem::WrongType => Code::InvalidArgument,
            HandleProblem::Released | HandleProblem::Stale | HandleProblem::UnknownExport => Code::NotFound,
            HandleProblem::Foreign | HandleProblem::ExportNotOwned => Code::PermissionDenied,
            HandleProblem::NoSession | HandleProblem::UnknownSession => Code::FailedPrecondition,
            HandleProblem::ExportExists => Code::AlreadyExists,
        }
    }

    fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.kind() == kind)
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `<label>: <names>`, or that the server keeps its HEROs to itself.
fn listing(label: &str, known: &Option<Vec<String>>) -> String {
    match known {
        Some(names) => format!("{label}: {}", list(names)),
        None => "this server does not list its HEROs".to_owned(),
    }
}

/// The context entry of a list of HEROs that a server may keep to itself: no `known` key then.
fn known_entry(known: &Option<Vec<String>>) -> Option<(&'static str, String)> {
    known.as_ref().map(|names| ("known", names.join(",")))
}

impl Error {
    /// An application failure of a HERO method, with the application's kind and message.
    pub fn failed(kind: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Failed { kind: kind.into(), message: message.to_string() }
    }

    /// An argument the HERO refuses.
    pub fn invalid_argument(message: impl fmt::Display) -> Self {
        Error::InvalidArgument { message: message.to_string() }
    }

    pub(crate) fn handle(problem: HandleProblem, message: impl fmt::Display) -> Self {
        Error::Handle { problem, message: message.to_string() }
    }

    pub(crate) fn config(message: impl fmt::Display) -> Self {
        Error::Config { message: message.to_string() }
    }

    pub(crate) fn limit_reached(limit: &str, max: impl TryInto<u64>, message: impl fmt::Display) -> Self {
        Error::LimitReached {
            limit: limit.to_owned(),
            max: max.try_into().unwrap_or(u64::MAX),
            message: message.to_string(),
        }
    }

    pub(crate) fn unavailable(message: impl fmt::Display) -> Self {
        Error::Unavailable { message: message.to_string() }
    }

    /// True when the same call may succeed later without any change by the caller.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. } | Error::DiscoveryTimeout { .. })
    }

    /// The gRPC status code this error travels as.
    pub fn code(&self) -> Code {
        match self {
            Error::HeroNotFound { .. } | Error::OperationNotFound { .. } => Code::NotFound,
            Error::Cancelled { .. } => Code::Cancelled,
            Error::DiscoveryTimeout { .. } | Error::Timeout { .. } => Code::DeadlineExceeded,
            Error::InterfaceNotImplemented { .. } | Error::InterfaceNotServed { .. } | Error::MethodNotFound { .. } => {
                Code::Unimplemented
            }
            Error::AmbiguousHero { .. } => Code::FailedPrecondition,
            Error::RealmMismatch { .. }
            | Error::ReadOnly { .. }
            | Error::PermissionDenied { .. }
            | Error::DialRefused => Code::PermissionDenied,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::NameConflict { .. } => Code::AlreadyExists,
            Error::InvalidArgument { .. } | Error::Config { .. } => Code::InvalidArgument,
            Error::Unavailable { .. } => Code::Unavailable,
            Error::Handle { problem, .. } => problem.code(),
            Error::LimitReached { .. } => Code::ResourceExhausted,
            Error::Panic { .. } => Code::Internal,
            Error::Failed { .. } => Code::Unknown,
            Error::Rpc { code, .. } => *code,
        }
    }

    /// The machine-readable kind carried in `heros.v1.ErrorDetail.kind`.
    pub fn kind(&self) -> &str {
        match self {
            Error::HeroNotFound { .. } => "HERO_NOT_FOUND",
            Error::OperationNotFound { .. } => "OPERATION_NOT_FOUND",
            Error::Cancelled { .. } => "CANCELLED",
            Error::DiscoveryTimeout { .. } => "DISCOVERY_TIMEOUT",
            Error::InterfaceNotImplemented { .. } => "INTERFACE_NOT_IMPLEMENTED",
            Error::InterfaceNotServed { .. } => "INTERFACE_NOT_SERVED",
            Error::MethodNotFound { .. } => "METHOD_NOT_FOUND",
            Error::AmbiguousHero { .. } => "AMBIGUOUS_HERO",
            Error::RealmMismatch { .. } => "REALM_MISMATCH",
            Error::ReadOnly { .. } => "READ_ONLY",
            Error::NameConflict { .. } => "NAME_CONFLICT",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::Unavailable { .. } => "UNAVAILABLE",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Handle { problem, .. } => problem.kind(),
            Error::LimitReached { .. } => "LIMIT_REACHED",
            Error::Panic { .. } => "PANIC",
            Error::Failed { kind, .. } => kind,
            Error::Config { .. } => "CONFIG",
            Error::PermissionDenied { .. } => "PERMISSION_DENIED",
            Error::Unauthenticated { .. } => "UNAUTHENTICATED",
            Error::DialRefused => "DIAL_REFUSED",
            Error::Rpc { .. } => "RPC",
        }
    }

    /// The structured facts of this error, as the `context` of its `ErrorDetail`.
    fn context(&self) -> HashMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Error::HeroNotFound { name, realm, known } => {
                [("name", name.clone()), ("realm", realm.clone())].into_iter().chain(known_entry(known)).collect()
            }
            Error::DiscoveryTimeout { name, realm, waited, known } => vec![
                ("name", name.clone()),
                ("realm", realm.clone()),
                ("waited_ms", waited.as_millis().to_string()),
                ("known", known.join(",")),
            ],
            Error::InterfaceNotImplemented { hero, interface, implemented } => {
                vec![("hero", hero.clone()), ("interface", interface.clone()), ("implemented", implemented.join(","))]
            }
            Error::InterfaceNotServed { interface, known } => {
                [("interface", interface.clone())].into_iter().chain(known_entry(known)).collect()
            }
            Error::MethodNotFound { hero, interface, method, available } => vec![
                ("hero", hero.clone()),
                ("interface", interface.clone()),
                ("method", method.clone()),
                ("available", available.join(",")),
            ],
            Error::AmbiguousHero { interface, candidates } => {
                vec![("interface", interface.clone()), ("candidates", candidates.join(","))]
            }
            Error::RealmMismatch { hero, hero_realm, caller_realm } => {
                vec![("hero", hero.clone()), ("hero_realm", hero_realm.clone()), ("caller_realm", caller_realm.clone())]
            }
            Error::ReadOnly { hero, attribute } => {
                vec![("hero", hero.clone()), ("attribute", attribute.clone())]
            }
            Error::NameConflict { name, realm, endpoint } => {
                vec![("name", name.clone()), ("realm", realm.clone()), ("endpoint", endpoint.clone())]
            }
            Error::LimitReached { limit, max, .. } => vec![("limit", limit.clone()), ("max", max.to_string())],
            Error::OperationNotFound { id } => vec![("id", id.clone())],
            Error::Panic { hero, method, .. } => vec![("hero", hero.clone()), ("method", method.clone())],
            Error::PermissionDenied { role, action } => vec![("role", role.clone()), ("action", action.clone())],
            Error::Rpc { code, .. } => vec![("code", (*code as i32).to_string())],
            _ => vec![],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The one mapping to gRPC: code, human message, and the `ErrorDetail` in the details trailer.
    pub fn to_status(&self) -> Status {
        let message = self.to_string();
        let detail = ErrorDetail {
            kind: self.kind().to_owned(),
            // Variants that wrap a free-text message carry it bare, so it reads back unchanged.
            message: match self {
                Error::Failed { message, .. }
                | Error::InvalidArgument { message }
                | Error::Unavailable { message }
                | Error::Timeout { message }
                | Error::Cancelled { message }
                | Error::Config { message }
                | Error::Unauthenticated { message }
                | Error::Handle { message, .. }
                | Error::LimitReached { message, .. }
                | Error::Panic { message, .. }
                | Error::Rpc { message, .. } => message.clone(),
                _ => message.clone(),
            },
            hero: String::new(),
            method: String::new(),
            context: self.context(),
        };
        let rpc_status = RpcStatus {
            code: self.code() as i32,
            message: message.clone(),
            details: vec![prost_types::Any {
                type_url: ERROR_DETAIL_TYPE_URL.to_owned(),
                value: detail.encode_to_vec(),
            }],
        };
        Status::with_details(self.code(), message, rpc_status.encode_to_vec().into())
    }

    /// The one mapping back: a status from a HEROS server becomes the variant it was made from;
    /// any other status becomes [`Error::Rpc`] (or [`Error::Unavailable`] / [`Error::Timeout`]).
    pub fn from_status(status: &Status) -> Self {
        if let Some(detail) = detail_of(status) {
            if let Some(error) = Self::from_detail(status.code(), &detail) {
                return error;
            }
        }
        let message = status.message().to_owned();
        match status.code() {
            Code::Unavailable => Error::Unavailable { message },
            // A connection cut under a call (the server process died) reaches tonic's client as
            // UNKNOWN "transport error" or CANCELLED "operation was canceled", depending on when
            // hyper noticed; the caller can do what it does for UNAVAILABLE.
            Code::Unknown if message.contains("transport error") => Error::Unavailable { message },
            // tonic's client reports a connection that failed before the call as UNKNOWN
            // "Service was not ready: ..." around our own UNAVAILABLE.
            Code::Unknown if message.starts_with("Service was not ready") => Error::Unavailable { message },
            Code::Cancelled if message.contains("operation was canceled") => Error::Unavailable { message },
            // tonic's server ends a call whose `grpc-timeout` passed with CANCELLED.
            Code::Cancelled if message.contains("Timeout expired") => Error::Timeout { message },
            Code::DeadlineExceeded => Error::Timeout { message },
            Code::InvalidArgument => Error::InvalidArgument { message },
            code => Error::Rpc { code, message },
        }
    }

    pub(crate) fn from_detail(code: Code, detail: &ErrorDetail) -> Option<Self> {
        let get = |key: &str| detail.context.get(key).cloned().unwrap_or_default();
        let names = |key: &str| split_list(detail.context.get(key).map(String::as_str).unwrap_or(""));
        // A server that does not list its HEROs sends no `known` at all.
        let known = || detail.context.get("known").map(|joined| split_list(joined));
        let message = detail.message.clone();
        Some(match detail.kind.as_str() {
            "HERO_NOT_FOUND" => Error::HeroNotFound { name: get("name"), realm: get("realm"), known: known() },
            "OPERATION_NOT_FOUND" => Error::OperationNotFound { id: get("id") },
            "CANCELLED" => Error::Cancelled { message },
            "DISCOVERY_TIMEOUT" => Error::DiscoveryTimeout {
                name: get("name"),
                realm: get("realm"),
                waited: Duration::from_millis(get("waited_ms").parse().unwrap_or(0)),
                known: names("known"),
            },
            "INTERFACE_NOT_IMPLEMENTED" => Error::InterfaceNotImplemented {
                hero: get("hero"),
                interface: get("interface"),
                implemented: names("implemented"),
            },
            "INTERFACE_NOT_SERVED" => Error::InterfaceNotServed { interface: get("interface"), known: known() },
            "METHOD_NOT_FOUND" => Error::MethodNotFound {
                hero: get("hero"),
                interface: get("interface"),
                method: get("method"),
                available: names("available"),
            },
            "AMBIGUOUS_HERO" => Error::AmbiguousHero { interface: get("interface"), candidates: names("candidates") },
            "REALM_MISMATCH" => Error::RealmMismatch {
                hero: get("hero"),
                hero_realm: get("hero_realm"),
                caller_realm: get("caller_realm"),
            },
            "READ_ONLY" => Error::ReadOnly { hero: get("hero"), attribute: get("attribute") },
            "NAME_CONFLICT" => {
                Error::NameConflict { name: get("name"), realm: get("realm"), endpoint: get("endpoint") }
            }
            "INVALID_ARGUMENT" => Error::InvalidArgument { message },
            "UNAVAILABLE" => Error::Unavailable { message },
            "TIMEOUT" => Error::Timeout { message },
            "CONFIG" => Error::Config { message },
            "LIMIT_REACHED" => {
                Error::LimitReached { limit: get("limit"), max: get("max").parse().unwrap_or(0), message }
            }
            "PANIC" => Error::Panic { hero: get("hero"), method: get("method"), message },
            "RPC" => Error::Rpc { code, message },
            "PERMISSION_DENIED" => Error::PermissionDenied { role: get("role"), action: get("action") },
            "UNAUTHENTICATED" => Error::Unauthenticated { message },
            "DIAL_REFUSED" => Error::DialRefused,
            "" => return None,
            kind if HandleProblem::from_kind(kind).is_some() => {
                Error::Handle { problem: HandleProblem::from_kind(kind)?, message }
            }
            kind => Error::Failed { kind: kind.to_owned(), message },
        })
    }
}

fn split_list(joined: &str) -> Vec<String> {
    joined.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The `heros.v1.ErrorDetail` inside a status, if the status came from a HEROS server.
pub fn detail_of(status: &Status) -> Option<ErrorDetail> {
    let rpc_status = RpcStatus::decode(status.details()).ok()?;
    rpc_status
        .details
        .iter()
        .find(|any| any.type_url == ERROR_DETAIL_TYPE_URL)
        .and_then(|any| ErrorDetail::decode(any.value.as_slice()).ok())
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        error.to_status()
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::from_status(&status)
    }
}

const ERROR_DETAIL_TYPE_URL: &str = "type.googleapis.com/heros.v1.ErrorDetail";

/// `google.rpc.Status`, declared here because protox ships no `google/rpc` files; the wire format is
/// the same, so grpcio's and grpc-js's rich-error helpers read it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(error: Error) {
        let status = error.to_status();
        assert_eq!(status.code(), error.code());
        assert_eq!(Error::from_status(&status), error, "status: {status:?}");
    }

    #[test]
    fn every_variant_survives_the_wire() {
        round_trip(Error::HeroNotFound {
            name: "a".into(),
            realm: "r".into(),
            known: Some(vec!["b".into(), "c".into()]),
        });
        round_trip(Error::HeroNotFound { name: "a".into(), realm: "r".into(), known: Some(vec![]) });
        round_trip(Error::HeroNotFound { name: "a".into(), realm: "r".into(), known: None });
        round_trip(Error::DiscoveryTimeout {
            name: "a".into(),
            realm: "r".into(),
            waited: Duration::from_millis(1500),
            known: vec![],
        });
        round_trip(Error::InterfaceNotImplemented {
            hero: "h".into(),
            interface: "x.Y".into(),
            implemented: vec!["x.Z".into()],
        });
        round_trip(Error::MethodNotFound {
            hero: "h".into(),
            interface: "x.Y".into(),
            method: "Nope".into(),
            available: vec!["A".into(), "B".into()],
        });
        round_trip(Error::InterfaceNotServed { interface: "x.Y".into(), known: Some(vec!["h".into()]) });
        round_trip(Error::InterfaceNotServed { interface: "x.Y".into(), known: None });
        round_trip(Error::AmbiguousHero { interface: "x.Y".into(), candidates: vec!["a".into(), "b".into()] });
        round_trip(Error::RealmMismatch { hero: "h".into(), hero_realm: "a".into(), caller_realm: "b".into() });
        round_trip(Error::ReadOnly { hero: "h".into(), attribute: "firmware".into() });
        round_trip(Error::PermissionDenied { role: "operate".into(), action: "calling x.Y/Z".into() });
        round_trip(Error::Unauthenticated { message: "no certificate".into() });
        round_trip(Error::DialRefused);
        round_trip(Error::NameConflict { name: "h".into(), realm: "r".into(), endpoint: "http://1.2.3.4:5".into() });
        round_trip(Error::invalid_argument("min > max"));
        round_trip(Error::unavailable("connection refused"));
        round_trip(Error::Timeout { message: "2s".into() });
        round_trip(Error::failed("Overheated", "95 C is above 80 C"));
        round_trip(Error::Rpc { code: Code::DataLoss, message: "gone".into() });
        round_trip(Error::limit_reached("HEROS_MAX_HANDLES_PER_SESSION", 3, "this session holds 3 handles"));
        round_trip(Error::Panic { hero: "h".into(), method: "x.Y/Z".into(), message: "index out of bounds".into() });
        for problem in HandleProblem::ALL {
            round_trip(Error::handle(problem, format!("{problem:?} handle")));
        }
    }

    #[test]
    fn a_plain_status_becomes_a_plain_error() {
        let error = Error::from_status(&Status::unavailable("tcp connect error"));
        assert_eq!(error, Error::Unavailable { message: "tcp connect error".into() });
        assert!(error.is_transient());
        assert!(Error::from_status(&Status::unknown("transport error")).is_transient());
        assert!(Error::from_status(&Status::unknown("Service was not ready: connection lost")).is_transient());
        assert!(Error::from_status(&Status::cancelled("operation was canceled")).is_transient());
        assert!(matches!(Error::from_status(&Status::cancelled("Timeout expired")), Error::Timeout { .. }));
        let error = Error::from_status(&Status::aborted("x"));
        assert_eq!(error, Error::Rpc { code: Code::Aborted, message: "x".into() });
    }

    #[test]
    fn application_errors_keep_kind_and_message() {
        let status = Error::failed("Overheated", "95 C").to_status();
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.message(), "Overheated: 95 C");
        let detail = detail_of(&status).expect("detail");
        assert_eq!(detail.kind, "Overheated");
        assert_eq!(detail.message, "95 C");
    }
}
