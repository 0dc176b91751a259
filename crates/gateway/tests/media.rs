//! The RTMP server's hooks (`/media/*`, and the `/rtmp/*` aliases) and
//! stream key rotation, with the forms nginx-rtmp sends: who may go live,
//! what a duplicate publisher and its end do, a lost end taken over by an
//! update, a publisher that goes silent (its end lost), and a rotated key.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One publisher as nginx-rtmp names it in its hooks.
#[derive(Clone, Copy)]
struct Encoder {
    clientid: u32,
    addr: &'static str,
}

const FIRST: Encoder = Encoder {
    clientid: 1,
    addr: "203.0.113.7",
};
const SECOND: Encoder = Encoder {
    clientid: 9,
    addr: "203.0.113.7",
};

/// `POST <base>/<hook>` with nginx-rtmp's form; the status, the
/// `Location` header and the body.
async fn hook(
    api: &Api,
    base: &str,
    hook: &str,
    name: &str,
    enc: Encoder,
) -> (StatusCode, Option<String>, String) {
    let (hook, call) = match hook {
        "on_publish" => (hook, "publish"),
        "on_publish_done" => (hook, "publish_done"),
        "on_update_play" => ("on_update", "update_play"),
        _ => (hook, "update_publish"),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let body = format!(
        "app=live&flashver=FMLE%2F3.0&swfurl=&tcurl=rtmp%3A%2F%2F127.0.0.1%2Flive&pageurl=\
         &addr={}&clientid={}&call={call}&name={name}&type=live",
        enc.addr, enc.clientid
    );
    let req = client
        .post(format!("{}{base}/{hook}", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    let resp = tokio::time::timeout(PATIENCE, req.send())
        .await
        .expect("hook in time")
        .expect("hook");
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.expect("body");
    (status, location, text)
}

async fn publish(api: &Api, key: &str, enc: Encoder) -> (StatusCode, Option<String>, String) {
    hook(api, "/media", "on_publish", key, enc).await
}

async fn done(api: &Api, name: &str, enc: Encoder) -> (StatusCode, String) {
    let (status, _, body) = hook(api, "/media", "on_publish_done", name, enc).await;
    (status, body)
}

async fn update(api: &Api, name: &str, enc: Encoder) -> (StatusCode, String) {
    let (status, _, body) = hook(api, "/media", "on_update", name, enc).await;
    (status, body)
}

/// A seller's new room: (seller, room id, stream key).
async fn seller_room(api: &Api, name: &str) -> (User, String, String) {
    let seller = api.register(name, "seller").await;
    let (room, key) = api.room_with_key(&seller).await;
    (seller, room, key)
}

async fn status(api: &Api, room: &str) -> String {
    let (code, body) = api.get(&format!("/api/v1/rooms/{room}"), None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap_or_default().to_owned()
}

async fn live_ids(api: &Api) -> Vec<String> {
    let (code, body) = api.get("/api/v1/rooms?status=live", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["rooms"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| r["room_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `live` events a viewer receives: at least `want` of them, then any
/// more that come before the replies to two `ping`s. (A connection may
/// write a reply before an event queued just ahead of it, so the pings
/// only catch extra events, never stand in for awaited ones.)
async fn live_events(ws: &mut Ws, want: usize) -> Vec<bool> {
    let mut seen = Vec::new();
    let is_live = |v: &Value| v["type"] == "event" && v["event"]["kind"] == "live";
    while seen.len() < want {
        let v = ws.next_matching(is_live).await;
        seen.push(v["event"]["on"].as_bool().expect("on"));
    }
    for rid in ["sync1", "sync2"] {
        ws.send(json!({"type": "ping", "rid": rid})).await;
        loop {
            let v = ws.next().await;
            if v["rid"] == rid {
                break;
            }
            if is_live(&v) {
                seen.push(v["event"]["on"].as_bool().expect("on"));
            }
        }
    }
    seen
}

async fn watch(server: &TestServer, room: &str) -> Ws {
    let mut ws = server.ws(None).await;
    let joined: Value = ws.request(json!({"type": "join", "room": room})).await;
    assert_ok(&joined);
    ws
}

#[tokio::test]
async fn a_stream_key_makes_its_room_live_and_its_end_offline_at_both_paths() {
    let server = TestServer::start().await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;

    for base in ["/media", "/rtmp"] {
        let (code, location, _) = hook(&api, base, "on_publish", &key, FIRST).await;
        assert_eq!(code, StatusCode::FOUND, "{base}");
        // The rename: HLS is written under the room id, never the key.
        assert_eq!(location.as_deref(), Some(room.as_str()), "{base}");
        assert_eq!(live_events(&mut ws, 1).await, vec![true], "{base}");
        assert_eq!(status(&api, &room).await, "live");
        assert_eq!(live_ids(&api).await, vec![room.clone()]);

        // nginx reports the end with the name the encoder pushed to.
        let (code, _, body) = hook(&api, base, "on_publish_done", &key, FIRST).await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "ok"), "{base}");
        assert_eq!(live_events(&mut ws, 1).await, vec![false], "{base}");
        assert_eq!(status(&api, &room).await, "offline");
        assert!(live_ids(&api).await.is_empty());
    }
    // The end may also name the renamed stream (the room id).
    publish(&api, &key, FIRST).await;
    assert_eq!(done(&api, &room, FIRST).await.0, StatusCode::OK);
    assert_eq!(live_events(&mut ws, 2).await, vec![true, false]);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_refused_without_echoing_it() {
    let server = TestServer::start().await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;
    let wrong = format!("{key}x");
    // A room id is public: it is not a key either.
    for name in [wrong.as_str(), room.as_str(), "", "%00%ff"] {
        let (code, location, body) = publish(&api, name, FIRST).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{name:?}: {body}");
        assert_eq!(location, None);
        let body: Value = serde_json::from_str(&body).expect("json error");
        assert_eq!(body["error"]["code"], "forbidden");
        assert!(!body.to_string().contains(&key), "{body}");
    }
    // A form without a name is malformed.
    let client = reqwest::Client::new();
    let req = client
        .post(format!("{}/media/on_publish", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("call=publish&app=live");
    assert_eq!(api.send(req).await.0, StatusCode::BAD_REQUEST);
    // Ends of unknown streams change nothing.
    assert_eq!(done(&api, &wrong, FIRST).await.0, StatusCode::NOT_FOUND);
    assert!(live_events(&mut ws, 0).await.is_empty());
    assert_eq!(status(&api, &room).await, "offline");
    assert!(live_ids(&api).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_second_encoder_on_a_live_key_neither_takes_over_nor_ends_the_stream() {
    let server = TestServer::start().await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;
    assert_eq!(publish(&api, &key, FIRST).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![true]);

    // nginx asks about the duplicate, is told the same rename (so it
    // refuses the duplicate itself), and then reports the duplicate's end.
    let (code, location, _) = publish(&api, &key, SECOND).await;
    assert_eq!(code, StatusCode::FOUND);
    assert_eq!(location.as_deref(), Some(room.as_str()));
    assert_eq!(
        done(&api, &key, SECOND).await,
        (StatusCode::OK, "ignored".to_owned())
    );
    assert!(
        live_events(&mut ws, 0).await.is_empty(),
        "the stream was disturbed"
    );
    assert_eq!(status(&api, &room).await, "live");
    assert_eq!(live_ids(&api).await, vec![room.clone()]);
    // nginx's reports of the running stream change nothing either.
    assert_eq!(
        update(&api, &key, FIRST).await,
        (StatusCode::OK, "ok".to_owned())
    );

    // Its own end does.
    assert_eq!(
        done(&api, &key, FIRST).await,
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(live_events(&mut ws, 1).await, vec![false]);
    // A reconnect after the end is the normal path: live again.
    assert_eq!(publish(&api, &key, SECOND).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![true]);
    server.stop().await;
}

#[tokio::test]
async fn an_update_from_the_streaming_publisher_takes_over_a_lost_end() {
    let server = TestServer::start().await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;
    publish(&api, &key, FIRST).await;
    // FIRST's end never reached the node; nginx accepted SECOND.
    assert_eq!(publish(&api, &key, SECOND).await.0, StatusCode::FOUND);
    assert_eq!(
        update(&api, &key, SECOND).await,
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(live_events(&mut ws, 1).await, vec![true], "one live event");
    assert_eq!(
        done(&api, &key, FIRST).await,
        (StatusCode::OK, "ignored".to_owned()),
        "the lost publisher no longer ends the stream"
    );
    assert_eq!(status(&api, &room).await, "live");
    assert_eq!(
        done(&api, &key, SECOND).await,
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(live_events(&mut ws, 1).await, vec![false]);
    // A report racing with the end does not revive the room, and updates
    // are always 2xx (nginx would drop a stream on an error status).
    assert_eq!(update(&api, &key, SECOND).await.0, StatusCode::OK);
    assert_eq!(
        update(&api, "no-such-stream", SECOND).await.0,
        StatusCode::OK
    );
    // nginx's relay sessions report themselves too (`update_play`, named
    // by the room id): never a publisher.
    publish(&api, &key, FIRST).await;
    let relay = Encoder {
        clientid: 3,
        addr: "127.0.0.1:1935/hls",
    };
    let (code, _, body) = hook(&api, "/media", "on_update_play", &room, relay).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, "ignored"));
    assert_eq!(
        done(&api, &key, FIRST).await,
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(live_events(&mut ws, 2).await, vec![true, false]);
    let client = reqwest::Client::new();
    let req = client
        .post(format!("{}/media/on_update", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%");
    assert_eq!(api.send(req).await.0, StatusCode::OK);
    assert!(live_events(&mut ws, 0).await.is_empty());
    assert_eq!(status(&api, &room).await, "offline");
    server.stop().await;
}

#[tokio::test]
async fn only_the_host_rotates_the_key_and_the_old_one_stops_starting_streams() {
    let server = TestServer::start().await;
    let api = server.api();
    let (host, room, old_key) = seller_room(&api, "sam").await;
    let path = format!("/api/v1/rooms/{room}/stream_key");

    // Others: anonymous 401, another seller or a buyer 403, unknown rooms 404.
    let (code, body) = api.post(&path, None, json!({})).await;
    assert_error(code, &body, 401, "unauthorized");
    let other = api.register("oli", "seller").await;
    let buyer = api.register("bea", "buyer").await;
    for user in [&other, &buyer] {
        let (code, body) = api.post(&path, Some(&user.token), json!({})).await;
        assert_error(code, &body, 403, "forbidden");
    }
    for missing in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "bad%20id"] {
        let (code, body) = api
            .post(
                &format!("/api/v1/rooms/{missing}/stream_key"),
                Some(&host.token),
                json!({}),
            )
            .await;
        assert_error(code, &body, 404, "not_found");
    }
    assert_eq!(publish(&api, &old_key, FIRST).await.0, StatusCode::FOUND);

    // The host, while live: a new key.
    let (code, body) = api.post(&path, Some(&host.token), json!({})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let new_key = body["stream_key"].as_str().expect("stream_key").to_owned();
    assert_eq!(new_key.len(), old_key.len());
    assert_ne!(new_key, old_key);
    assert_eq!(body["rtmp_url"], "rtmp://127.0.0.1:1935/live");
    // No one else ever sees it.
    let (_, view) = api.get(&format!("/api/v1/rooms/{room}"), None).await;
    assert!(!view.to_string().contains(&new_key), "{view}");

    // The running stream goes on; its end (named by the old key) still
    // takes the room offline.
    assert_eq!(status(&api, &room).await, "live");
    assert_eq!(
        done(&api, &old_key, FIRST).await,
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(status(&api, &room).await, "offline");
    // The old key starts nothing; the new one does.
    assert_eq!(
        publish(&api, &old_key, SECOND).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(status(&api, &room).await, "offline");
    let (code, location, _) = publish(&api, &new_key, SECOND).await;
    assert_eq!(code, StatusCode::FOUND);
    assert_eq!(location.as_deref(), Some(room.as_str()));
    assert_eq!(status(&api, &room).await, "live");
    server.stop().await;
}

/// A server whose room publishers time out after `timeout` without an
/// update, with a fast directory heartbeat.
async fn server_with_publisher_timeout(timeout: std::time::Duration) -> TestServer {
    let config = liveshop_gateway::GatewayConfig {
        room_heartbeat: std::time::Duration::from_millis(100),
        ..test_config()
    };
    let actors = liveshop_actors::ActorConfig {
        room_tick: std::time::Duration::from_millis(20),
        publisher_timeout: Some(timeout),
        ..liveshop_actors::ActorConfig::default()
    };
    TestServer::start_with_actors(config, actors).await
}

#[tokio::test]
async fn a_silent_publisher_times_out_and_the_room_goes_offline_by_itself() {
    let timeout = std::time::Duration::from_millis(600);
    let server = server_with_publisher_timeout(timeout).await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;
    let started = std::time::Instant::now();
    assert_eq!(publish(&api, &key, FIRST).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![true]);
    assert_eq!(live_ids(&api).await, vec![room.clone()]);
    // No update, no on_publish_done (nginx crashed): offline by itself, as
    // if the end had arrived, within a bounded wait.
    assert_eq!(live_events(&mut ws, 1).await, vec![false]);
    let took = started.elapsed();
    assert!(took >= timeout, "not before the timeout: {took:?}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert_eq!(status(&api, &room).await, "offline");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !live_ids(&api).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the directory still lists the room"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The late end of that stream changes nothing; the seller streams again.
    assert_eq!(done(&api, &key, FIRST).await.0, StatusCode::OK);
    assert_eq!(publish(&api, &key, SECOND).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![true]);
    assert_eq!(status(&api, &room).await, "live");
    server.stop().await;
}

#[tokio::test]
async fn a_publisher_that_keeps_updating_stays_live_past_the_timeout() {
    let timeout = std::time::Duration::from_millis(600);
    let server = server_with_publisher_timeout(timeout).await;
    let api = server.api();
    let (_, room, key) = seller_room(&api, "sam").await;
    let mut ws = watch(&server, &room).await;
    assert_eq!(publish(&api, &key, FIRST).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![true]);
    // Updates every 200 ms for 4 timeouts' worth.
    for _ in 0..12 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            update(&api, &key, FIRST).await,
            (StatusCode::OK, "ok".to_owned())
        );
    }
    assert!(live_events(&mut ws, 0).await.is_empty(), "still live");
    assert_eq!(status(&api, &room).await, "live");
    assert_eq!(live_ids(&api).await, vec![room.clone()]);
    // A refused duplicate's hooks do not keep the stream alive either way:
    // once the updates stop, it ends.
    assert_eq!(publish(&api, &key, SECOND).await.0, StatusCode::FOUND);
    assert_eq!(live_events(&mut ws, 1).await, vec![false]);
    assert_eq!(status(&api, &room).await, "offline");
    server.stop().await;
}
