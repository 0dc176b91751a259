//! `GET /ws` over real sockets, the connection itself: auth, bad input,
//! frame limits, both codecs, rate limits, idle timeout, shutdown.

mod common;

use common::*;
use liveshop_gateway::{Rate, RateLimits};
use liveshop_protocol::Role;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let mut config = test_config();
    config.limits.ping_interval = std::time::Duration::from_millis(200);
    config.limits.idle_timeout = std::time::Duration::from_millis(600);
    let server = TestServer::start_with(config).await;
    let mut ws = server.ws(None).await;
    assert_ok(&ws.request(json!({"type": "ping"})).await);
    // This client answers no ping while it is not reading.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let frame = ws.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Normal);
    server.stop().await;
}
