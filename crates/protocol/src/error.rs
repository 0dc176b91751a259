//! Error codes shared by WebSocket `error` replies and HTTP error bodies.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a request was refused. Snake case on the wire; clients branch on it, so
/// a code never changes meaning once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or unknown message, or a field out of range.
    BadRequest,
    /// No valid token, or the action needs one.
    Unauthorized,
    /// Authenticated but not allowed (e.g. not the room's host).
    Forbidden,
    NotFound,
    RateLimited,
    LotNotOpen,
    /// The `error` reply carries `min_amount`.
    BidTooLow,
    SoldOut,
    LimitExceeded,
    HoldExpired,
    AlreadyEntered,
    /// The lot or room is not in a state that allows the action.
    BadState,
    /// Something that must be unique already exists (e.g. a username).
    Conflict,
    PayloadTooLarge,
    /// A bug or an unexpected failure on the server.
    Internal,
    /// A dependency (store, cache, another node) cannot be reached; retry later.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::LotNotOpen,
        ErrorCode::BidTooLow,
        ErrorCode::SoldOut,
        ErrorCode::LimitExceeded,
        ErrorCode::HoldExpired,
        ErrorCode::AlreadyEntered,
        ErrorCode::BadState,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The wire name, also usable as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LotNotOpen => "lot_not_open",
            ErrorCode::BidTooLow => "bid_too_low",
            ErrorCode::SoldOut => "sold_out",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::HoldExpired => "hold_expired",
            ErrorCode::AlreadyEntered => "already_entered",
            ErrorCode::BadState => "bad_state",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status for this code. Refusals that depend on a lot's current
    /// state are 409 (retrying the same request later may succeed); an
    /// expired hold is 410 because it never comes back.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::LotNotOpen
            | ErrorCode::BidTooLow
            | ErrorCode::SoldOut
            | ErrorCode::LimitExceeded
            | ErrorCode::AlreadyEntered
            | ErrorCode::BadState
            | ErrorCode::Conflict => 409,
            ErrorCode::HoldExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// Server trouble rather than a problem with the request.
    pub fn is_server_error(self) -> bool {
        self.http_status() >= 500
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every HTTP 4xx/5xx reply: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    /// For people; clients branch on `code`, never on this.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorInfo {
                code,
                message: message.into(),
            },
        }
    }

    /// The HTTP status to send with this body.
    pub fn status(&self) -> u16 {
        self.error.code.http_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn statuses_are_client_or_server_errors() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        assert_eq!(ErrorCode::BadRequest.http_status(), 400);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert!(ErrorCode::Unavailable.is_server_error());
        assert!(!ErrorCode::SoldOut.is_server_error());
    }

    #[test]
    fn error_body_has_the_contract_shape() {
        let body = ErrorBody::new(ErrorCode::NotFound, "no such room");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"not_found","message":"no such room"}}"#
        );
        assert_eq!(body.status(), 404);
    }
}
