//! Client → node messages.

use serde::{Deserialize, Serialize};

use crate::ids::{HoldId, IdemKey, LotId, RequestId, RoomId, UserId};
use crate::money::Amount;
use crate::secret::Secret;

/// Longest chat line, in characters (Unicode scalar values, not bytes).
pub const MAX_CHAT_CHARS: usize = 500;
/// Most likes one `like` message may carry.
pub const MAX_LIKES: u32 = 50;

/// One client frame: `{"type":..., "rid"?:..., ...fields}`.
///
/// `rid` sits beside the request's own fields, hence the flatten. The codec
/// tests check that MessagePack round-trips it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Client-chosen; echoed in the one reply this request gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<RequestId>,
    #[serde(flatten)]
    pub request: Request,
}

impl ClientMessage {
    pub fn new(rid: Option<RequestId>, request: Request) -> Self {
        Self { rid, request }
    }
}

/// What a client asks for. The variant name in snake case is the `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Authenticate a connection opened without `?token=`.
    Auth {
        token: Secret,
    },
    /// Watch a room; `since` resumes after the last `seq` seen.
    Join {
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    Leave {
        room: RoomId,
    },
    Chat {
        room: RoomId,
        text: String,
    },
    Like {
        room: RoomId,
        count: u32,
    },
    Bid {
        lot: LotId,
        amount: Amount,
    },
    /// A proxy bid: the node bids for the user up to `amount`.
    MaxBid {
        lot: LotId,
        amount: Amount,
    },
    Hold {
        lot: LotId,
        qty: u32,
    },
    Release {
        hold: HoldId,
    },
    /// Turns a hold into an order; `idem` makes a retry return the same order.
    Checkout {
        hold: HoldId,
        idem: IdemKey,
    },
    /// Enter a raffle lot.
    Enter {
        lot: LotId,
    },
    Pin {
        room: RoomId,
        lot: LotId,
    },
    OpenLot {
        lot: LotId,
    },
    CloseLot {
        lot: LotId,
    },
    /// Host only: mute, unmute, ban or unban `user` in `room`.
    Moderate {
        room: RoomId,
        user: UserId,
        action: ModAction,
    },
    Ping,
}

/// What a `moderate` request does to the user it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModAction {
    /// The user may no longer chat in the room (likes still count).
    Mute,
    Unmute,
    /// The user may no longer join, chat or like; their connections that
    /// joined the room stop receiving it.
    Ban,
    Unban,
}

impl ModAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModAction::Mute => "mute",
            ModAction::Unmute => "unmute",
            ModAction::Ban => "ban",
            ModAction::Unban => "unban",
        }
    }
}

impl Request {
    /// The wire `"type"`, for metrics labels and per-kind rate limits.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Request::Auth { .. } => "auth",
            Request::Join { .. } => "join",
            Request::Leave { .. } => "leave",
            Request::Chat { .. } => "chat",
            Request::Like { .. } => "like",
            Request::Bid { .. } => "bid",
            Request::MaxBid { .. } => "max_bid",
            Request::Hold { .. } => "hold",
            Request::Release { .. } => "release",
            Request::Checkout { .. } => "checkout",
            Request::Enter { .. } => "enter",
            Request::Pin { .. } => "pin",
            Request::OpenLot { .. } => "open_lot",
            Request::CloseLot { .. } => "close_lot",
            Request::Moderate { .. } => "moderate",
            Request::Ping => "ping",
        }
    }

    /// Checks the ranges the contract states for fields, so a message out of
    /// the decoder never needs them checked again. The error is the
    /// `bad_request` message.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Request::Chat { text, .. } => {
                let n = text.chars().count();
                if n == 0 || n > MAX_CHAT_CHARS {
                    return Err(format!(
                        "chat text must be 1 to {MAX_CHAT_CHARS} characters, got {n}"
                    ));
                }
                Ok(())
            }
            Request::Like { count, .. } if !(1..=MAX_LIKES).contains(count) => {
                Err(format!("like count must be 1 to {MAX_LIKES}, got {count}"))
            }
            Request::Hold { qty: 0, .. } => Err("hold qty must be at least 1".to_owned()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomId {
        RoomId::new("r1").unwrap()
    }

    #[test]
    fn kind_name_is_the_wire_type() {
        let lot = LotId::new("L1").unwrap();
        let reqs = [
            Request::MaxBid {
                lot: lot.clone(),
                amount: 5,
            },
            Request::OpenLot { lot: lot.clone() },
            Request::CloseLot { lot },
            Request::Moderate {
                room: room(),
                user: UserId::new("u1").unwrap(),
                action: ModAction::Ban,
            },
            Request::Ping,
        ];
        for r in reqs {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["type"], r.kind_name());
        }
    }

    #[test]
    fn chat_length_counts_characters_not_bytes() {
        let ok = Request::Chat {
            room: room(),
            text: "é".repeat(MAX_CHAT_CHARS),
        };
        assert!(ok.validate().is_ok());
        let long = Request::Chat {
            room: room(),
            text: "a".repeat(MAX_CHAT_CHARS + 1),
        };
        assert!(long.validate().is_err());
        let empty = Request::Chat {
            room: room(),
            text: String::new(),
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn like_count_and_hold_qty_are_bounded() {
        let like = |count| Request::Like {
            room: room(),
            count,
        };
        assert!(like(0).validate().is_err());
        assert!(like(1).validate().is_ok());
        assert!(like(MAX_LIKES).validate().is_ok());
        assert!(like(MAX_LIKES + 1).validate().is_err());
        let hold = Request::Hold {
            lot: LotId::new("L1").unwrap(),
            qty: 0,
        };
        assert!(hold.validate().is_err());
    }
}
