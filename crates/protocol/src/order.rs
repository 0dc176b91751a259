//! Orders as clients see them (`GET /orders`, `GET /seller/orders`, the
//! `order` notice).

use serde::{Deserialize, Serialize};

use crate::ids::{LotId, OrderId, RoomId, UserId};
use crate::money::{Amount, Currency};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Bought; awaiting payment (payments are outside liveshop v1).
    Placed,
    Paid,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order: OrderId,
    pub lot: LotId,
    pub room: RoomId,
    pub buyer: UserId,
    /// Present on the seller's listing; buyers may not be shown it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<UserId>,
    pub qty: u32,
    /// The total for `qty` units, in minor units of `currency`.
    pub amount: Amount,
    pub currency: Currency,
    pub status: OrderStatus,
    pub created_ms: u64,
}
