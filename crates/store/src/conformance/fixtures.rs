//! Record builders shared by the conformance tests.

use liveshop_protocol::{
    Allocation, AuctionTerms, Currency, IdemKey, LotSpec, LotTerms, Money, OrderId, Role,
    SaleTerms, UserId,
};

use super::{lot_id, room_id, unique, user_id};
use crate::{
    ChatLine, LotRecord, OrderRecord, OrderStatus, RefreshFamily, RoomRecord, StoreError,
    UserRecord,
};

pub(super) fn user(id: &UserId, username: &str) -> UserRecord {
    UserRecord {
        user_id: id.clone(),
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Buyer,
        created_ms: 1_700_000_000_000,
    }
}

pub(super) fn family(id: &str, hash: &str, expires_ms: u64) -> RefreshFamily {
    RefreshFamily {
        family: id.to_owned(),
        user_id: user_id(&unique("fu")),
        current_hash: hash.to_owned(),
        expires_ms,
        revoked: false,
    }
}

pub(super) fn room(id: &str, stream_key: &str, created_ms: u64) -> RoomRecord {
    RoomRecord {
        room_id: room_id(id),
        host: user_id("host"),
        title: format!("room {id}"),
        description: Some("a test room".into()),
        stream_key: stream_key.to_owned(),
        created_ms,
    }
}

pub(super) fn lot(id: &str, room: &str, created_ms: u64, auction: bool) -> LotRecord {
    let terms = if auction {
        LotTerms::Auction(AuctionTerms {
            start_price: 1_000,
            duration_ms: 60_000,
            anti_snipe_ms: 5_000,
            min_increment: Some(50),
        })
    } else {
        LotTerms::Sale(SaleTerms {
            price: 2_500,
            stock: 10,
            per_user_limit: Some(2),
            hold_ttl_ms: 300_000,
            allocation: Allocation::Raffle,
            duration_ms: None,
        })
    };
    LotRecord {
        lot_id: lot_id(id),
        room_id: room_id(room),
        host: user_id("host"),
        spec: LotSpec {
            title: format!("lot {id}"),
            currency: Currency::EUR,
            terms,
        },
        created_ms,
    }
}

pub(super) fn order(
    id: &str,
    buyer: &UserId,
    seller: &UserId,
    idem: Option<&str>,
    created_ms: u64,
) -> OrderRecord {
    let lot = lot_id(&unique("ol"));
    OrderRecord {
        order_id: OrderId::new(id).unwrap_or_else(|e| panic!("bad order id {id:?}: {e}")),
        room_id: room_id("order-room"),
        lot_id: lot,
        buyer: buyer.clone(),
        seller: seller.clone(),
        qty: 1,
        total: Money {
            amount: 2_500,
            currency: Currency::USD,
        },
        idem: idem.map(|k| IdemKey::new(k).unwrap_or_else(|e| panic!("bad idem {k:?}: {e}"))),
        status: OrderStatus::Placed,
        created_ms,
    }
}

pub(super) fn chat(room: &str, at_ms: u64) -> ChatLine {
    ChatLine {
        room_id: room_id(room),
        user: user_id("talker"),
        name: "Talker".into(),
        text: format!("hello at {at_ms}"),
        at_ms,
    }
}

pub(super) fn is_conflict<T: std::fmt::Debug>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}
