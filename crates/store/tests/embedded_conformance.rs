//! The conformance suite against `EmbeddedStore`, plus persistence across a
//! clean close and reopen.

use liveshop_protocol::{
    Currency, IdemKey, LotId, LotSpec, LotTerms, Money, OrderId, Role, RoomId, SaleTerms, UserId,
};
use liveshop_store::conformance;
use liveshop_store::{
    ChatHistory, ChatLine, EmbeddedStore, EventLog, LogKey, LotRecord, Lots, OrderRecord,
    OrderStatus, Orders, PutOrder, RefreshFamily, RefreshTokens, RoomRecord, Rooms, Rotation,
    Snapshot, StoredEvent, UserRecord, Users,
};

fn fresh() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, store)
}

/// One `#[tokio::test]` per behaviour, each on its own fresh store. The
/// multi-threaded runtime lets the concurrency tests' futures be woken from
/// the writer thread while other workers run.
macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, store) = fresh();
                conformance::$name(&store).await;
            }
        )*
    };
}

liveshop_store::conformance_behaviours!(conformance_tests);

/// The whole suite on one shared store, twice: the tests do not depend on an
/// empty store and do not collide with each other's ids.
#[tokio::test]
async fn whole_suite_shares_one_store() {
    let (_dir, store) = fresh();
    conformance::run_all(&store).await;
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lot_key = LogKey::Lot(LotId::new("persist-lot").unwrap());
    let events: Vec<StoredEvent> = (1..=5)
        .map(|seq| StoredEvent {
            seq,
            payload: format!("event {seq}").into_bytes(),
        })
        .collect();
    let snapshot = Snapshot {
        seq: 4,
        payload: b"state".to_vec(),
    };
    let user = UserRecord {
        user_id: UserId::new("persist-user").unwrap(),
        username: "persisted".into(),
        password_hash: "$argon2id$hash".into(),
        role: Role::Seller,
        created_ms: 1,
    };
    let family = RefreshFamily {
        family: "persist-family".into(),
        user_id: user.user_id.clone(),
        current_hash: "h1".into(),
        expires_ms: 1_000,
        revoked: false,
    };
    let room = RoomRecord {
        room_id: RoomId::new("persist-room").unwrap(),
        host: user.user_id.clone(),
        title: "Room".into(),
        description: None,
        stream_key: "sk-persist".into(),
        created_ms: 2,
    };
    let lot = LotRecord {
        lot_id: LotId::new("persist-lot").unwrap(),
        room_id: room.room_id.clone(),
        host: user.user_id.clone(),
        spec: LotSpec {
            title: "Sneakers".into(),
            currency: Currency::USD,
            terms: LotTerms::Sale(SaleTerms {
                price: 9_900,
                stock: 3,
                per_user_limit: None,
                hold_ttl_ms: 60_000,
                allocation: Default::default(),
                duration_ms: Some(600_000),
            }),
        },
        created_ms: 3,
    };
    let order = OrderRecord {
        order_id: OrderId::for_lot(&lot.lot_id, 1),
        lot_id: lot.lot_id.clone(),
        room_id: room.room_id.clone(),
        buyer: UserId::new("persist-buyer").unwrap(),
        seller: user.user_id.clone(),
        qty: 1,
        total: Money {
            amount: 9_900,
            currency: Currency::USD,
        },
        idem: Some(IdemKey::new("idem-1").unwrap()),
        status: OrderStatus::Paid,
        created_ms: 4,
    };
    let line = ChatLine {
        room_id: room.room_id.clone(),
        user: user.user_id.clone(),
        name: "Seller".into(),
        text: "welcome".into(),
        at_ms: 5,
    };

    let epoch = {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let epoch = store.claim(&lot_key).await.unwrap();
        store.append(&lot_key, epoch, &events[..3]).await.unwrap();
        store.append(&lot_key, epoch, &events[3..4]).await.unwrap();
        store
            .save_snapshot(&lot_key, epoch, &snapshot)
            .await
            .unwrap();
        store.create_user(&user).await.unwrap();
        store.create_family(&family).await.unwrap();
        store
            .rotate("persist-family", "h1", "h2", 2_000, 10)
            .await
            .unwrap();
        store.create_room(&room).await.unwrap();
        store.create_lot(&lot).await.unwrap();
        assert_eq!(store.put_order(&order).await.unwrap(), PutOrder::Created);
        store.append_chat(&line).await.unwrap();
        epoch
        // Dropped here: the writer stops and the directory is released.
    };

    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(store.read(&lot_key, 0).await.unwrap(), events[..4].to_vec());
    assert_eq!(store.last_seq(&lot_key).await.unwrap(), 4);
    assert_eq!(store.load_snapshot(&lot_key).await.unwrap(), Some(snapshot));
    assert_eq!(store.user(&user.user_id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store.user_by_name("persisted").await.unwrap(),
        Some(user.clone())
    );
    let fam = store.family("persist-family").await.unwrap().unwrap();
    assert_eq!((fam.current_hash.as_str(), fam.expires_ms), ("h2", 2_000));
    assert_eq!(store.room(&room.room_id).await.unwrap(), Some(room.clone()));
    assert_eq!(
        store.room_by_stream_key("sk-persist").await.unwrap(),
        Some(room.clone())
    );
    assert_eq!(store.rooms().await.unwrap(), vec![room.clone()]);
    assert_eq!(store.lot(&lot.lot_id).await.unwrap(), Some(lot.clone()));
    assert_eq!(store.lots_in_room(&room.room_id).await.unwrap(), vec![lot]);
    assert_eq!(
        store.order(&order.order_id).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(
        store.orders_by_buyer(&order.buyer).await.unwrap(),
        vec![order.clone()]
    );
    assert_eq!(
        store.orders_by_seller(&user.user_id).await.unwrap(),
        vec![order.clone()]
    );
    assert_eq!(
        store.recent_chat(&room.room_id, 10).await.unwrap(),
        vec![line]
    );

    // Constraints hold across the restart.
    let again = OrderRecord {
        order_id: OrderId::for_lot(&order.lot_id, 2),
        ..order.clone()
    };
    assert_eq!(
        store.put_order(&again).await.unwrap(),
        PutOrder::Existing(order)
    );
    assert!(store.create_user(&user).await.is_err());
    assert_eq!(
        store
            .rotate("persist-family", "h1", "h3", 3_000, 20)
            .await
            .unwrap(),
        Rotation::Reused
    );

    // The epoch survived: its holder continues the log where it was, and
    // the next claim is larger.
    store.append(&lot_key, epoch, &events[4..]).await.unwrap();
    assert_eq!(store.read(&lot_key, 3).await.unwrap(), events[3..].to_vec());
    assert!(store.claim(&lot_key).await.unwrap() > epoch);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let (dir, _store) = fresh();
    let second = EmbeddedStore::open(dir.path());
    assert!(second.is_err(), "fjall's lock keeps a second writer out");
}
