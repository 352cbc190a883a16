//! Errors that came from a server: the gRPC status code, and the `heros.v1.ErrorDetail` a HEROS
//! server attaches (its kind and message), as one error the tool prints or reports as JSON.

use std::fmt;

use tonic::{Code, Status};

/// A call that a server (or the connection to it) refused.
#[derive(Debug, Clone)]
pub(crate) struct RemoteError {
    pub(crate) code: Code,
    /// `ErrorDetail.kind`, when the server sent one (every HEROS server does).
    pub(crate) kind: Option<String>,
    pub(crate) message: String,
}

impl RemoteError {
    pub(crate) fn from_status(status: &Status) -> Self {
        let detail = heros_runtime::detail_of(status);
        RemoteError {
            code: status.code(),
            kind: detail.map(|detail| detail.kind).filter(|kind| !kind.is_empty()),
            message: status.message().to_owned(),
        }
    }

    /// For `--json`: `{"code": "NOT_FOUND", "kind": "HERO_NOT_FOUND", "message": "..."}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": code_name(self.code), "kind": self.kind, "message": self.message })
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // An application's failure reads `<kind>: <message>` already: say the kind once.
            Some(kind) => {
                let message = self.message.strip_prefix(&format!("{kind}: ")).unwrap_or(&self.message);
                write!(f, "{} ({kind}): {message}", code_name(self.code))
            }
            None => write!(f, "{}: {}", code_name(self.code), self.message),
        }
    }
}

impl std::error::Error for RemoteError {}

/// The status code as the gRPC specification spells it, e.g. `PERMISSION_DENIED`.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heros_status_shows_code_kind_and_message() {
        let status = heros_runtime::Error::ReadOnly { hero: "h".into(), attribute: "firmware".into() }.to_status();
        let error = RemoteError::from_status(&status);
        assert_eq!(error.kind.as_deref(), Some("READ_ONLY"));
        let text = error.to_string();
        assert!(text.starts_with("PERMISSION_DENIED (READ_ONLY): "), "{text}");
        assert!(text.contains("firmware"), "{text}");
    }

    #[test]
    fn an_application_kind_is_said_once() {
        let status = heros_runtime::Error::failed("BadRange", "min 9 is above max 1").to_status();
        assert_eq!(RemoteError::from_status(&status).to_string(), "UNKNOWN (BadRange): min 9 is above max 1");
    }

    #[test]
    fn a_plain_status_shows_code_and_message() {
        let error = RemoteError::from_status(&Status::unavailable("gone"));
        assert_eq!(error.to_string(), "UNAVAILABLE: gone");
        assert_eq!(error.to_json()["kind"], serde_json::Value::Null);
    }
}
