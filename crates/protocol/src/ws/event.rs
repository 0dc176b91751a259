//! Payloads pushed by a node: the `join` snapshot, room events and personal
//! notices.

use serde::{Deserialize, Serialize};

use crate::ids::{HoldId, LotId, OrderId, RoomId, UserId};
use crate::lot::{Allocation, LotKind, LotStatus, LotView};
use crate::money::{Amount, Currency};
use crate::order::OrderStatus;
use crate::room::RoomView;

use super::is_false;

/// The state of a room at `seq`: the `join` reply. Events with a greater
/// `seq` follow without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub room: RoomView,
    pub lots: Vec<LotView>,
    pub seq: u64,
    /// The `since` asked for could not be replayed: discard local state and
    /// start again from this snapshot.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reset: bool,
}

/// Something that happened in a room, seen by everyone watching it, in `seq`
/// order. Tagged by `"kind"`.
///
/// The `lot` event carries the lot state's fields flat, as the contract's
/// table lists them (`{"kind":"lot","lot":"L1","room":..,"status":..}`), with
/// one exception: the lot's own `kind` (`auction`/`sale`) would collide with
/// the event tag, so the event names it `lot_kind`. `GET /lots/{lot}` returns
/// the same state with `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    Chat {
        user: UserId,
        /// The sender's display name, so clients need no user lookup.
        name: String,
        text: String,
        at_ms: u64,
    },
    /// Likes since the previous `hearts` event.
    Hearts {
        count: u64,
    },
    Viewers {
        count: u64,
    },
    /// The host started (`true`) or stopped streaming.
    Live {
        on: bool,
    },
    Pinned {
        lot: LotId,
    },
    /// The full state of one lot after a change (open, close, settle...).
    #[serde(with = "lot_event")]
    Lot(Box<LotView>),
    /// An accepted bid. Never coalesced.
    Bid {
        lot: LotId,
        amount: Amount,
        bidder: UserId,
        /// Orders all accepted bids of the lot.
        lot_seq: u64,
        /// The auction's end, possibly pushed back by this bid.
        ends_ms: u64,
    },
    /// Latest available units; may be coalesced.
    Stock {
        lot: LotId,
        available: u32,
    },
    LotClosed {
        lot: LotId,
        winners: Vec<Winner>,
    },
}

impl RoomEvent {
    /// The `lot` event for `state`.
    pub fn lot_state(state: LotView) -> Self {
        RoomEvent::Lot(Box::new(state))
    }
}

/// The lot state as the `lot` event sends it: `LotView` with `kind` renamed
/// `lot_kind`. A serde remote definition, so the compiler checks that the
/// fields are exactly those of [`LotView`].
#[derive(Serialize, Deserialize)]
#[serde(remote = "LotView")]
struct LotEventFields {
    lot: LotId,
    room: RoomId,
    #[serde(rename = "lot_kind")]
    kind: LotKind,
    status: LotStatus,
    title: String,
    currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opens_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ends_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    high_bid: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    high_bidder: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_bid: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stock: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    available: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_user_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allocation: Option<Allocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
}

mod lot_event {
    use serde::{Deserializer, Serializer};

    use super::{LotEventFields, LotView};

    #[allow(clippy::borrowed_box)] // serde hands `with` functions `&Field`
    pub fn serialize<S: Serializer>(view: &Box<LotView>, s: S) -> Result<S::Ok, S::Error> {
        LotEventFields::serialize(view, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<LotView>, D::Error> {
        LotEventFields::deserialize(d).map(Box::new)
    }
}

/// A winner of a closed lot: the auction's high bidder (`qty` 1) or a raffle
/// winner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    pub user: UserId,
    /// The total the winner pays for `qty` units.
    pub amount: Amount,
    pub qty: u32,
}

/// A message for one user only, sent on each of their connections. Tagged by
/// `"kind"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Someone bid more than you; `amount` is the new high bid.
    Outbid {
        lot: LotId,
        amount: Amount,
    },
    HoldExpiring {
        hold: HoldId,
        expires_ms: u64,
    },
    HoldExpired {
        hold: HoldId,
    },
    /// A queued buyer got released units: a hold now exists for them.
    QueueOffer {
        lot: LotId,
        hold: HoldId,
        expires_ms: u64,
    },
    Won {
        lot: LotId,
        order: OrderId,
        amount: Amount,
    },
    Order {
        order: OrderId,
        status: OrderStatus,
    },
    /// This connection fell behind and missed messages; a fresh snapshot
    /// (with `reset`) follows for each joined room, or the node disconnects.
    Lagged,
    /// You were queued for units of `lot`, and the queue ended without one
    /// for you: nothing can come back any more, or the lot closed.
    QueueEnded {
        lot: LotId,
        reason: QueueEndReason,
    },
    /// The host banned you from `room`: this connection no longer receives
    /// the room's events (it was joined to it), and may not join it again.
    Banned {
        room: RoomId,
    },
}

/// Why a lot's queue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueEndReason {
    /// Every unit is sold; none is held that could return.
    SoldOut,
    Closed,
}
