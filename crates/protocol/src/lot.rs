//! Lot definitions (the body of `POST /rooms/{room}/lots`) and the lot view
//! (the `lot` event and `GET /lots/{lot}`).

use serde::{Deserialize, Serialize};

use crate::ids::{LotId, RoomId, UserId};
use crate::money::{Amount, Currency};

/// Default `anti_snipe_ms` when a lot body does not give one.
pub const DEFAULT_ANTI_SNIPE_MS: u64 = 10_000;
/// Default `hold_ttl_ms` when a sale lot body does not give one: five minutes.
pub const DEFAULT_HOLD_TTL_MS: u64 = 300_000;

/// What a seller asks for when creating a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotSpec {
    pub title: String,
    pub currency: Currency,
    #[serde(flatten)]
    pub terms: LotTerms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LotTerms {
    Auction(AuctionTerms),
    Sale(SaleTerms),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionTerms {
    /// The lowest acceptable first bid.
    pub start_price: Amount,
    /// How long the auction runs once opened.
    pub duration_ms: u64,
    /// A bid this close to the end pushes the end to `now + anti_snipe_ms`;
    /// 0 means sudden death.
    #[serde(default = "default_anti_snipe_ms")]
    pub anti_snipe_ms: u64,
    /// A fixed bid increment instead of the price ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_increment: Option<Amount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleTerms {
    /// Price of one unit.
    pub price: Amount,
    /// Units for sale.
    pub stock: u32,
    /// Most units one buyer may hold and buy in total; none means no limit
    /// beyond the stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<u32>,
    /// How long a hold lasts before its units return to the lot.
    #[serde(default = "default_hold_ttl_ms")]
    pub hold_ttl_ms: u64,
    #[serde(default)]
    pub allocation: Allocation,
    /// If given, the lot closes by itself this long after opening (a raffle
    /// draws then); otherwise it stays open until the host closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

fn default_anti_snipe_ms() -> u64 {
    DEFAULT_ANTI_SNIPE_MS
}

fn default_hold_ttl_ms() -> u64 {
    DEFAULT_HOLD_TTL_MS
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocation {
    /// First come; when stock is gone buyers may queue for released units.
    #[default]
    Fifo,
    /// Entries while open, winners drawn at close from a committed seed.
    Raffle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotKind {
    Auction,
    Sale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    Draft,
    Open,
    Closed,
    Settled,
}

/// The state of a lot as clients see it. Fields that belong to the other kind
/// of lot are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotView {
    pub lot: LotId,
    pub room: RoomId,
    pub kind: LotKind,
    pub status: LotStatus,
    pub title: String,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_ms: Option<u64>,
    // Auctions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_bid: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_bidder: Option<UserId>,
    /// The lowest bid that would be accepted now (an addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bid: Option<Amount>,
    // Sales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Allocation>,
    /// Raffle lots: SHA-256 of the draw seed, hex, published at open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_hash: Option<String>,
    /// Raffle lots: the seed, hex, revealed at the draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}
