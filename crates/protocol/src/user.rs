//! Users as the contract names them.

use serde::{Deserialize, Serialize};

/// What a user may do. Sellers host rooms and lots; buyers watch, bid and buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Seller,
}
