//! Payloads pushed by a node: the `join` snapshot, room events and personal
//! notices.

use serde::{Deserialize, Serialize};

use crate::ids::{HoldId, LotId, OrderId, UserId};
use crate::lot::LotView;
use crate::money::Amount;
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
/// The `lot` event is `{"kind":"lot","lot":"<lot id>","state":{...}}` where
/// `state` is a [`LotView`], exactly as `GET /lots/{lot}` returns it. It is
/// not flattened because `LotView` has its own `kind` (`auction`/`sale`),
/// which would collide with the event tag; nesting keeps every field name of
/// the contract's lot state unchanged. `lot` repeats `state.lot` so that every
/// lot-related event has the lot id at the same place; build it with
/// [`RoomEvent::lot_state`] so the two always agree.
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
    Lot {
        lot: LotId,
        state: Box<LotView>,
    },
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
        RoomEvent::Lot {
            lot: state.lot.clone(),
            state: Box::new(state),
        }
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
}
