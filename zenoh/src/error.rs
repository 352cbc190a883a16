//! The crate's one error type, and how an error of a Rust HERO becomes the error payload Python
//! HEROS raises from (`serdes.py`: tag 9005 around `{"__heros_error__": true, "type": ...}`).

/// What went wrong on either side of the zenoh face.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// zenoh itself failed (opening the session, declaring a key, a query that could not be sent).
    #[error("zenoh: {0}")]
    Zenoh(String),
    /// No HERO of that name answered `_discover` in the realm within the time given.
    #[error("no HERO '{name}' in realm '{realm}' answered within {waited_ms} ms")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The realm it was asked in.
        realm: String,
        /// How long discovery waited.
        waited_ms: u128,
    },
    /// The HERO has no member of that name (or not of that kind).
    #[error("HERO '{hero}' has no {kind} '{member}' (it has: {available})")]
    NoSuchMember {
        /// The HERO.
        hero: String,
        /// `method`, `attribute` or `event`.
        kind: &'static str,
        /// The name asked for.
        member: String,
        /// The members of that kind it does have, comma-separated.
        available: String,
    },
    /// The remote HERO raised an exception (a Python HERO) or returned an error (a Rust HERO):
    /// `type` is the exception's class name (`ValueError`) or the Rust error's kind.
    #[error("{remote_type}: {message}")]
    Remote {
        /// The class name of the remote exception, e.g. `ValueError`, or a HEROS error kind.
        remote_type: String,
        /// Its message.
        message: String,
        /// The remote traceback, when the remote sent one.
        traceback: Option<String>,
    },
    /// A value that cannot be mapped between CBOR and the protobuf message it is meant for (or
    /// JSON): the message says which field and why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Something HEROS for Rust and Python HEROS both have, but that does not mean the same on
    /// both sides (handles into another process's session, ...): refused rather than guessed.
    #[error("not supported over zenoh: {0}")]
    Unsupported(String),
    /// A peer sent bytes that are not what the HEROS protocol says (bad CBOR, a `_discover`
    /// answer without a name, ...).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The HERO's own gRPC server refused the call (the HEROS for Rust error, as it arrived).
    #[error(transparent)]
    Hero(#[from] heros_runtime::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a typed stub (`RemoteHero::typed`) sees a failure on zenoh: as the HEROS for Rust error
/// that says the same to its caller.
impl From<Error> for heros_runtime::Error {
    fn from(error: Error) -> Self {
        let rpc = |code, error: &Error| heros_runtime::Error::Rpc { code, message: error.to_string() };
        match error {
            Error::Hero(error) => error,
            Error::Remote { remote_type, message, .. } => heros_runtime::Error::failed(remote_type, message),
            Error::InvalidArgument(message) => heros_runtime::Error::invalid_argument(message),
            Error::Zenoh(_) | Error::NotFound { .. } => {
                heros_runtime::Error::Unavailable { message: error.to_string() }
            }
            Error::NoSuchMember { .. } | Error::Unsupported(_) => rpc(tonic::Code::Unimplemented, &error),
            Error::Protocol(_) => rpc(tonic::Code::Internal, &error),
        }
    }
}

impl Error {
    pub(crate) fn zenoh(error: impl std::fmt::Display) -> Self {
        Error::Zenoh(error.to_string())
    }

    /// The Python exception class this error is raised as on the Python side: builtins where
    /// Python HEROS would raise one for the same fault (a read-only attribute is an
    /// `AttributeError`, a bad argument a `TypeError` or `ValueError`), else the HEROS kind
    /// (`HERO_NOT_FOUND`) or the application's own kind, which Python raises as a plain
    /// `RemoteHEROError` carrying that `remote_type`.
    pub(crate) fn python_type(&self) -> String {
        match self {
            Error::NoSuchMember { .. } => "AttributeError".into(),
            Error::InvalidArgument(_) => "TypeError".into(),
            Error::Unsupported(_) => "NotImplementedError".into(),
            Error::Remote { remote_type, .. } => remote_type.clone(),
            Error::Hero(error) => match error.kind() {
                "READ_ONLY" => "AttributeError".into(),
                "INVALID_ARGUMENT" => "ValueError".into(),
                "TIMEOUT" => "TimeoutError".into(),
                "UNAVAILABLE" => "ConnectionError".into(),
                "PERMISSION_DENIED" => "PermissionError".into(),
                kind => kind.to_owned(),
            },
            Error::NotFound { .. } => "NameError".into(),
            Error::Zenoh(_) | Error::Protocol(_) => "RuntimeError".into(),
        }
    }

    /// The message Python shows: for an application error, without the `<kind>: ` the gRPC
    /// status message starts with (Python prints the type in front already).
    pub(crate) fn python_message(&self) -> String {
        match self {
            Error::Remote { message, .. } => message.clone(),
            Error::Hero(error) => {
                let text = error.to_string();
                let kind = error.kind();
                text.strip_prefix(&format!("{kind}: ")).map(str::to_owned).unwrap_or(text)
            }
            other => other.to_string(),
        }
    }
}
