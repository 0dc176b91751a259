//! The records of auction events: a `bid` or `lot_closed` room event gets
//! a record of its own (besides its `Event`), for the bid rules.

use serde_json::Value;

use super::Conn;
use crate::history::{Record, fnv1a};

impl Conn {
    /// The extra record of a `bid` or `lot_closed` event, if it is one.
    pub(super) fn auction_record(&self, at: u64, event: &Value) -> Option<Record> {
        let lot = || self.intern(event["lot"].as_str().unwrap_or(""));
        let user = |u: &Value| fnv1a(u.as_str().unwrap_or("").as_bytes());
        match event["kind"].as_str()? {
            "bid" => Some(Record::Bid {
                at,
                lot: lot(),
                amount: event["amount"].as_i64().unwrap_or(0),
                lot_seq: event["lot_seq"].as_u64().unwrap_or(0),
                bidder: user(&event["bidder"]),
            }),
            "lot_closed" => Some(Record::LotClosed {
                at,
                lot: lot(),
                winner: event["winners"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|w| Some((user(&w["user"]), w["amount"].as_i64()?)))
                    .max_by_key(|w| w.1),
            }),
            _ => None,
        }
    }
}
