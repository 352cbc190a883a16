//! Errors of the monitor's API as HTTP: a status that says whose fault it is (4xx: the request,
//! 5xx: the HERO or the way to it) and a JSON body the page shows as it is,
//! `{"error": {"message", "code", "kind"}}`, with the gRPC code and the `ErrorDetail` kind when
//! a HERO refused.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::Code;

use crate::remote::{code_name, RemoteError};

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) remote: Option<RemoteError>,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), remote: None }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    /// A HERO that cannot be connected to or described.
    pub(crate) fn unreachable(error: anyhow::Error) -> Self {
        Failure::new(StatusCode::BAD_GATEWAY, format!("{error:#}"))
    }

    /// A call that failed: the HERO's own refusal keeps its code and kind; anything else (no
    /// answer, no connection) is the way to the HERO failing.
    pub(crate) fn of_call(error: anyhow::Error) -> Self {
        let remote = error.chain().find_map(|cause| cause.downcast_ref::<RemoteError>()).cloned();
        let status = match remote.as_ref().map(|remote| remote.code) {
            Some(Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition) => StatusCode::BAD_REQUEST,
            Some(Code::NotFound) => StatusCode::NOT_FOUND,
            Some(Code::PermissionDenied) => StatusCode::FORBIDDEN,
            // Not 401: that status asks the browser for a password, which would not help.
            Some(Code::Unauthenticated) => StatusCode::FORBIDDEN,
            Some(Code::Unimplemented) => StatusCode::NOT_IMPLEMENTED,
            Some(Code::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Some(Code::DeadlineExceeded) => StatusCode::GATEWAY_TIMEOUT,
            // The HERO's method failed with a kind of its own (`Error::failed`): it answered,
            // and refused this request.
            Some(Code::Unknown) if remote.as_ref().is_some_and(|remote| remote.kind.is_some()) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        Failure { status, message: format!("{error:#}"), remote }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let remote = self.remote.as_ref();
        let body = json!({ "error": {
            "message": self.message,
            "code": remote.map(|remote| code_name(remote.code)),
            "kind": remote.and_then(|remote| remote.kind.clone()),
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heros_refusal_keeps_its_code_and_kind() {
        let status = heros_runtime::Error::ReadOnly { hero: "h".into(), attribute: "firmware".into() }.to_status();
        let failure = Failure::of_call(anyhow::Error::new(RemoteError::from_status(&status)));
        assert_eq!(failure.status, StatusCode::FORBIDDEN);
        assert_eq!(failure.remote.unwrap().kind.as_deref(), Some("READ_ONLY"));
        let failed = heros_runtime::Error::failed("BadRange", "min 9 is above max 1").to_status();
        let failure = Failure::of_call(anyhow::Error::new(RemoteError::from_status(&failed)));
        assert_eq!(failure.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(failure.message.contains("BadRange"), "{}", failure.message);
    }

    #[test]
    fn a_local_failure_is_the_way_to_the_hero() {
        let failure = Failure::of_call(anyhow::anyhow!("h did not answer within 10s"));
        assert_eq!((failure.status, failure.remote.is_none()), (StatusCode::BAD_GATEWAY, true));
    }
}
