//! Why a command was refused.

use liveshop_protocol::Amount;

/// A command the lot or room refused. Unless a variant says otherwise the
/// state is unchanged and no event was produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The request itself is invalid (quantity 0, bad text, bad lot terms).
    #[error("{0}")]
    BadRequest(String),
    /// Only the room's host may do this.
    #[error("only the host may do this")]
    Forbidden,
    /// The lot is not open (draft, ended or closed).
    #[error("lot is not open")]
    LotNotOpen,
    /// The bid does not beat the current price. When a proxy bid of the
    /// leader had to be revealed to beat it, that bid event *was* produced.
    #[error("bid too low; the minimum is {min_amount}")]
    BidTooLow { min_amount: Amount },
    /// No units are available and none can come back.
    #[error("sold out")]
    SoldOut,
    /// The buyer's holds, purchases and queued units would exceed the lot's
    /// per-user limit.
    #[error("per-user limit exceeded")]
    LimitExceeded,
    /// The hold ran out before checkout.
    #[error("hold expired")]
    HoldExpired,
    /// No such hold (or not the caller's).
    #[error("not found")]
    NotFound,
    /// The user has already entered this raffle.
    #[error("already entered")]
    AlreadyEntered,
    /// The command does not fit the lot's kind or status (e.g. a bid on a
    /// sale lot, opening a lot twice).
    #[error("{0}")]
    BadState(&'static str),
}

impl Rejection {
    /// The wire error code.
    pub fn code(&self) -> liveshop_protocol::ErrorCode {
        use liveshop_protocol::ErrorCode as C;
        match self {
            Rejection::BadRequest(_) => C::BadRequest,
            Rejection::Forbidden => C::Forbidden,
            Rejection::LotNotOpen => C::LotNotOpen,
            Rejection::BidTooLow { .. } => C::BidTooLow,
            Rejection::SoldOut => C::SoldOut,
            Rejection::LimitExceeded => C::LimitExceeded,
            Rejection::HoldExpired => C::HoldExpired,
            Rejection::NotFound => C::NotFound,
            Rejection::AlreadyEntered => C::AlreadyEntered,
            Rejection::BadState(_) => C::BadState,
        }
    }
}
