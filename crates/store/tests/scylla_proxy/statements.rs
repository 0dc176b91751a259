//! Every statement the store sends prepares against the schema and binds
//! the right values; a schema the statements do not fit is caught.

use std::collections::BTreeSet;

use liveshop_protocol::{LotId, OrderId, RoomId, UserId};
use liveshop_store::{
    ChatHistory, ChatLine, EventLog, Lots, Orders, PutOrder, RecentOrders, RefreshFamily,
    RefreshTokens, RoomRecord, Rooms, Rotation, ScyllaStore, Snapshot, StoreError, Users,
};

use super::fixtures::*;
use crate::support::fake_scylla::{
    Call, CallKind, Consistency, CqlType, FakeScylla, Reply, SerialConsistency, Val, row,
};

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
    // A stream key replaced: the record read, the new key claimed, the
    // record switched (LWT on the old key); the old key still names the room.
    fake.respond_once(
        "SELECT record FROM liveshop.rooms WHERE",
        rows(vec![row(&[("record", mp(&r1))])]),
    );
    let replaced = RoomRecord {
        stream_key: "key-9".into(),
        ..r1.clone()
    };
    assert_eq!(
        within(
            "replace_stream_key",
            store.replace_stream_key(&r1.room_id, "key-9")
        )
        .await,
        Ok(Some(replaced))
    );
    fake.respond_once(
        "SELECT room_id FROM liveshop.room_keys",
        rows(vec![row(&[("room_id", text("r1"))])]),
    );
    assert_eq!(
        within("stream_key_owner", store.stream_key_owner("key-1")).await,
        Ok(Some(r1.room_id.clone()))
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
    forge_listing(
        fake,
        "SELECT created_ms, lot_id FROM liveshop.lots_by_room",
        ("lot_id", "l1"),
        "SELECT record FROM liveshop.lots ",
        &l1,
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
    forge_listing(
        fake,
        "FROM liveshop.orders_by_buyer",
        ("order_id", "o1"),
        "SELECT record FROM liveshop.orders ",
        &o1,
    );
    let buyer = UserId::new("buyer").expect("id");
    assert_eq!(
        within("orders_by_buyer", store.orders_by_buyer(&buyer)).await,
        Ok(vec![o1.clone()])
    );
    let seller = UserId::new("host").expect("id");
    assert_eq!(
        within("orders_by_seller", store.orders_by_seller(&seller)).await,
        Ok(vec![])
    );
    // Newest first, from the room's creation on: the index row is followed
    // to its record and kept only when it is the seller's, in the room.
    forge_listing(
        fake,
        "created_ms >= ? ORDER BY created_ms DESC",
        ("order_id", "o1"),
        "SELECT record FROM liveshop.orders ",
        &o1,
    );
    let recent = RecentOrders {
        room: Some(o1.room_id.clone()),
        since_ms: 1_600_000_000_000,
        limit: 10,
    };
    assert_eq!(
        within(
            "recent_orders_by_seller",
            store.recent_orders_by_seller(&o1.seller, &recent)
        )
        .await,
        Ok(vec![o1.clone()])
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

/// The next read matching `index` lists one `(column, id)` row created at
/// 1_700_000_000_000, and the next matching `table` returns its `record`.
fn forge_listing<T: serde::Serialize>(
    fake: &FakeScylla,
    index: &str,
    (column, id): (&str, &str),
    table: &str,
    record: &T,
) {
    fake.respond_once(
        index,
        rows(vec![row(&[
            ("created_ms", Val::BigInt(1_700_000_000_000)),
            (column, text(id)),
        ])]),
    );
    fake.respond_once(table, rows(vec![row(&[("record", mp(record))])]));
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
