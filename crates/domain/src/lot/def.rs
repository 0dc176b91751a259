//! A lot's definition: the seller's terms, checked.

use liveshop_protocol::{Currency, LotId, LotSpec, LotTerms, MAX_LOT_ID_LEN, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::text::check_text;

/// Largest price, bid or total the lots accept: 10^15 minor units, far below
/// `u64::MAX`, so sums of a lot's amounts cannot overflow.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DURATION_MS: u64 = 7 * 24 * 3_600_000;
const MIN_DURATION_MS: u64 = 1_000;
const MAX_ANTI_SNIPE_MS: u64 = 3_600_000;
const MAX_STOCK: u32 = 1_000_000;
const MIN_HOLD_TTL_MS: u64 = 1_000;
const MAX_HOLD_TTL_MS: u64 = 24 * 3_600_000;

/// Who sells what, on which terms. Built only through [`LotDef::new`], which
/// refuses terms a lot cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotDef {
    pub id: LotId,
    pub room: RoomId,
    pub host: UserId,
    pub title: String,
    pub currency: Currency,
    pub terms: LotTerms,
}

fn bad(msg: &str) -> Rejection {
    Rejection::BadRequest(msg.to_owned())
}

impl LotDef {
    pub fn new(id: LotId, room: RoomId, host: UserId, spec: LotSpec) -> Result<LotDef, Rejection> {
        if id.as_str().len() > MAX_LOT_ID_LEN {
            return Err(bad("lot id too long"));
        }
        let title =
            check_text(&spec.title, MAX_TITLE_CHARS).map_err(|e| bad(&format!("title: {e}")))?;
        let in_range = |ms: u64| (MIN_DURATION_MS..=MAX_DURATION_MS).contains(&ms);
        match &spec.terms {
            LotTerms::Auction(t) => {
                if !in_range(t.duration_ms) {
                    return Err(bad("duration_ms must be between 1 second and 7 days"));
                }
                if t.anti_snipe_ms > MAX_ANTI_SNIPE_MS {
                    return Err(bad("anti_snipe_ms must be at most one hour"));
                }
                if t.start_price > MAX_AMOUNT
                    || t.min_increment.is_some_and(|i| i == 0 || i > MAX_AMOUNT)
                {
                    return Err(bad("start_price or min_increment out of range"));
                }
            }
            LotTerms::Sale(t) => {
                if t.stock == 0 || t.stock > MAX_STOCK {
                    return Err(bad("stock must be between 1 and 1,000,000"));
                }
                if t.price > MAX_AMOUNT / u64::from(MAX_STOCK) {
                    return Err(bad("price out of range"));
                }
                if t.per_user_limit == Some(0) {
                    return Err(bad("per_user_limit must be at least 1"));
                }
                if !(MIN_HOLD_TTL_MS..=MAX_HOLD_TTL_MS).contains(&t.hold_ttl_ms) {
                    return Err(bad("hold_ttl_ms must be between 1 second and 24 hours"));
                }
                if t.duration_ms.is_some_and(|d| !in_range(d)) {
                    return Err(bad("duration_ms must be between 1 second and 7 days"));
                }
            }
        }
        Ok(LotDef {
            id,
            room,
            host,
            title,
            currency: spec.currency,
            terms: spec.terms,
        })
    }

    /// How long the lot runs once opened, if it ends by itself.
    pub fn duration_ms(&self) -> Option<u64> {
        match &self.terms {
            LotTerms::Auction(t) => Some(t.duration_ms),
            LotTerms::Sale(t) => t.duration_ms,
        }
    }
}
