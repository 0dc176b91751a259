//! Conformance: rooms, lots, orders and chat.

use super::fixtures::{chat, is_conflict, lot, order, room};
use super::{lot_id, ok, room_id, unique, user_id};
use crate::{
    ChatHistory, ChatLine, Lots, OrderRecord, Orders, PutOrder, RecentOrders, RoomRecord, Rooms,
};
use liveshop_protocol::RoomId;

// ---------------------------------------------------------------- rooms and lots

pub async fn rooms_are_unique_and_found_by_stream_key<S: Rooms + ?Sized>(store: &S) {
    let id = unique("room");
    let key = unique("key");
    let rec = room(&id, &key, 100);
    ok("create room", store.create_room(&rec)).await;
    assert_eq!(
        ok("room", store.room(&room_id(&id))).await,
        Some(rec.clone())
    );
    assert_eq!(
        ok("by key", store.room_by_stream_key(&key)).await,
        Some(rec.clone())
    );

    let other_key = unique("key");
    let r = store.create_room(&room(&id, &other_key, 200)).await;
    assert!(is_conflict(&r), "a taken room id conflicts, got {r:?}");
    assert_eq!(
        ok("by key", store.room_by_stream_key(&other_key)).await,
        None
    );

    let other_id = unique("room");
    let r = store.create_room(&room(&other_id, &key, 200)).await;
    assert!(is_conflict(&r), "a taken stream key conflicts, got {r:?}");
    assert_eq!(ok("room", store.room(&room_id(&other_id))).await, None);
    assert_eq!(
        ok("by key", store.room_by_stream_key(&key)).await,
        Some(rec)
    );
    assert_eq!(
        ok("unknown", store.room_by_stream_key(&unique("key"))).await,
        None
    );
}

pub async fn stream_key_is_replaced_and_the_old_one_retired<S: Rooms + ?Sized>(store: &S) {
    let id = unique("room");
    let (old_key, new_key) = (unique("key"), unique("key"));
    let rec = room(&id, &old_key, 100);
    ok("create room", store.create_room(&rec)).await;

    let replaced = ok("replace", store.replace_stream_key(&room_id(&id), &new_key)).await;
    let expected = RoomRecord {
        stream_key: new_key.clone(),
        ..rec.clone()
    };
    assert_eq!(
        replaced,
        Some(expected.clone()),
        "the record with the new key"
    );
    assert_eq!(
        ok("room", store.room(&room_id(&id))).await,
        Some(expected.clone()),
        "the room's record is rewritten"
    );
    assert_eq!(
        ok("by new key", store.room_by_stream_key(&new_key)).await,
        Some(expected.clone())
    );
    assert_eq!(
        ok("by old key", store.room_by_stream_key(&old_key)).await,
        None,
        "a replaced key no longer finds the room"
    );
    // Both keys still name the room (the end of a stream published under the
    // old key is matched by it).
    for key in [&old_key, &new_key] {
        assert_eq!(
            ok("owner", store.stream_key_owner(key)).await,
            Some(room_id(&id))
        );
    }
    assert_eq!(
        ok("owner of unknown", store.stream_key_owner(&unique("key"))).await,
        None
    );

    // The retired key stays reserved: neither a new room nor this one takes it.
    let r = store
        .create_room(&room(&unique("room"), &old_key, 200))
        .await;
    assert!(is_conflict(&r), "a retired key conflicts, got {r:?}");
    let r = store.replace_stream_key(&room_id(&id), &old_key).await;
    assert!(is_conflict(&r), "a retired key is not reused, got {r:?}");
    let r = store.replace_stream_key(&room_id(&id), &new_key).await;
    assert!(
        is_conflict(&r),
        "the current key is not issued again, got {r:?}"
    );
    // Another room's key is refused, and nothing changes.
    let other = room(&unique("room"), &unique("key"), 300);
    ok("create other", store.create_room(&other)).await;
    let r = store
        .replace_stream_key(&room_id(&id), &other.stream_key)
        .await;
    assert!(is_conflict(&r), "another room's key conflicts, got {r:?}");
    assert_eq!(
        ok("room", store.room(&room_id(&id))).await,
        Some(expected.clone())
    );
    assert_eq!(
        ok("other by key", store.room_by_stream_key(&other.stream_key)).await,
        Some(other)
    );
    // No such room: nothing to replace, and the key is not taken.
    let ghost_key = unique("key");
    assert_eq!(
        ok(
            "ghost",
            store.replace_stream_key(&room_id(&unique("room")), &ghost_key)
        )
        .await,
        None
    );
    assert_eq!(
        ok("ghost owner", store.stream_key_owner(&ghost_key)).await,
        None
    );
    // Replaced twice: only the newest finds the room.
    let newest = unique("key");
    ok(
        "replace again",
        store.replace_stream_key(&room_id(&id), &newest),
    )
    .await;
    assert_eq!(
        ok("by new key", store.room_by_stream_key(&new_key)).await,
        None
    );
    assert_eq!(
        ok("by newest", store.room_by_stream_key(&newest))
            .await
            .map(|r| r.stream_key),
        Some(newest)
    );
}

pub async fn rooms_listed_oldest_first<S: Rooms + ?Sized>(store: &S) {
    // Created out of time order, with ids that sort in yet another order.
    let base = unique("rl");
    let specs = [("b", 1_000), ("c", 3_000), ("a", 2_000)];
    let mut created = Vec::new();
    for (suffix, at) in specs {
        let rec = room(&format!("{base}{suffix}"), &unique("key"), at);
        ok("create room", store.create_room(&rec)).await;
        created.push(rec);
    }
    let ours: Vec<RoomRecord> = ok("rooms", store.rooms())
        .await
        .into_iter()
        .filter(|r| created.iter().any(|c| c.room_id == r.room_id))
        .collect();
    let expected = vec![created[0].clone(), created[2].clone(), created[1].clone()];
    assert_eq!(ours, expected, "rooms come oldest first");
}

pub async fn lots_listed_per_room_in_creation_order<S: Lots + ?Sized>(store: &S) {
    let room_a = unique("lr");
    // `room_b` extends `room_a`: a backend that scans by plain string prefix
    // would mix their lots.
    let room_b = format!("{room_a}x");
    let base = unique("lt");
    let a_lots = [
        lot(&format!("{base}c"), &room_a, 10, true),
        lot(&format!("{base}a"), &room_a, 20, false),
        lot(&format!("{base}b"), &room_a, 30, true),
    ];
    let b_lot = lot(&format!("{base}d"), &room_b, 15, false);
    ok("create lot", store.create_lot(&a_lots[0])).await;
    ok("create lot", store.create_lot(&b_lot)).await;
    ok("create lot", store.create_lot(&a_lots[1])).await;
    ok("create lot", store.create_lot(&a_lots[2])).await;

    assert_eq!(
        ok("lots", store.lots_in_room(&room_id(&room_a))).await,
        a_lots.to_vec()
    );
    assert_eq!(
        ok("lots", store.lots_in_room(&room_id(&room_b))).await,
        vec![b_lot]
    );
    assert!(
        ok("lots", store.lots_in_room(&room_id(&unique("lr"))))
            .await
            .is_empty()
    );
    // The spec (tagged, flattened terms) round-trips.
    assert_eq!(
        ok("lot", store.lot(&a_lots[1].lot_id)).await,
        Some(a_lots[1].clone())
    );

    let dup = lot(&format!("{base}c"), &room_b, 40, false);
    let r = store.create_lot(&dup).await;
    assert!(is_conflict(&r), "a taken lot id conflicts, got {r:?}");
    assert_eq!(
        ok("lot", store.lot(&a_lots[0].lot_id)).await,
        Some(a_lots[0].clone())
    );
    assert_eq!(
        ok("lots", store.lots_in_room(&room_id(&room_b)))
            .await
            .len(),
        1
    );
    assert_eq!(ok("unknown", store.lot(&lot_id(&unique("lt")))).await, None);
}

// ---------------------------------------------------------------- orders

pub async fn orders_are_idempotent_by_id_and_by_buyer_idem<S: Orders + ?Sized>(store: &S) {
    let buyer = user_id(&unique("buyer"));
    let other_buyer = user_id(&unique("buyer"));
    let seller = user_id(&unique("seller"));
    let idem = unique("idem");
    let o1 = order(&unique("ord"), &buyer, &seller, Some(&idem), 10);
    assert_eq!(ok("put", store.put_order(&o1)).await, PutOrder::Created);
    assert_eq!(
        ok("order", store.order(&o1.order_id)).await,
        Some(o1.clone())
    );

    // Same id again, even with other content: the stored order comes back.
    let changed = OrderRecord {
        qty: 7,
        idem: None,
        ..o1.clone()
    };
    assert_eq!(
        ok("put", store.put_order(&o1)).await,
        PutOrder::Existing(o1.clone())
    );
    assert_eq!(
        ok("put", store.put_order(&changed)).await,
        PutOrder::Existing(o1.clone())
    );
    // Same buyer and key under a new id: the first order, nothing written.
    let o2 = order(&unique("ord"), &buyer, &seller, Some(&idem), 20);
    assert_eq!(
        ok("put", store.put_order(&o2)).await,
        PutOrder::Existing(o1.clone())
    );
    assert_eq!(ok("order", store.order(&o2.order_id)).await, None);
    // The key is per buyer.
    let o3 = order(&unique("ord"), &other_buyer, &seller, Some(&idem), 30);
    assert_eq!(ok("put", store.put_order(&o3)).await, PutOrder::Created);
    // Orders without a key are never deduplicated by it.
    let o4 = order(&unique("ord"), &buyer, &seller, None, 40);
    let o5 = order(&unique("ord"), &buyer, &seller, None, 50);
    assert_eq!(ok("put", store.put_order(&o4)).await, PutOrder::Created);
    assert_eq!(ok("put", store.put_order(&o5)).await, PutOrder::Created);

    assert_eq!(
        ok("by buyer", store.orders_by_buyer(&buyer)).await,
        vec![o1, o4, o5]
    );
    assert_eq!(
        ok("by buyer", store.orders_by_buyer(&other_buyer)).await,
        vec![o3]
    );
}

pub async fn orders_listed_per_buyer_and_seller<S: Orders + ?Sized>(store: &S) {
    let b1 = unique("b");
    // Ids that extend other ids catch prefix scans without a separator.
    let b2 = user_id(&format!("{b1}x"));
    let b1 = user_id(&b1);
    let s1 = unique("s");
    let s2 = user_id(&format!("{s1}x"));
    let s1 = user_id(&s1);
    let o1 = order(&unique("ord"), &b1, &s1, None, 100);
    let o2 = order(&unique("ord"), &b2, &s1, Some("k"), 200);
    let o3 = order(&unique("ord"), &b1, &s2, Some("k"), 300);
    let o4 = order(&unique("ord"), &b1, &s1, None, 400);
    for o in [&o1, &o2, &o3, &o4] {
        assert_eq!(ok("put", store.put_order(o)).await, PutOrder::Created);
    }
    assert_eq!(
        ok("by buyer", store.orders_by_buyer(&b1)).await,
        vec![o1.clone(), o3.clone(), o4.clone()]
    );
    assert_eq!(
        ok("by buyer", store.orders_by_buyer(&b2)).await,
        vec![o2.clone()]
    );
    assert_eq!(
        ok("by seller", store.orders_by_seller(&s1)).await,
        vec![o1, o2, o4]
    );
    assert_eq!(ok("by seller", store.orders_by_seller(&s2)).await, vec![o3]);
    assert!(
        ok("by buyer", store.orders_by_buyer(&user_id(&unique("b"))))
            .await
            .is_empty()
    );
    assert!(
        ok("by seller", store.orders_by_seller(&user_id(&unique("s"))))
            .await
            .is_empty()
    );
}

pub async fn recent_orders_newest_first_by_room_and_since<S: Orders + ?Sized>(store: &S) {
    let s1 = unique("s");
    let s2 = user_id(&format!("{s1}x"));
    let s1 = user_id(&s1);
    let buyer = user_id(&unique("b"));
    let (room_a, room_b) = (room_id(&unique("ra")), room_id(&unique("rb")));
    // Stored out of time order, rooms interleaved: the listing follows
    // created_ms, and a room's orders are spread over the index.
    let times = [500, 100, 900, 300, 700, 200, 800, 400, 600];
    let mut all = Vec::new();
    for (i, t) in times.into_iter().enumerate() {
        let mut o = order(&unique("ord"), &buyer, &s1, None, t);
        o.room_id = if i % 3 == 0 {
            room_a.clone()
        } else {
            room_b.clone()
        };
        assert_eq!(ok("put", store.put_order(&o)).await, PutOrder::Created);
        all.push(o);
    }
    let mut other = order(&unique("ord"), &buyer, &s2, None, 1_000);
    other.room_id = room_a.clone();
    assert_eq!(ok("put", store.put_order(&other)).await, PutOrder::Created);
    all.sort_by_key(|o| std::cmp::Reverse(o.created_ms));
    let in_a: Vec<OrderRecord> = all
        .iter()
        .filter(|o| o.room_id == room_a)
        .cloned()
        .collect();
    let recent = |room: Option<&RoomId>, since_ms, limit| RecentOrders {
        room: room.cloned(),
        since_ms,
        limit,
    };
    let seller = &s1;
    let list = |q: RecentOrders| async move {
        ok("recent orders", store.recent_orders_by_seller(seller, &q)).await
    };
    assert_eq!(list(recent(None, 0, 3)).await, all[..3].to_vec());
    assert_eq!(list(recent(None, 0, 100)).await, all);
    assert_eq!(list(recent(Some(&room_a), 0, 2)).await, in_a[..2].to_vec());
    assert_eq!(list(recent(Some(&room_a), 0, 100)).await, in_a);
    // `since_ms` is inclusive and ends the read.
    let since: Vec<OrderRecord> = all
        .iter()
        .filter(|o| o.created_ms >= 400)
        .cloned()
        .collect();
    assert_eq!(list(recent(None, 400, 100)).await, since);
    assert_eq!(
        list(recent(Some(&room_a), 600, 100)).await,
        in_a.iter()
            .filter(|o| o.created_ms >= 600)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert!(list(recent(None, 0, 0)).await.is_empty());
    assert!(list(recent(None, 901, 10)).await.is_empty());
    assert!(
        list(recent(Some(&room_id(&unique("rc"))), 0, 10))
            .await
            .is_empty()
    );
    assert_eq!(
        ok(
            "recent orders",
            store.recent_orders_by_seller(&s2, &recent(None, 0, 10))
        )
        .await,
        vec![other]
    );
}

// ---------------------------------------------------------------- chat

pub async fn recent_chat_returns_newest_oldest_first<S: ChatHistory + ?Sized>(store: &S) {
    let room = unique("chat");
    let neighbour = format!("{room}x");
    let lines: Vec<ChatLine> = (1..=10).map(|i| chat(&room, 1_000 + i)).collect();
    for (i, line) in lines.iter().enumerate() {
        ok("append chat", store.append_chat(line)).await;
        if i % 3 == 0 {
            ok(
                "append chat",
                store.append_chat(&chat(&neighbour, 5_000 + i as u64)),
            )
            .await;
        }
    }
    let rid = room_id(&room);
    assert_eq!(
        ok("recent", store.recent_chat(&rid, 3)).await,
        lines[7..].to_vec()
    );
    assert_eq!(ok("recent", store.recent_chat(&rid, 100)).await, lines);
    assert!(ok("recent", store.recent_chat(&rid, 0)).await.is_empty());
    assert_eq!(
        ok("recent", store.recent_chat(&room_id(&neighbour), 100))
            .await
            .len(),
        4
    );
    assert!(
        ok("recent", store.recent_chat(&room_id(&unique("chat")), 10))
            .await
            .is_empty()
    );
}
