//! Driver-facing behaviour of `ScyllaStore`, against a forged ScyllaDB node
//! (`scylla-proxy` in dry mode, tests/support/fake_scylla.rs): every
//! statement prepares against `config/schema.cql` and binds the right
//! values; a refused conditional append becomes `Fenced` / `SeqGap`; a
//! forged write timeout and Overloaded become the typed retryable errors.
#![cfg(feature = "scylla")]

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use liveshop_protocol::{
    Allocation, Currency, IdemKey, LotId, LotSpec, LotTerms, Money, OrderId, Role, RoomId,
    SaleTerms, UserId,
};
use liveshop_store::{
    ChatHistory, ChatLine, EventLog, LogKey, LotRecord, Lots, OrderRecord, OrderStatus, Orders,
    PutOrder, RefreshFamily, RefreshTokens, RoomRecord, Rooms, Rotation, ScyllaOptions,
    ScyllaStore, Snapshot, StoreError, StoredEvent, UserRecord, Users,
};
use serde::Serialize;

use support::fake_scylla::{
    Call, CallKind, Consistency, CqlType, FakeScylla, Reply, Row, SerialConsistency, Val,
    WriteType, row,
};

const SCHEMA: &str = include_str!("../../../config/schema.cql");

/// No store call may take longer (the fake answers at once).
const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

fn options(fake: &FakeScylla) -> ScyllaOptions {
    ScyllaOptions {
        known_nodes: vec![fake.uri()],
        // The fake answers no system_schema queries.
        fetch_schema_metadata: false,
        request_timeout: Duration::from_secs(5),
        ..ScyllaOptions::default()
    }
}

async fn start() -> (FakeScylla, ScyllaStore) {
    let fake = FakeScylla::start(SCHEMA).await;
    let store = within("connect", ScyllaStore::connect(options(&fake)))
        .await
        .expect("the store connects and prepares every statement");
    (fake, store)
}

fn mp<T: Serialize>(v: &T) -> Val {
    Val::Blob(rmp_serde::to_vec_named(v).expect("encodes"))
}

fn text(s: &str) -> Val {
    Val::text(s)
}

fn rows(rows: Vec<Row>) -> Reply {
    Reply::Rows(rows)
}

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        user_id: UserId::new(id).expect("id"),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Buyer,
        created_ms: 1_700_000_000_000,
    }
}

fn room(id: &str, key: &str) -> RoomRecord {
    RoomRecord {
        room_id: RoomId::new(id).expect("id"),
        host: UserId::new("host").expect("id"),
        title: format!("room {id}"),
        description: None,
        stream_key: key.into(),
        created_ms: 1_700_000_000_000,
    }
}

fn lot(id: &str, room: &str) -> LotRecord {
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

fn order(id: &str, idem: &str) -> OrderRecord {
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

fn events(seqs: &[u64]) -> Vec<StoredEvent> {
    seqs.iter()
        .map(|&seq| StoredEvent {
            seq,
            payload: vec![seq as u8],
        })
        .collect()
}

fn lot_key() -> LogKey {
    LogKey::Lot(LotId::new("l1").expect("id"))
}

const FENCE: &str = "IF epoch = ? AND last_seq = ?";
const HEAD: &str = "SELECT epoch, last_seq FROM";

/// Calls every store method at least once, forging the answers a method
/// needs to take its other paths (a row to read, an LWT refused).
async fn exercise_every_method(fake: &FakeScylla, store: &ScyllaStore) {
    within("migrate", ScyllaStore::migrate(store.options()))
        .await
        .expect("migrate");

    // Event log.
    let key = lot_key();
    assert_eq!(within("claim", store.claim(&key)).await, Ok(1));
    fake.respond_once(
        HEAD,
        rows(vec![row(&[
            ("epoch", Val::BigInt(1)),
            ("last_seq", Val::BigInt(0)),
        ])]),
    );
    assert_eq!(within("claim", store.claim(&key)).await, Ok(2));
    assert_eq!(
        within("append", store.append(&key, 2, &events(&[1, 2]))).await,
        Ok(())
    );
    fake.respond_once(
        "SELECT seq, payload FROM",
        rows(vec![
            row(&[("seq", Val::BigInt(1)), ("payload", Val::blob(&[1]))]),
            row(&[("seq", Val::BigInt(2)), ("payload", Val::blob(&[2]))]),
        ]),
    );
    assert_eq!(
        within("read", store.read(&key, 0)).await,
        Ok(events(&[1, 2]))
    );
    fake.respond_once(
        "SELECT last_seq FROM",
        rows(vec![row(&[("last_seq", Val::BigInt(2))])]),
    );
    assert_eq!(within("last_seq", store.last_seq(&key)).await, Ok(2));
    let snap = Snapshot {
        seq: 2,
        payload: b"state".to_vec(),
    };
    assert_eq!(
        within("save_snapshot", store.save_snapshot(&key, 2, &snap)).await,
        Ok(())
    );
    fake.respond_once(
        "SELECT snapshot_seq, snapshot FROM",
        rows(vec![row(&[
            ("snapshot_seq", Val::BigInt(2)),
            ("snapshot", Val::blob(b"state")),
        ])]),
    );
    assert_eq!(
        within("load_snapshot", store.load_snapshot(&key)).await,
        Ok(Some(snap))
    );

    // Users: the plain path, a stale claim taken over, an id conflict, a
    // completion refused.
    let alice = user("u1", "alice");
    assert_eq!(
        within("create_user", store.create_user(&alice)).await,
        Ok(())
    );
    fake.respond_once(
        "INSERT INTO liveshop.usernames",
        Reply::not_applied(row(&[
            ("username", text("bob")),
            ("user_id", text("u-crashed")),
            ("claimed_ms", Val::BigInt(0)),
            ("complete", Val::Bool(false)),
        ])),
    );
    assert_eq!(
        within("create_user", store.create_user(&user("u2", "bob"))).await,
        Ok(())
    );
    fake.respond_once(
        "INSERT INTO liveshop.users",
        Reply::not_applied(row(&[
            ("user_id", text("u3")),
            ("username", text("someone")),
        ])),
    );
    let r = within("create_user", store.create_user(&user("u3", "carol"))).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    fake.respond_once(
        "SET complete = true",
        Reply::not_applied(row(&[("user_id", text("u-other"))])),
    );
    let r = within("create_user", store.create_user(&user("u4", "dave"))).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    fake.respond_once(
        "SELECT user_id, claimed_ms, complete FROM",
        rows(vec![row(&[
            ("user_id", text("u1")),
            ("claimed_ms", Val::BigInt(1)),
            ("complete", Val::Bool(true)),
        ])]),
    );
    fake.respond_once(
        "SELECT record FROM liveshop.users",
        rows(vec![row(&[("record", mp(&alice))])]),
    );
    assert_eq!(
        within("user_by_name", store.user_by_name("alice")).await,
        Ok(Some(alice))
    );
    assert_eq!(
        within("user", store.user(&UserId::new("u9").expect("id"))).await,
        Ok(None)
    );

    // Refresh families.
    let fam = RefreshFamily {
        family: "f1".into(),
        user_id: UserId::new("u1").expect("id"),
        current_hash: "h0".into(),
        expires_ms: 4_000_000_000_000,
        revoked: false,
    };
    assert_eq!(
        within("create_family", store.create_family(&fam)).await,
        Ok(())
    );
    fake.respond_once(
        "SELECT user_id, current_hash",
        rows(vec![row(&[
            ("user_id", text("u1")),
            ("current_hash", text("h1")),
            ("expires_ms", Val::BigInt(4_000_000_000_001)),
            ("revoked", Val::Bool(false)),
        ])]),
    );
    let r = within(
        "rotate",
        store.rotate("f1", "h0", "h1", 4_000_000_000_001, 1_000),
    )
    .await;
    assert!(matches!(r, Ok(Rotation::Rotated(_))), "{r:?}");
    assert_eq!(
        within("revoke_family", store.revoke_family("f1")).await,
        Ok(())
    );
    assert_eq!(within("family", store.family("f1")).await, Ok(None));

    // Rooms: plain, a room-id conflict (the key is released), reads.
    let r1 = room("r1", "key-1");
    assert_eq!(within("create_room", store.create_room(&r1)).await, Ok(()));
    fake.respond_once(
        "INSERT INTO liveshop.rooms",
        Reply::not_applied(row(&[("stream_key", text("key-x"))])),
    );
    let r = within("create_room", store.create_room(&room("r1", "key-2"))).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    fake.respond_once(
        "SELECT room_id FROM liveshop.room_keys",
        rows(vec![row(&[("room_id", text("r1"))])]),
    );
    fake.respond_once(
        "SELECT record FROM liveshop.rooms WHERE",
        rows(vec![row(&[("record", mp(&r1))])]),
    );
    assert_eq!(
        within("room_by_stream_key", store.room_by_stream_key("key-1")).await,
        Ok(Some(r1.clone()))
    );
    assert_eq!(
        within("room", store.room(&RoomId::new("r9").expect("id"))).await,
        Ok(None)
    );
    fake.respond_once(
        "SELECT record FROM liveshop.rooms",
        rows(vec![row(&[("record", mp(&r1))])]),
    );
    assert_eq!(within("rooms", store.rooms()).await, Ok(vec![r1]));

    // Lots: plain, an id conflict (the index row is removed), reads.
    let l1 = lot("l1", "r1");
    assert_eq!(within("create_lot", store.create_lot(&l1)).await, Ok(()));
    fake.respond_once(
        "INSERT INTO liveshop.lots ",
        Reply::Lwt {
            applied: false,
            rows: Vec::new(),
        },
    );
    let r = within("create_lot", store.create_lot(&lot("l2", "r1"))).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    fake.respond_once(
        "SELECT created_ms, lot_id FROM liveshop.lots_by_room",
        rows(vec![row(&[
            ("created_ms", Val::BigInt(1_700_000_000_000)),
            ("lot_id", text("l1")),
        ])]),
    );
    fake.respond_once(
        "SELECT record FROM liveshop.lots ",
        rows(vec![row(&[("record", mp(&l1))])]),
    );
    let room_id = RoomId::new("r1").expect("id");
    assert_eq!(
        within("lots_in_room", store.lots_in_room(&room_id)).await,
        Ok(vec![l1])
    );
    assert_eq!(
        within("lot", store.lot(&LotId::new("l9").expect("id"))).await,
        Ok(None)
    );

    // Orders: created; a second order on the same key finds the first
    // (answered Cassandra-style, so the store reads the claim back).
    let o1 = order("o1", "k1");
    assert_eq!(
        within("put_order", store.put_order(&o1)).await,
        Ok(PutOrder::Created)
    );
    fake.respond_once(
        "INSERT INTO liveshop.order_idem",
        Reply::Table {
            columns: vec![("[applied]".into(), CqlType::Boolean)],
            rows: vec![vec![Val::Bool(false)]],
        },
    );
    fake.respond_once(
        "SELECT order_id, record FROM liveshop.order_idem",
        rows(vec![row(&[("order_id", text("o1")), ("record", mp(&o1))])]),
    );
    let r = within("put_order", store.put_order(&order("o2", "k1"))).await;
    assert_eq!(r, Ok(PutOrder::Existing(o1.clone())));
    fake.respond_once(
        "FROM liveshop.orders_by_buyer",
        rows(vec![row(&[
            ("created_ms", Val::BigInt(1_700_000_000_000)),
            ("order_id", text("o1")),
        ])]),
    );
    fake.respond_once(
        "SELECT record FROM liveshop.orders ",
        rows(vec![row(&[("record", mp(&o1))])]),
    );
    let buyer = UserId::new("buyer").expect("id");
    assert_eq!(
        within("orders_by_buyer", store.orders_by_buyer(&buyer)).await,
        Ok(vec![o1])
    );
    let seller = UserId::new("host").expect("id");
    assert_eq!(
        within("orders_by_seller", store.orders_by_seller(&seller)).await,
        Ok(vec![])
    );
    assert_eq!(
        within("order", store.order(&OrderId::new("o9").expect("id"))).await,
        Ok(None)
    );

    // Chat.
    let line = ChatLine {
        room_id: RoomId::new("r1").expect("id"),
        user: UserId::new("u1").expect("id"),
        name: "Alice".into(),
        text: "hello".into(),
        at_ms: 1_700_000_000_000,
    };
    assert_eq!(
        within("append_chat", store.append_chat(&line)).await,
        Ok(())
    );
    let day = (line.at_ms / 86_400_000) as i32;
    fake.respond_once(
        "SELECT day FROM liveshop.chat_days",
        rows(vec![row(&[("day", Val::Int(day))])]),
    );
    fake.respond_once(
        "SELECT record FROM liveshop.chat ",
        rows(vec![row(&[("record", mp(&line))])]),
    );
    assert_eq!(
        within("recent_chat", store.recent_chat(&room_id, 10)).await,
        Ok(vec![line])
    );
}

fn executed(calls: &[Call]) -> BTreeSet<String> {
    calls
        .iter()
        .flat_map(|c| c.statements.iter().map(|s| s.text.clone()))
        .collect()
}

#[tokio::test]
async fn every_statement_prepares_against_the_schema_and_binds_its_values() {
    let (fake, store) = start().await;
    exercise_every_method(&fake, &store).await;

    // Every statement the store prepared fits the schema.
    assert!(
        fake.rejected().is_empty(),
        "rejected by the schema: {:?}",
        fake.rejected()
    );
    let texts = store.statement_texts();
    assert!(
        texts.len() >= 20,
        "the store prepares {} statements",
        texts.len()
    );
    let prepared: BTreeSet<String> = fake.prepared().into_iter().collect();
    let calls = fake.calls();
    let ran = executed(&calls);
    for t in &texts {
        assert!(prepared.contains(t), "never prepared: {t}");
        assert!(ran.contains(t), "never executed by any store method: {t}");
    }
    // ... and runs nothing else (no ad-hoc statements).
    for t in &ran {
        assert!(texts.contains(t), "ran a statement it does not expose: {t}");
    }

    for call in &calls {
        // Values: as many as markers, each encoded as its column's type.
        assert!(
            call.violations.is_empty(),
            "{:?}: {:?}",
            call.text(),
            call.violations
        );
        for s in &call.statements {
            assert_eq!(s.values.len(), s.markers, "{:?}", s.text);
            assert!(
                !s.values.contains(&Val::Unset),
                "unset value in {:?}",
                s.text
            );
        }
        let read = call.kind != CallKind::Batch && call.text().starts_with("SELECT");
        if read {
            assert!(
                matches!(
                    call.consistency,
                    Consistency::LocalQuorum | Consistency::LocalSerial
                ),
                "{:?} reads at {:?}",
                call.text(),
                call.consistency
            );
        } else {
            assert_eq!(
                call.consistency,
                Consistency::LocalQuorum,
                "{:?}",
                call.text()
            );
        }
        if call.is_lwt() {
            assert_eq!(
                call.serial_consistency,
                Some(SerialConsistency::LocalSerial),
                "{:?}",
                call.text()
            );
        }
    }
    // The append is one conditional batch: the fence first, then the events.
    let append = calls
        .iter()
        .find(|c| c.kind == CallKind::Batch)
        .expect("an append batch");
    assert!(append.statements[0].text.contains(FENCE) && append.statements[0].lwt);
    assert_eq!(append.statements.len(), 3);
    assert_eq!(
        append.statements[0].values[0],
        Val::BigInt(2),
        "last_seq after the batch"
    );
    fake.stop().await;
}

#[tokio::test]
async fn a_refused_append_becomes_fenced_or_seq_gap() {
    let (fake, store) = start().await;
    let key = lot_key();

    // A newer owner holds the log: [applied] = false with its epoch.
    fake.respond_once(
        FENCE,
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(5)),
            ("last_seq", Val::BigInt(1)),
        ])),
    );
    let r = within("append", store.append(&key, 2, &events(&[2]))).await;
    match r {
        Err(StoreError::Fenced {
            key: k,
            current,
            presented,
        }) => {
            assert_eq!((k.as_str(), current, presented), ("lot/l1", 5, 2));
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    // Our epoch, but the log is further on: a gap.
    fake.respond_once(
        FENCE,
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(2)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let r = within("append", store.append(&key, 2, &events(&[2, 3]))).await;
    match r {
        Err(StoreError::SeqGap { expected, got, .. }) => assert_eq!((expected, got), (4, 2)),
        other => panic!("expected SeqGap, got {other:?}"),
    }
    let batches = fake
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Batch)
        .count();
    assert_eq!(batches, 2, "one batch per append");

    // A snapshot refused under a newer epoch is fenced too.
    fake.respond_once(
        "IF epoch = ? AND last_seq >= ?",
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(9)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let snap = Snapshot {
        seq: 3,
        payload: vec![],
    };
    let r = within("save_snapshot", store.save_snapshot(&key, 2, &snap)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Fenced {
                current: 9,
                presented: 2,
                ..
            })
        ),
        "{r:?}"
    );

    // A claim that loses a race retries above the winner's epoch.
    fake.respond_once(
        "IF epoch = NULL",
        Reply::not_applied(row(&[("epoch", Val::BigInt(3))])),
    );
    assert_eq!(within("claim", store.claim(&key)).await, Ok(4));
    let claim_next = fake
        .calls()
        .into_iter()
        .rfind(|c| c.mentions("SET epoch = ? WHERE log_key = ? IF epoch = ?"))
        .expect("claim_next ran");
    assert_eq!(
        claim_next.statements[0].values,
        [Val::BigInt(4), text("lot/l1"), Val::BigInt(3)]
    );
    fake.stop().await;
}

#[tokio::test]
async fn a_refused_rotation_gives_the_right_outcome() {
    let (fake, store) = start().await;
    let rotate = "SET current_hash = ?";
    let far = Val::BigInt(4_000_000_000_000);
    // Another token of the family was presented: reuse, and the family is revoked.
    fake.respond_once(
        rotate,
        Reply::not_applied(row(&[
            ("current_hash", text("h-newer")),
            ("expires_ms", far.clone()),
            ("revoked", Val::Bool(false)),
        ])),
    );
    assert_eq!(
        within("rotate", store.rotate("f1", "h-old", "h-next", 5, 1_000)).await,
        Ok(Rotation::Reused)
    );
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.mentions("SET revoked = true")),
        "the family was revoked"
    );
    // Already revoked: nothing changes.
    fake.clear_calls();
    fake.respond_once(
        rotate,
        Reply::not_applied(row(&[
            ("current_hash", text("h-old")),
            ("expires_ms", far),
            ("revoked", Val::Bool(true)),
        ])),
    );
    assert_eq!(
        within("rotate", store.rotate("f1", "h-old", "h-next", 5, 1_000)).await,
        Ok(Rotation::Revoked)
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.mentions("SET revoked = true"))
    );
    // No such family: the old row is all nulls.
    fake.respond_once(
        rotate,
        Reply::Lwt {
            applied: false,
            rows: Vec::new(),
        },
    );
    assert_eq!(
        within("rotate", store.rotate("f9", "h", "h2", 5, 1_000)).await,
        Ok(Rotation::Unknown)
    );
    fake.stop().await;
}

#[tokio::test]
async fn a_write_timeout_on_an_lwt_is_a_retryable_timeout_sent_once() {
    let (fake, store) = start().await;
    let key = lot_key();
    fake.respond_once(FENCE, Reply::write_timeout(WriteType::Cas));
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(matches!(r, Err(StoreError::Timeout(_))), "{r:?}");
    assert!(r.as_ref().expect_err("failed").is_retryable());
    let sent = fake.calls().iter().filter(|c| c.mentions(FENCE)).count();
    assert_eq!(
        sent, 1,
        "the non-idempotent LWT batch was not retried by the driver"
    );

    // The write type that makes the driver's default policy retry an
    // idempotent statement once (BatchLog): still one attempt, since the
    // store marks the conditional batch non-idempotent.
    fake.clear_calls();
    fake.respond_once(FENCE, Reply::write_timeout(WriteType::BatchLog));
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Timeout(_)) if e.is_retryable()),
        "{r:?}"
    );
    let sent = fake.calls().iter().filter(|c| c.mentions(FENCE)).count();
    assert_eq!(sent, 1, "the conditional batch was retried by the driver");

    fake.respond_once(
        "INSERT INTO liveshop.usernames",
        Reply::write_timeout(WriteType::Cas),
    );
    let r = within("create_user", store.create_user(&user("u1", "alice"))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Timeout(_)) if e.is_retryable()),
        "{r:?}"
    );
    let sent = fake
        .calls()
        .iter()
        .filter(|c| c.mentions("INSERT INTO liveshop.usernames"))
        .count();
    assert_eq!(sent, 1, "the claim LWT was not retried by the driver");
    fake.stop().await;
}

#[tokio::test]
async fn overloaded_on_a_write_and_a_read_is_retryable_overloaded() {
    let (fake, store) = start().await;
    fake.respond("INSERT INTO liveshop.chat ", Reply::overloaded());
    let line = ChatLine {
        room_id: RoomId::new("r1").expect("id"),
        user: UserId::new("u1").expect("id"),
        name: "Alice".into(),
        text: "hi".into(),
        at_ms: 1_700_000_000_000,
    };
    let r = within("append_chat", store.append_chat(&line)).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );

    fake.respond("SELECT record FROM liveshop.users", Reply::overloaded());
    let r = within("user", store.user(&UserId::new("u1").expect("id"))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );

    // An overloaded LWT batch: nothing written, retryable, sent once.
    fake.respond_once(FENCE, Reply::overloaded());
    let r = within("append", store.append(&lot_key(), 1, &events(&[1]))).await;
    assert!(
        matches!(&r, Err(e @ StoreError::Overloaded(_)) if e.is_retryable()),
        "{r:?}"
    );
    assert_eq!(fake.calls().iter().filter(|c| c.mentions(FENCE)).count(), 1);
    fake.stop().await;
}

/// The negative control of the binding test: the same store against a
/// schema where one column is missing or has another type fails, so the
/// checks above do look at the store's statements.
#[tokio::test]
async fn a_statement_that_does_not_fit_the_schema_is_caught() {
    // A column the store names is missing: preparing fails, connect fails.
    let renamed = SCHEMA.replacen("claimed_ms bigint", "claimed_at bigint", 1);
    assert_ne!(renamed, SCHEMA, "the schema still has usernames.claimed_ms");
    let fake = FakeScylla::start(&renamed).await;
    let r = within("connect", ScyllaStore::connect(options(&fake))).await;
    assert!(
        r.is_err(),
        "connected to a schema without usernames.claimed_ms"
    );
    assert!(
        fake.rejected()
            .iter()
            .any(|(t, _)| t.contains("claimed_ms")),
        "{:?}",
        fake.rejected()
    );
    fake.stop().await;

    // A column of another type: the values the store binds no longer fit.
    let retyped = SCHEMA.replacen("  seq          bigint,", "  seq          int,", 1);
    assert_ne!(retyped, SCHEMA, "the schema still has event_log.seq bigint");
    let fake = FakeScylla::start(&retyped).await;
    let store = within("connect", ScyllaStore::connect(options(&fake)))
        .await
        .expect("connects: the statements still parse");
    let r = within("read", store.read(&lot_key(), 0)).await;
    assert!(r.is_err(), "bound a bigint to an int column: {r:?}");
    // The driver checked the values against the prepared types and sent nothing.
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.mentions("SELECT seq, payload"))
    );
    fake.stop().await;
}

#[tokio::test]
async fn other_server_errors_are_not_typed_as_timeout_or_overloaded() {
    let (fake, store) = start().await;
    fake.respond_once(
        FENCE,
        Reply::error(support::fake_scylla::DbError::ServerError),
    );
    let r = within("append", store.append(&lot_key(), 1, &events(&[1]))).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    fake.stop().await;
}

/// What ScyllaDB answers for a log nobody has claimed or written yet, and
/// for a claimed log without events: a refused append against a missing
/// partition carries all-null old values (so `Fenced` at epoch 0, read from
/// the answer alone); a claimed, empty log's partition reads back as one
/// row of nulls (ScyllaDB, unlike Cassandra, returns the static-only row even
/// when no static column is selected: scylladb/scylladb#10091), which is not
/// an event; a snapshot ahead of the log is a gap naming the log's last seq;
/// the head a claim starts from is read at LOCAL_SERIAL.
#[tokio::test]
async fn never_claimed_and_empty_logs_answer_like_scylla() {
    let (fake, store) = start().await;
    let key = lot_key();

    fake.respond_once(
        FENCE,
        Reply::Lwt {
            applied: false,
            rows: Vec::new(),
        },
    );
    let r = within("append", store.append(&key, 1, &events(&[1]))).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Fenced {
                current: 0,
                presented: 1,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        !fake.calls().iter().any(|c| c.mentions(HEAD)),
        "the refusal's own answer decided it"
    );

    // The first claim: a linearizable read of the head, then `IF epoch = NULL`.
    assert_eq!(within("claim", store.claim(&key)).await, Ok(1));
    let calls = fake.calls();
    let head = calls
        .iter()
        .find(|c| c.mentions(HEAD))
        .expect("the head was read");
    assert_eq!(head.consistency, Consistency::LocalSerial);
    let first = calls
        .iter()
        .find(|c| c.mentions("IF epoch = NULL"))
        .expect("claim_first ran");
    assert_eq!(
        first.statements[0].values,
        [Val::BigInt(1), Val::BigInt(0), text("lot/l1")]
    );

    fake.respond_once("SELECT seq, payload FROM", rows(vec![row(&[])]));
    assert_eq!(within("read", store.read(&key, 0)).await, Ok(vec![]));
    fake.respond_once(
        "SELECT seq, payload FROM",
        rows(vec![
            row(&[]),
            row(&[("seq", Val::BigInt(1)), ("payload", Val::blob(&[1]))]),
        ]),
    );
    assert_eq!(within("read", store.read(&key, 0)).await, Ok(events(&[1])));

    fake.respond_once(
        "IF epoch = ? AND last_seq >= ?",
        Reply::not_applied(row(&[
            ("epoch", Val::BigInt(1)),
            ("last_seq", Val::BigInt(3)),
        ])),
    );
    let snap = Snapshot {
        seq: 4,
        payload: b"ahead".to_vec(),
    };
    let r = within("save_snapshot", store.save_snapshot(&key, 1, &snap)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::SeqGap {
                expected: 3,
                got: 4,
                ..
            })
        ),
        "{r:?}"
    );
    fake.stop().await;
}
