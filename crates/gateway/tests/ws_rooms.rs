//! `GET /ws` over real sockets, rooms and lots: join snapshots and replays,
//! event order, host-only commands, bids, idempotent checkout, lagging.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn join_answers_a_snapshot_then_every_later_event_in_order() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let api = server.api();
    let lot = api.lot(&seller, &room, sale_spec()).await;

    let mut watcher = server.ws(Some(&buyer.token)).await;
    let joined = watcher.request(json!({"type": "join", "room": room})).await;
    assert_ok(&joined);
    let snapshot = &joined["snapshot"];
    assert!(
        snapshot["lots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["lot"] == lot.as_str()),
        "{joined}"
    );
    let start = snapshot["seq"].as_u64().unwrap();

    let mut host = server.ws(Some(&seller.token)).await;
    let opened = host.request(json!({"type": "open_lot", "lot": lot})).await;
    assert_ok(&opened);
    assert!(opened["opens_ms"].is_u64(), "{opened}");
    for i in 0..3 {
        let chat = json!({"type": "chat", "room": room, "text": format!("hello {i}")});
        assert_ok(&host.request(chat).await);
    }

    // The lot event, then the three chats, with consecutive seqs.
    let mut expected = start + 1;
    let mut chats = Vec::new();
    while chats.len() < 3 {
        let v = watcher.next_matching(|v| v["type"] == "event").await;
        assert_eq!(v["room"], room.as_str());
        assert_eq!(seq(&v), expected, "no gaps: {v}");
        expected += 1;
        match v["event"]["kind"].as_str() {
            Some("chat") => {
                assert_eq!(v["event"]["name"], "seller");
                assert_eq!(v["event"]["user"], seller.id.as_str());
                chats.push(v["event"]["text"].as_str().unwrap().to_owned());
            }
            Some("lot") => {
                assert_eq!(v["event"]["lot"], lot.as_str());
                assert_eq!(v["event"]["lot_kind"], "sale");
            }
            _ => {}
        }
    }
    assert_eq!(chats, ["hello 0", "hello 1", "hello 2"]);
    server.stop().await;
}

#[tokio::test]
async fn join_since_replays_what_was_missed() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let mut host = server.ws(Some(&seller.token)).await;
    assert_ok(
        &host
            .request(json!({"type": "chat", "room": room, "text": "first"}))
            .await,
    );

    let mut ws = server.ws(Some(&buyer.token)).await;
    let joined = ws.request(json!({"type": "join", "room": room})).await;
    let since = joined["snapshot"]["seq"].as_u64().unwrap();
    drop(ws);

    for text in ["missed 1", "missed 2"] {
        assert_ok(
            &host
                .request(json!({"type": "chat", "room": room, "text": text}))
                .await,
        );
    }
    let mut ws = server.ws(Some(&buyer.token)).await;
    let reply = ws
        .request(json!({"type": "join", "room": room, "since": since}))
        .await;
    assert_ok(&reply);
    let mut texts = Vec::new();
    if reply.get("snapshot").is_some() {
        // The node could not replay: it must say so.
        assert_eq!(reply["snapshot"]["reset"], true, "{reply}");
    } else {
        let mut expected = since + 1;
        while texts.len() < 2 {
            let v = ws.next_matching(|v| v["type"] == "event").await;
            assert_eq!(seq(&v), expected, "{v}");
            expected += 1;
            if v["event"]["kind"] == "chat" {
                texts.push(v["event"]["text"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(texts, ["missed 1", "missed 2"]);
    }
    server.stop().await;
}

#[tokio::test]
async fn host_commands_from_a_buyer_are_forbidden() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let lot = server.api().lot(&seller, &room, auction_spec()).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    for req in [
        json!({"type": "open_lot", "lot": lot}),
        json!({"type": "close_lot", "lot": lot}),
        json!({"type": "pin", "room": room, "lot": lot}),
    ] {
        assert_ws_error(&ws.request(req).await, "forbidden");
    }
    let mut host = server.ws(Some(&seller.token)).await;
    assert_ok(
        &host
            .request(json!({"type": "pin", "room": room, "lot": lot}))
            .await,
    );
    server.stop().await;
}

#[tokio::test]
async fn bids_follow_the_lot_state_and_its_minimum() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let lot = server.api().lot(&seller, &room, auction_spec()).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    let mut host = server.ws(Some(&seller.token)).await;

    let bid = |amount: u64| json!({"type": "bid", "lot": lot, "amount": amount});
    assert_ws_error(&ws.request(bid(1500)).await, "lot_not_open");
    assert_ok(&host.request(json!({"type": "open_lot", "lot": lot})).await);
    let low = ws.request(bid(500)).await;
    assert_ws_error(&low, "bid_too_low");
    assert_eq!(low["min_amount"], 1000, "{low}");
    let ok = ws.request(bid(1500)).await;
    assert_ok(&ok);
    assert_eq!(
        (ok["lot_seq"].as_u64(), ok["amount"].as_u64()),
        (Some(1), Some(1500)),
        "{ok}"
    );
    let proxy = ws
        .request(json!({"type": "max_bid", "lot": lot, "amount": 5000}))
        .await;
    assert_ok(&proxy);
    assert!(proxy["current"].is_u64(), "{proxy}");

    assert_ok(&host.request(json!({"type": "close_lot", "lot": lot})).await);
    assert_ws_error(&ws.request(bid(9000)).await, "lot_not_open");
    assert_ws_error(
        &host.request(json!({"type": "open_lot", "lot": lot})).await,
        "bad_state",
    );
    server.stop().await;
}

#[tokio::test]
async fn checkout_with_the_same_idem_key_makes_one_order() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let api = server.api();
    let lot = api.lot(&seller, &room, sale_spec()).await;
    let mut host = server.ws(Some(&seller.token)).await;
    assert_ok(&host.request(json!({"type": "open_lot", "lot": lot})).await);

    let mut ws = server.ws(Some(&buyer.token)).await;
    let held = ws
        .request(json!({"type": "hold", "lot": lot, "qty": 1}))
        .await;
    assert_ok(&held);
    assert_eq!(held["qty"], 1);
    assert!(held["expires_ms"].is_u64(), "{held}");
    let hold = held["hold"].as_str().unwrap().to_owned();

    let checkout = json!({"type": "checkout", "hold": hold, "idem": "k-1"});
    let first = ws.request(checkout.clone()).await;
    assert_ok(&first);
    assert_eq!(first["amount"], 2500);
    let second = ws.request(checkout).await;
    assert_ok(&second);
    assert_eq!(second["order"], first["order"], "same order again");

    // The order listing is written after the lot's events are durable.
    let mut orders = Vec::new();
    for _ in 0..100 {
        let (_, body) = api.get("/api/v1/orders", Some(&buyer.token)).await;
        orders = body["orders"].as_array().cloned().unwrap_or_default();
        if !orders.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["order"], first["order"]);
    assert_eq!(orders[0]["buyer"], buyer.id.as_str());
    let (_, body) = api.get("/api/v1/seller/orders", Some(&seller.token)).await;
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["orders"][0]["seller"], seller.id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_told_and_resynchronised_without_gaps() {
    let mut config = test_config();
    config.limits.conn_queue = 2;
    let server = TestServer::start_with(config).await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let mut slow = Ws::connect_with(server.addr, Some(&buyer.token), Codec::Json, Some(4096)).await;
    let joined = slow.request(json!({"type": "join", "room": room})).await;
    let start = joined["snapshot"]["seq"].as_u64().unwrap();

    // The slow client reads nothing while the host floods the room, until
    // its socket and then its queue are full.
    let mut host = server.ws(Some(&seller.token)).await;
    let text = "y".repeat(400);
    // Past the server's socket send buffer (up to 4 MiB on Linux): about
    // 6 MiB of events, sent 250 requests at a time.
    let chats = 10_000u64;
    for _ in 0..chats / 250 {
        for _ in 0..250 {
            host.send(json!({"type": "chat", "room": room, "text": text}))
                .await;
        }
        for _ in 0..250 {
            assert_ok(&host.next().await);
        }
    }

    // Then it reads: every chat exactly once, in seq order, and a `lagged`
    // notice somewhere in between (or a reset snapshot to start over from).
    let mut expected = start + 1;
    let mut seen_chats = 0;
    let mut lagged = false;
    while seen_chats < chats {
        let v = slow.next().await;
        match v["type"].as_str() {
            Some("event") => {
                assert_eq!(seq(&v), expected, "gap or repeat after {seen_chats} chats");
                expected += 1;
                if v["event"]["kind"] == "chat" {
                    seen_chats += 1;
                }
            }
            Some("notice") if v["notice"]["kind"] == "lagged" => lagged = true,
            Some("ok") if v.get("snapshot").is_some() => {
                assert!(lagged, "a snapshot only after lagged: {v}");
                assert_eq!(v["snapshot"]["reset"], true, "{v}");
                // Too much was missed to replay: it starts over from here.
                break;
            }
            _ => panic!("unexpected {v}"),
        }
    }
    assert!(lagged, "the flood should have overrun a 2-message queue");
    assert_ok(&slow.request(json!({"type": "ping"})).await);
    server.stop().await;
}

#[tokio::test]
async fn the_host_mutes_and_bans_and_nobody_else_can() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let other = server.api().register("other", "buyer").await;
    let mut host = server.ws(Some(&seller.token)).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    let mut watcher = server.ws(Some(&other.token)).await;
    assert_ok(&ws.request(json!({"type": "join", "room": room})).await);
    assert_ok(&watcher.request(json!({"type": "join", "room": room})).await);
    let moderate = |user: &str, action: &str| json!({"type": "moderate", "room": room, "user": user, "action": action});
    let chat = |text: &str| json!({"type": "chat", "room": room, "text": text});
    let like = json!({"type": "like", "room": room, "count": 1});

    // Only the host moderates; signed-out connections are told to sign in.
    assert_ws_error(
        &watcher.request(moderate(&buyer.id, "mute")).await,
        "forbidden",
    );
    assert_ws_error(&ws.request(moderate(&other.id, "ban")).await, "forbidden");
    let mut anon = server.ws(None).await;
    assert_ws_error(
        &anon.request(moderate(&buyer.id, "mute")).await,
        "unauthorized",
    );

    // Bad input: a clear error, the connection stays usable.
    let unknown = host
        .request(json!({"type": "moderate", "room": room, "user": buyer.id, "action": "kick"}))
        .await;
    assert_ws_error(&unknown, "bad_request");
    assert!(
        unknown["message"].as_str().unwrap().contains("kick"),
        "{unknown}"
    );
    let missing = host
        .request(json!({"type": "moderate", "room": room, "action": "mute"}))
        .await;
    assert_ws_error(&missing, "bad_request");
    assert!(
        missing["message"].as_str().unwrap().contains("user"),
        "{missing}"
    );
    assert_ws_error(
        &host.request(moderate("nobody-like-this", "mute")).await,
        "not_found",
    );
    assert_ws_error(
        &host
            .request(json!({"type": "moderate", "room": "no-such-room", "user": buyer.id, "action": "mute"}))
            .await,
        "not_found",
    );
    assert_ws_error(
        &host.request(moderate(&seller.id, "mute")).await,
        "bad_request",
    );

    // Muted: chat refused, likes still count; unmuted: chat again.
    assert_ok(&host.request(moderate(&buyer.id, "mute")).await);
    assert_ws_error(&ws.request(chat("can I talk?")).await, "forbidden");
    assert_ok(&ws.request(like.clone()).await);
    assert_ok(&host.request(moderate(&buyer.id, "unmute")).await);
    assert_ok(&ws.request(chat("back again")).await);

    // Banned: the joined connection is told and stops getting the room.
    assert_ok(&host.request(moderate(&buyer.id, "ban")).await);
    let notice = ws.next_matching(|v| v["type"] == "notice").await;
    assert_eq!(
        notice["notice"],
        json!({"kind": "banned", "room": room}),
        "{notice}"
    );
    assert_ok(&host.request(chat("after the ban")).await);
    let seen = watcher
        .next_matching(|v| v["type"] == "event" && v["event"]["text"] == "after the ban")
        .await;
    assert_eq!(seen["room"], room.as_str());
    // The event reached the others; give the banned connection the chance
    // to (wrongly) receive it before its ping is answered.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    ws.send(json!({"type": "ping", "rid": "after-ban"})).await;
    loop {
        let v = ws.next().await;
        if v["rid"] == "after-ban" {
            break;
        }
        assert_ne!(v["type"], "event", "a banned connection got {v}");
    }
    assert_ws_error(&ws.request(chat("hello?")).await, "forbidden");
    assert_ws_error(&ws.request(like.clone()).await, "forbidden");
    assert_ws_error(
        &ws.request(json!({"type": "join", "room": room})).await,
        "forbidden",
    );
    let mut fresh = server.ws(Some(&buyer.token)).await;
    assert_ws_error(
        &fresh.request(json!({"type": "join", "room": room})).await,
        "forbidden",
    );

    // Unbanned: may join and chat again.
    assert_ok(&host.request(moderate(&buyer.id, "unban")).await);
    assert_ok(&fresh.request(json!({"type": "join", "room": room})).await);
    assert_ok(&fresh.request(chat("thanks")).await);
    server.stop().await;
}

#[tokio::test]
async fn seller_orders_filter_by_room_and_keep_the_newest_first() {
    let server = TestServer::start().await;
    let (seller, buyer, room_a) = room_with_users(&server).await;
    let api = server.api();
    let room_b = api.room(&seller).await;
    let lot_a = api.lot(&seller, &room_a, sale_spec()).await;
    let lot_b = api.lot(&seller, &room_b, sale_spec()).await;
    let mut host = server.ws(Some(&seller.token)).await;
    for lot in [&lot_a, &lot_b] {
        assert_ok(&host.request(json!({"type": "open_lot", "lot": lot})).await);
    }
    let mut ws = server.ws(Some(&buyer.token)).await;
    let mut bought = Vec::new();
    for (i, lot) in [&lot_a, &lot_a, &lot_b].into_iter().enumerate() {
        let held = ws
            .request(json!({"type": "hold", "lot": lot, "qty": 1}))
            .await;
        assert_ok(&held);
        let order = ws
            .request(json!({"type": "checkout", "hold": held["hold"], "idem": format!("k-{i}")}))
            .await;
        assert_ok(&order);
        bought.push(order["order"].as_str().unwrap().to_owned());
        // Distinct `created_ms`, so "newest" is not decided by the tie-break.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let ids = |body: &Value| -> Vec<String> {
        body["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("no orders in {body}"))
            .iter()
            .map(|o| o["order"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // The listing is written after the lot's events are durable.
    let mut all = Vec::new();
    for _ in 0..100 {
        let (_, body) = api.get("/api/v1/seller/orders", Some(&seller.token)).await;
        all = ids(&body);
        if all.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(all.len(), 3, "{all:?}");

    let get = |query: String| {
        let api = &api;
        let token = seller.token.clone();
        async move {
            api.get(&format!("/api/v1/seller/orders?{query}"), Some(&token))
                .await
        }
    };
    let (status, body) = get(format!("room={room_a}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut in_a = ids(&body);
    in_a.sort();
    let mut want = bought[..2].to_vec();
    want.sort();
    assert_eq!(in_a, want);
    let (_, body) = get(format!("room={room_a}&limit=1")).await;
    assert_eq!(ids(&body), [bought[1].clone()]);
    let (_, body) = get("limit=2".into()).await;
    assert_eq!(ids(&body), [bought[2].clone(), bought[1].clone()]);
    let (_, body) = get(format!("room={room_b}&limit=1000")).await;
    assert_eq!(ids(&body), [bought[2].clone()]);
    // A room that is not the seller's, or no room: none of their orders.
    let other = api.register("other-seller", "seller").await;
    let room_c = api.room(&other).await;
    for query in [
        format!("room={room_c}&limit=10"),
        "room=nosuchroom&limit=10".into(),
    ] {
        let (status, body) = get(query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ids(&body), Vec::<String>::new());
    }
    // And the other seller does not see these orders in its own listing.
    let (_, body) = api
        .get(
            &format!("/api/v1/seller/orders?room={room_a}&limit=10"),
            Some(&other.token),
        )
        .await;
    assert_eq!(ids(&body), Vec::<String>::new());
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=many",
        "room=no%20such%20room",
    ] {
        let (status, body) = get(bad.into()).await;
        assert_error(status, &body, 400, "bad_request");
    }
    server.stop().await;
}
