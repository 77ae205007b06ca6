//! Errors as the API answers them: `{"error": "...", "code": N}` with HTTP status N.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rvs_core::OpError;

/// An error response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong (for table errors: ipvsadm's text).
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed; nothing was changed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 401: no credentials, or not `Bearer TOKEN`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: credentials given, but not the right ones (or writes are disabled).
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<OpError> for ApiError {
    /// The table refused a command: 404 when what it names does not exist, 409 otherwise
    /// (exists already, invalid for this table); the message is ipvsadm's text.
    fn from(e: OpError) -> Self {
        let status = match e {
            OpError::NoSuchService
            | OpError::ServiceNotDefined
            | OpError::NoSuchDest
            | OpError::NoSuchFwmarkRule => StatusCode::NOT_FOUND,
            OpError::SchedulerNotFound
            | OpError::OutOfRange
            | OpError::Invalid
            | OpError::ZeroPort
            | OpError::OnePacketNotUdp
            | OpError::AfMismatch
            | OpError::ServiceExists
            | OpError::DestExists
            | OpError::FwmarkRuleExists => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.message,
            "code": self.status.as_u16(),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rvsd\""),
            );
        }
        resp
    }
}
