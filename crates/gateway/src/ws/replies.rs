//! Turning outcomes into the contract's replies: a lot's answer into the
//! `ok` fields, refusals (domain rejections, actor errors, gateway checks)
//! into `error` replies.

use std::borrow::Cow;

use liveshop_actors::ActorError;
use liveshop_domain::{LotReply, Rejection};
use liveshop_protocol::{ErrorCode, ErrorReply, Reply, RequestId, ServerMessage};

/// Why a request gets an `error` reply.
#[derive(Debug)]
pub enum Refusal {
    Code(ErrorCode, Cow<'static, str>),
    Rejected(Rejection),
}

impl Refusal {
    pub fn new(code: ErrorCode, msg: impl Into<Cow<'static, str>>) -> Self {
        Refusal::Code(code, msg.into())
    }

    pub fn not_found(what: &'static str) -> Self {
        Refusal::new(ErrorCode::NotFound, what)
    }

    /// The same refusal, with `msg` instead of the domain's generic text
    /// when it is the domain's `forbidden` (whose meaning the caller knows).
    pub fn forbidden_as(self, msg: &'static str) -> Self {
        match self {
            Refusal::Rejected(Rejection::Forbidden) => Refusal::new(ErrorCode::Forbidden, msg),
            other => other,
        }
    }

    pub fn into_message(self, rid: Option<RequestId>) -> ServerMessage {
        match self {
            Refusal::Rejected(Rejection::BidTooLow { min_amount }) => {
                ServerMessage::Error(ErrorReply::bid_too_low(rid, min_amount))
            }
            Refusal::Rejected(r) => ServerMessage::error(rid, r.code(), r.to_string()),
            Refusal::Code(code, msg) => ServerMessage::error(rid, code, msg),
        }
    }
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Self {
        Refusal::Rejected(r)
    }
}

impl From<ActorError> for Refusal {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::NotFound => Refusal::not_found("not found"),
            other => {
                tracing::warn!("actors: {other}");
                Refusal::new(ErrorCode::Unavailable, "service unavailable; retry later")
            }
        }
    }
}

/// The contract's `ok` fields for a lot's answer.
pub fn lot_reply(rid: Option<RequestId>, reply: LotReply) -> Reply {
    let base = Reply::empty(rid);
    match reply {
        LotReply::Opened { opens_ms, ends_ms } => Reply {
            opens_ms: Some(opens_ms),
            ends_ms,
            ..base
        },
        LotReply::Closed | LotReply::Released | LotReply::Ticked => base,
        LotReply::Bid { lot_seq, amount } => Reply {
            lot_seq: Some(lot_seq),
            amount: Some(amount),
            ..base
        },
        LotReply::MaxBid { current } => Reply {
            current: Some(current),
            ..base
        },
        LotReply::Held {
            hold,
            qty,
            expires_ms,
        } => Reply {
            hold: Some(hold),
            qty: Some(qty),
            expires_ms: Some(expires_ms),
            ..base
        },
        LotReply::Queued { position } => Reply {
            queued: true,
            position: Some(position),
            ..base
        },
        LotReply::Order { order, amount } => Reply {
            order: Some(order),
            amount: Some(amount),
            ..base
        },
        LotReply::Entered { entry } => Reply {
            entry: Some(entry),
            ..base
        },
    }
}

#[cfg(test)]
mod tests {
    use liveshop_protocol::{EntryId, HoldId, LotId, OrderId};

    use super::*;

    #[test]
    fn lot_replies_fill_the_contract_fields() {
        let lot = LotId::new("L1").unwrap();
        let rid = Some(RequestId::new("r").unwrap());
        let r = lot_reply(
            rid.clone(),
            LotReply::Bid {
                lot_seq: 3,
                amount: 1200,
            },
        );
        assert_eq!(
            (r.lot_seq, r.amount, r.rid.clone()),
            (Some(3), Some(1200), rid.clone())
        );
        let r = lot_reply(None, LotReply::Queued { position: 4 });
        assert!(r.queued);
        assert_eq!((r.position, r.hold.clone()), (Some(4), None));
        let hold = HoldId::for_lot(&lot, 1);
        let r = lot_reply(
            None,
            LotReply::Held {
                hold: hold.clone(),
                qty: 2,
                expires_ms: 9,
            },
        );
        assert_eq!(
            (r.hold, r.qty, r.expires_ms),
            (Some(hold), Some(2), Some(9))
        );
        let order = OrderId::for_lot(&lot, 1);
        let r = lot_reply(
            None,
            LotReply::Order {
                order: order.clone(),
                amount: 5,
            },
        );
        assert_eq!((r.order, r.amount), (Some(order), Some(5)));
        let entry = EntryId::for_lot(&lot, 1);
        assert_eq!(
            lot_reply(
                None,
                LotReply::Entered {
                    entry: entry.clone()
                }
            )
            .entry,
            Some(entry)
        );
        let r = lot_reply(
            None,
            LotReply::Opened {
                opens_ms: 1,
                ends_ms: None,
            },
        );
        assert_eq!((r.opens_ms, r.ends_ms), (Some(1), None));
        assert_eq!(
            lot_reply(None, LotReply::MaxBid { current: 7 }).current,
            Some(7)
        );
        assert_eq!(lot_reply(None, LotReply::Closed), Reply::empty(None));
    }

    #[test]
    fn refusals_carry_codes_and_min_amount() {
        let rid = Some(RequestId::new("r").unwrap());
        match Refusal::from(Rejection::BidTooLow { min_amount: 1500 }).into_message(rid.clone()) {
            ServerMessage::Error(e) => {
                assert_eq!(e.code, ErrorCode::BidTooLow);
                assert_eq!(e.min_amount, Some(1500));
                assert_eq!(e.rid, rid);
            }
            other => panic!("{other:?}"),
        }
        match Refusal::from(ActorError::Unavailable("disk".into())).into_message(None) {
            ServerMessage::Error(e) => {
                assert_eq!(e.code, ErrorCode::Unavailable);
                assert!(!e.message.contains("disk"));
            }
            other => panic!("{other:?}"),
        }
        match Refusal::from(Rejection::Forbidden).into_message(None) {
            ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::Forbidden),
            other => panic!("{other:?}"),
        }
    }
}
