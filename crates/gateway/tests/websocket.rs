//! `GET /ws` over real sockets: auth, bad input, frame limits, joins and
//! replays, both codecs, lot commands, checkout idempotency, shutdown.

mod common;

use common::*;
use liveshop_gateway::{Rate, RateLimits};
use liveshop_protocol::Role;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A seller with a room, a buyer, and the room id.
async fn room_with_users(server: &TestServer) -> (User, User, String) {
    let api = server.api();
    let seller = api.register("seller", "seller").await;
    let buyer = api.register("buyer", "buyer").await;
    let room = api.room(&seller).await;
    (seller, buyer, room)
}

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

#[tokio::test]
async fn anonymous_connections_watch_but_cannot_act() {
    let server = TestServer::start().await;
    let (_, _, room) = room_with_users(&server).await;
    let mut ws = server.ws(None).await;
    assert_eq!(ws.protocol.as_deref(), Some("liveshop.v1.json"));
    let reply = ws.request(json!({"type": "join", "room": room})).await;
    assert_ok(&reply);
    assert_eq!(reply["snapshot"]["room"]["room_id"], room.as_str());
    assert!(reply["snapshot"]["seq"].is_u64(), "{reply}");
    for req in [
        json!({"type": "chat", "room": room, "text": "hi"}),
        json!({"type": "like", "room": room, "count": 1}),
        json!({"type": "bid", "lot": "L1", "amount": 100}),
        json!({"type": "hold", "lot": "L1", "qty": 1}),
        json!({"type": "open_lot", "lot": "L1"}),
    ] {
        assert_ws_error(&ws.request(req).await, "unauthorized");
    }
    assert_ok(&ws.request(json!({"type": "ping"})).await);
    assert_ok(&ws.request(json!({"type": "leave", "room": room})).await);
    let reply = ws
        .request(json!({"type": "join", "room": "NOSUCHROOM"}))
        .await;
    assert_ws_error(&reply, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_bad_request_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let (_, buyer, room) = room_with_users(&server).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    let cases = [
        (
            r#"{"type":"bid","rid":"a1","lot":"L1","amount":"#,
            Some("a1"),
            "truncated JSON",
        ),
        ("not json at all", None, "not JSON"),
        (
            r#"{"type":"teleport","rid":"a2"}"#,
            Some("a2"),
            "unknown type",
        ),
        (r#"{"rid":"a3","lot":"L1"}"#, Some("a3"), "no type"),
        (
            r#"{"type":"bid","rid":"a4","lot":"L1"}"#,
            Some("a4"),
            "missing amount",
        ),
        (
            r#"{"type":"bid","rid":"a5","lot":"L1","amount":-5}"#,
            Some("a5"),
            "negative amount",
        ),
        (
            r#"{"type":"bid","rid":"a6","lot":"L1","amount":18446744073709551616}"#,
            Some("a6"),
            "amount over u64",
        ),
        (
            r#"{"type":"bid","rid":"a7","lot":"L1","amount":1.5}"#,
            Some("a7"),
            "fractional amount",
        ),
        (
            r#"{"type":"hold","rid":"a8","lot":"L1","qty":0}"#,
            Some("a8"),
            "zero qty",
        ),
        (
            r#"{"type":"like","rid":"a9","room":"r","count":51}"#,
            Some("a9"),
            "too many likes",
        ),
        (
            r#"{"type":"join","rid":"b1","room":""}"#,
            Some("b1"),
            "empty id",
        ),
        (r#"[1,2,3]"#, None, "an array"),
    ];
    for (frame, rid, why) in cases {
        ws.send_raw(Message::text(frame)).await;
        let reply = ws.next().await;
        assert_ws_error(&reply, "bad_request");
        match rid {
            Some(rid) => assert_eq!(reply["rid"], rid, "{why}: {reply}"),
            None => assert!(reply.get("rid").is_none(), "{why}: {reply}"),
        }
    }
    let long = "x".repeat(501);
    let reply = ws
        .request(json!({"type": "chat", "room": room, "text": long}))
        .await;
    assert_ws_error(&reply, "bad_request");
    let reply = ws
        .request(json!({"type": "release", "hold": "not-a-hold-id"}))
        .await;
    assert_ws_error(&reply, "not_found");
    let reply = ws
        .request(json!({"type": "bid", "lot": "NOSUCHLOT", "amount": 100}))
        .await;
    assert_ws_error(&reply, "not_found");
    assert_ok(&ws.request(json!({"type": "ping"})).await);
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_checked_in_the_query_and_in_auth_messages() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;

    // A tampered token in the query: told so, and left anonymous.
    let mut ws = server.ws(Some(&tamper(&buyer.token))).await;
    assert_ws_error(&ws.next().await, "unauthorized");
    let chat = json!({"type": "chat", "room": room, "text": "hello"});
    assert_ws_error(&ws.request(chat.clone()).await, "unauthorized");

    // Bad auth messages are refused and the connection stays open.
    let expired = expired_token(&server, &buyer, Role::Buyer);
    for token in [tamper(&buyer.token), expired, "garbage".to_owned()] {
        let reply = ws.request(json!({"type": "auth", "token": token})).await;
        assert_ws_error(&reply, "unauthorized");
    }
    let reply = ws
        .request(json!({"type": "auth", "token": buyer.token}))
        .await;
    assert_ok(&reply);
    assert_eq!(reply["user_id"], buyer.id.as_str());
    assert_ok(&ws.request(chat.clone()).await);
    // Another user's token cannot take the connection over.
    let reply = ws
        .request(json!({"type": "auth", "token": seller.token}))
        .await;
    assert_ws_error(&reply, "bad_request");

    // A valid token in the query signs the connection in.
    let mut ws = server.ws(Some(&seller.token)).await;
    assert_ok(&ws.request(chat).await);
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009_and_others_are_still_served() {
    let server = TestServer::start().await;
    let (_, buyer, room) = room_with_users(&server).await;
    let mut other = server.ws(Some(&buyer.token)).await;
    assert_ok(&other.request(json!({"type": "join", "room": room})).await);

    let mut ws = server.ws(Some(&buyer.token)).await;
    let huge = format!(
        r#"{{"type":"chat","room":"{room}","text":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    // The send may fail once the server has closed; the close frame is what
    // matters.
    let _ = tokio::time::timeout(
        PATIENCE,
        futures_util::SinkExt::send(&mut ws.stream, Message::text(huge)),
    )
    .await;
    let frame = ws.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);

    assert_ok(&other.request(json!({"type": "ping"})).await);
    let mut fresh = server.ws(None).await;
    assert_ok(&fresh.request(json!({"type": "ping"})).await);
    server.stop().await;
}

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
async fn msgpack_connections_use_binary_frames_both_ways() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let mut ws = server.ws_msgpack(Some(&buyer.token)).await;
    assert_eq!(ws.protocol.as_deref(), Some("liveshop.v1.msgpack"));
    let joined = ws.request(json!({"type": "join", "room": room})).await;
    assert_ok(&joined);
    assert_eq!(joined["snapshot"]["room"]["room_id"], room.as_str());
    let start = joined["snapshot"]["seq"].as_u64().unwrap();

    let mut host = server.ws(Some(&seller.token)).await;
    assert_ok(
        &host
            .request(json!({"type": "chat", "room": room, "text": "binary?"}))
            .await,
    );
    let v = ws
        .next_matching(|v| v["type"] == "event" && v["event"]["kind"] == "chat")
        .await;
    assert!(seq(&v) > start);
    assert_eq!(v["event"]["text"], "binary?");

    // Bad MessagePack is a bad_request too, and the rid survives when readable.
    ws.send_raw(Message::binary(vec![0xc1, 0x00])).await;
    assert_ws_error(&ws.next().await, "bad_request");
    let reply = ws
        .request(json!({"type": "bid", "lot": "L1", "amount": -1}))
        .await;
    assert_ws_error(&reply, "bad_request");
    assert_ok(&ws.request(json!({"type": "ping"})).await);
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
async fn acting_requests_are_rate_limited_per_user() {
    let mut config = test_config();
    config.limits.rates = RateLimits {
        chat: Rate::new(1, 2),
        ..RateLimits::unlimited()
    };
    let server = TestServer::start_with(config).await;
    let (_, buyer, room) = room_with_users(&server).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    let chat = json!({"type": "chat", "room": room, "text": "spam"});
    assert_ok(&ws.request(chat.clone()).await);
    assert_ok(&ws.request(chat.clone()).await);
    assert_ws_error(&ws.request(chat.clone()).await, "rate_limited");
    // The same user on another connection shares the bucket.
    let mut other = server.ws(Some(&buyer.token)).await;
    assert_ws_error(&other.request(chat).await, "rate_limited");
    assert_ok(&other.request(json!({"type": "ping"})).await);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_websockets_with_going_away() {
    let server = TestServer::start().await;
    let (_, buyer, room) = room_with_users(&server).await;
    let mut ws = server.ws(Some(&buyer.token)).await;
    assert_ok(&ws.request(json!({"type": "join", "room": room})).await);
    let stopping = tokio::spawn(server.stop());
    let frame = ws.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Away);
    stopping.await.expect("stop");
}
