//! Node → client messages.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::ids::{EntryId, HoldId, OrderId, RequestId, RoomId, UserId};
use crate::money::Amount;

use super::event::{Notice, RoomEvent, Snapshot};
use super::is_false;

/// One message from a node. Several may share a frame (see [`crate::Codec`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Ok(Reply),
    Error(ErrorReply),
    Event(EventEnvelope),
    Notice(NoticeEnvelope),
}

impl ServerMessage {
    pub fn ok(reply: Reply) -> Self {
        ServerMessage::Ok(reply)
    }

    pub fn error(rid: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error(ErrorReply::new(rid, code, message))
    }

    pub fn event(room: RoomId, seq: u64, event: RoomEvent) -> Self {
        ServerMessage::Event(EventEnvelope { room, seq, event })
    }

    pub fn notice(notice: Notice) -> Self {
        ServerMessage::Notice(NoticeEnvelope { notice })
    }

    /// The wire `"type"`, for metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ServerMessage::Ok(_) => "ok",
            ServerMessage::Error(_) => "error",
            ServerMessage::Event(_) => "event",
            ServerMessage::Notice(_) => "notice",
        }
    }
}

/// The `ok` reply to any request. One struct for all requests, every field
/// optional and absent when `None`, so a client can decode a reply without
/// remembering what it asked. Build with struct update syntax:
/// `Reply { lot_seq: Some(3), amount: Some(1200), ..Reply::empty(rid) }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<RequestId>,
    /// `auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// `join`. Boxed: most replies carry none and the box keeps them small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Box<Snapshot>>,
    /// `bid`: the accepted bid's place in the lot's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_seq: Option<u64>,
    /// `bid`: the accepted amount; `checkout`: the order total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// `max_bid`: the high bid after proxy bidding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Amount>,
    /// `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldId>,
    /// `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<u32>,
    /// `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// `hold` on a sold-out fifo lot: queued instead of holding; see `position`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub queued: bool,
    /// Place in the queue when `queued`, 1 = next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// `checkout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderId>,
    /// `enter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryId>,
    /// `open_lot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_ms: Option<u64>,
    /// `open_lot` on a lot with a deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_ms: Option<u64>,
}

impl Reply {
    /// An `ok` with no fields but the `rid`: the reply to leave, chat, like,
    /// release, pin, close_lot and ping.
    pub fn empty(rid: Option<RequestId>) -> Self {
        Self {
            rid,
            ..Self::default()
        }
    }

    /// The `join` reply.
    pub fn snapshot(rid: Option<RequestId>, snapshot: Snapshot) -> Self {
        Self {
            snapshot: Some(Box::new(snapshot)),
            ..Self::empty(rid)
        }
    }
}

/// The `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Absent when the request had none, or it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
    /// `bid_too_low`: the lowest bid that would have been accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<Amount>,
}

impl ErrorReply {
    pub fn new(rid: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            rid,
            code,
            message: message.into(),
            min_amount: None,
        }
    }

    /// A `bid_too_low` error that tells the bidder what would do.
    pub fn bid_too_low(rid: Option<RequestId>, min_amount: Amount) -> Self {
        Self {
            min_amount: Some(min_amount),
            ..Self::new(
                rid,
                ErrorCode::BidTooLow,
                format!("bid must be at least {min_amount}"),
            )
        }
    }
}

/// `{"type":"event","room","seq","event"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub room: RoomId,
    /// Per room, from 1, without gaps.
    pub seq: u64,
    pub event: RoomEvent,
}

/// `{"type":"notice","notice"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeEnvelope {
    pub notice: Notice,
}
