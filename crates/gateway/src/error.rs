//! The HTTP API's one error type. Every 4xx/5xx reply has the contract's body
//! `{"error":{"code","message"}}` with the code's status. Server faults are
//! logged in full here and answered with a generic message.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use liveshop_actors::ActorError;
use liveshop_domain::Rejection;
use liveshop_protocol::{ErrorBody, ErrorCode};
use liveshop_store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or out of range; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (missing, tampered or expired token, wrong
    /// password, reused refresh token).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The route exists but not with this method. Sent as 405 with the
    /// `bad_request` code (the contract has no code of its own for it).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A domain refusal (lot terms, lot state).
    #[error(transparent)]
    Rejected(Rejection),
    /// A dependency did not answer; the detail is logged, not sent.
    #[error("service unavailable; retry later")]
    Unavailable(String),
    /// A bug or an unexpected failure; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadRequest(_) | Error::MethodNotAllowed => ErrorCode::BadRequest,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::RateLimited => ErrorCode::RateLimited,
            Error::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Error::Rejected(r) => r.code(),
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        if let Error::MethodNotAllowed = self {
            return StatusCode::METHOD_NOT_ALLOWED;
        }
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Internal(detail) => tracing::error!(%detail, "internal error"),
            Error::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            _ => {}
        }
        let body = ErrorBody::new(self.code(), self.to_string());
        (self.status(), axum::Json(body)).into_response()
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) | StoreError::Timeout(m) | StoreError::Overloaded(m) => {
                Error::Unavailable(format!("store: {m}"))
            }
            other => Error::Internal(format!("store: {other}")),
        }
    }
}

impl From<ActorError> for Error {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::NotFound => Error::NotFound("not found".into()),
            other => Error::Unavailable(format!("actors: {other}")),
        }
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            _ => Error::BadRequest(r.body_text()),
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest(r.body_text())
    }
}

impl From<PathRejection> for Error {
    fn from(r: PathRejection) -> Self {
        Error::BadRequest(r.body_text())
    }
}

/// Runs `fut` with the request timeout: past it the answer is `unavailable`.
pub async fn timed<T>(
    limit: std::time::Duration,
    what: &'static str,
    fut: impl Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Unavailable(format!("{what} timed out")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_codes() {
        assert_eq!(
            Error::BadRequest("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(Error::Conflict("x").status(), StatusCode::CONFLICT);
        assert_eq!(
            Error::MethodNotAllowed.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            Error::Rejected(Rejection::BadRequest("terms".into())).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Error::from(ActorError::ShuttingDown).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn server_faults_are_answered_generically() {
        let e = Error::Internal("disk on fire at /var/secret".into());
        assert_eq!(e.to_string(), "internal error");
        let e = Error::from(StoreError::Unavailable("10.0.0.3 down".into()));
        assert!(!e.to_string().contains("10.0.0.3"));
    }
}
