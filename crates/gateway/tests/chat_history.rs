//! `GET /api/v1/rooms/{room_id}/chat` over real sockets: what was said in a
//! room before a page joined, newest `limit` lines, oldest first.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_late_viewer_reads_the_rooms_newest_chat_lines() {
    let server = TestServer::start().await;
    let (seller, buyer, room) = room_with_users(&server).await;
    let api = server.api();
    let mut ws = server.ws(Some(&buyer.token)).await;
    assert_ok(&ws.request(json!({"type": "join", "room": room})).await);
    for i in 1..=5 {
        let line = json!({"type": "chat", "room": room, "text": format!("line {i}")});
        assert_ok(&ws.request(line).await);
    }
    let texts = |body: &Value| -> Vec<String> {
        body["lines"]
            .as_array()
            .unwrap_or_else(|| panic!("no lines in {body}"))
            .iter()
            .map(|l| l["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // Lines are saved just after they are published.
    let path = format!("/api/v1/rooms/{room}/chat");
    let mut body = Value::Null;
    for _ in 0..100 {
        body = api.get(&path, None).await.1;
        if texts(&body).len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        texts(&body),
        ["line 1", "line 2", "line 3", "line 4", "line 5"]
    );
    let first = &body["lines"][0];
    assert_eq!(first["user"], buyer.id.as_str(), "{first}");
    assert!(
        first["name"].is_string() && first["at_ms"].is_u64(),
        "{first}"
    );

    let (_, body) = api
        .get(&format!("{path}?limit=2"), Some(&seller.token))
        .await;
    assert_eq!(texts(&body), ["line 4", "line 5"]);
    for bad in ["limit=0", "limit=201", "limit=some"] {
        let (status, body) = api.get(&format!("{path}?{bad}"), None).await;
        assert_error(status, &body, 400, "bad_request");
    }
    let (status, body) = api
        .get("/api/v1/rooms/01J0000000000000000000NONE/chat", None)
        .await;
    assert_error(status, &body, 404, "not_found");
    server.stop().await;
}
