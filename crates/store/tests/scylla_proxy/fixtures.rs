//! Records, options and the forged node every test here starts from.

use std::future::Future;
use std::time::Duration;

use liveshop_protocol::{
    Allocation, Currency, IdemKey, LotId, LotSpec, LotTerms, Money, OrderId, Role, RoomId,
    SaleTerms, UserId,
};
use liveshop_store::{
    LogKey, LotRecord, OrderRecord, OrderStatus, RoomRecord, ScyllaOptions, ScyllaStore,
    StoredEvent, UserRecord,
};
use serde::Serialize;

use crate::support::fake_scylla::{FakeScylla, Reply, Row, Val};

pub(crate) const SCHEMA: &str = include_str!("../../../../config/schema.cql");

/// No store call may take longer (the fake answers at once).
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

pub(crate) fn options(fake: &FakeScylla) -> ScyllaOptions {
    ScyllaOptions {
        known_nodes: vec![fake.uri()],
        // The fake answers no system_schema queries.
        fetch_schema_metadata: false,
        request_timeout: Duration::from_secs(5),
        ..ScyllaOptions::default()
    }
}

pub(crate) async fn start() -> (FakeScylla, ScyllaStore) {
    let fake = FakeScylla::start(SCHEMA).await;
    let store = within("connect", ScyllaStore::connect(options(&fake)))
        .await
        .expect("the store connects and prepares every statement");
    (fake, store)
}

pub(crate) fn mp<T: Serialize>(v: &T) -> Val {
    Val::Blob(rmp_serde::to_vec_named(v).expect("encodes"))
}

pub(crate) fn text(s: &str) -> Val {
    Val::text(s)
}

pub(crate) fn rows(rows: Vec<Row>) -> Reply {
    Reply::Rows(rows)
}

pub(crate) fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        user_id: UserId::new(id).expect("id"),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Buyer,
        created_ms: 1_700_000_000_000,
    }
}

pub(crate) fn room(id: &str, key: &str) -> RoomRecord {
    RoomRecord {
        room_id: RoomId::new(id).expect("id"),
        host: UserId::new("host").expect("id"),
        title: format!("room {id}"),
        description: None,
        stream_key: key.into(),
        created_ms: 1_700_000_000_000,
    }
}

pub(crate) fn lot(id: &str, room: &str) -> LotRecord {
    LotRecord {
        lot_id: LotId::new(id).expect("id"),
        room_id: RoomId::new(room).expect("id"),
        host: UserId::new("host").expect("id"),
        spec: LotSpec {
            title: format!("lot {id}"),
            currency: Currency::EUR,
            terms: LotTerms::Sale(SaleTerms {
                price: 2_500,
                stock: 10,
                per_user_limit: Some(2),
                hold_ttl_ms: 300_000,
                allocation: Allocation::Raffle,
                duration_ms: None,
            }),
        },
        created_ms: 1_700_000_000_000,
    }
}

pub(crate) fn order(id: &str, idem: &str) -> OrderRecord {
    OrderRecord {
        order_id: OrderId::new(id).expect("id"),
        lot_id: LotId::new("l1").expect("id"),
        room_id: RoomId::new("r1").expect("id"),
        buyer: UserId::new("buyer").expect("id"),
        seller: UserId::new("host").expect("id"),
        qty: 1,
        total: Money {
            amount: 2_500,
            currency: Currency::EUR,
        },
        idem: Some(IdemKey::new(idem).expect("idem")),
        status: OrderStatus::Placed,
        created_ms: 1_700_000_000_000,
    }
}

pub(crate) fn events(seqs: &[u64]) -> Vec<StoredEvent> {
    seqs.iter()
        .map(|&seq| StoredEvent {
            seq,
            payload: vec![seq as u8],
        })
        .collect()
}

pub(crate) fn lot_key() -> LogKey {
    LogKey::Lot(LotId::new("l1").expect("id"))
}

pub(crate) const FENCE: &str = "IF epoch = ? AND last_seq = ?";
pub(crate) const HEAD: &str = "SELECT epoch, last_seq FROM";
