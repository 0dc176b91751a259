//! The gateway on the shared cache: refresh families revoked there, the
//! live-room directory kept by the RTMP hooks and the heartbeat, and a
//! gateway that keeps serving when the cache is down.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use liveshop_cache::{Cache, CacheError, MemoryCache};
use liveshop_gateway::{Rate, RateLimits};
use liveshop_protocol::RoomId;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn refresh(token: &str) -> Value {
    json!({ "refresh_token": token })
}

fn family(refresh_token: &str) -> &str {
    refresh_token
        .split_once('.')
        .map(|(f, _)| f)
        .expect("a refresh token is <family>.<secret>")
}

#[tokio::test]
async fn refresh_families_are_revoked_in_the_cache_and_read_from_it_first() {
    let cache = Arc::new(MemoryCache::new());
    let server = TestServer::start_with_cache(test_config(), cache.clone()).await;
    let api = server.api();
    let ann = api.register("ann", "buyer").await;
    let (status, rotated) = api
        .post("/api/v1/auth/refresh", None, refresh(&ann.refresh))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(!cache.is_family_revoked(family(&ann.refresh)).await.unwrap());
    // Reuse: the store revokes the family, and the cache learns it.
    let (status, body) = api
        .post("/api/v1/auth/refresh", None, refresh(&ann.refresh))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    assert!(
        cache.is_family_revoked(family(&ann.refresh)).await.unwrap(),
        "reuse did not revoke the family in the cache"
    );

    // A family the cache knows as revoked is refused before the store is
    // asked (the store alone would rotate this token).
    let bob = api.register("bob", "buyer").await;
    cache
        .revoke_family(family(&bob.refresh), 60_000)
        .await
        .unwrap();
    let (status, body) = api
        .post("/api/v1/auth/refresh", None, refresh(&bob.refresh))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    server.stop().await;
}

/// `POST /rtmp/<hook>` with the form nginx-rtmp sends.
async fn hook(api: &Api, hook: &str, name: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let req = client
        .post(format!("{}/rtmp/{hook}", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("call=publish&app=live&name={name}"));
    api.send(req).await.0
}

async fn live_list(api: &Api) -> Vec<Value> {
    let (status, body) = api.get("/api/v1/rooms?status=live", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["rooms"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn rtmp_hooks_and_the_heartbeat_keep_the_live_directory() {
    let cache = Arc::new(MemoryCache::new());
    let mut config = test_config();
    config.room_heartbeat = Duration::from_millis(100);
    let server = TestServer::start_with_cache(config, cache.clone()).await;
    let api = server.api();
    let seller = api.register("sam", "seller").await;
    let (room, key) = api.room_with_key(&seller).await;
    let room_id = RoomId::new(room.clone()).unwrap();
    assert!(live_list(&api).await.is_empty());

    assert_eq!(hook(&api, "on_publish", &key).await, StatusCode::FOUND);
    let listed = live_list(&api).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["room_id"], room.as_str());
    assert_eq!(listed[0]["status"], "live");
    // In the directory, and kept there by the heartbeat well past its TTL
    // (3 x 100 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        cache.live_rooms(10).await.unwrap(),
        vec![(room_id.clone(), 0)]
    );
    // A viewer: the heartbeat carries the count.
    let viewer = api.register("vic", "buyer").await;
    let mut ws = server.ws(Some(&viewer.token)).await;
    assert_ok(&ws.request(json!({"type": "join", "room": room})).await);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cache.live_rooms(10).await.unwrap() != vec![(room_id.clone(), 1)] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewers never reached the directory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, all) = api.get("/api/v1/rooms", None).await;
    assert_eq!(all["rooms"][0]["viewers"], 1, "{all}");
    assert_eq!(all["rooms"][0]["status"], "live", "{all}");

    // The end of the stream removes it at once (the hook may name the
    // room after the rename).
    assert_eq!(hook(&api, "on_publish_done", &room).await, StatusCode::OK);
    assert!(live_list(&api).await.is_empty());
    assert!(cache.live_rooms(10).await.unwrap().is_empty());
    let (_, all) = api.get("/api/v1/rooms", None).await;
    assert_eq!(all["rooms"][0]["status"], "offline", "{all}");

    // Live again, then a graceful shutdown takes it out of the directory.
    assert_eq!(hook(&api, "on_publish", &key).await, StatusCode::FOUND);
    assert_eq!(cache.live_rooms(10).await.unwrap().len(), 1);
    drop(ws);
    server.stop().await;
    assert!(
        cache.live_rooms(10).await.unwrap().is_empty(),
        "shutdown left the room in the directory"
    );
}

#[tokio::test]
async fn a_restarted_node_hosts_the_live_rooms_no_node_lists() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.room_heartbeat = Duration::from_millis(100);
    let first =
        TestServer::start_in(dir.path(), config.clone(), Arc::new(MemoryCache::new())).await;
    let api = first.api();
    let seller = api.register("sid", "seller").await;
    let (room, key) = api.room_with_key(&seller).await;
    assert_eq!(hook(&api, "on_publish", &key).await, StatusCode::FOUND);
    first.stop().await;

    // The room is still live in the durable state (the stream never ended),
    // and no node lists it: the next node to start hosts it.
    let cache = Arc::new(MemoryCache::new());
    let second = TestServer::start_in(dir.path(), config, cache.clone()).await;
    let api = second.api();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let listed = live_list(&api).await;
        if listed.iter().any(|r| r["room_id"] == room.as_str()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live room was not adopted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await;
}

#[tokio::test]
async fn a_node_restarted_after_a_crash_hosts_its_rooms_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.room_heartbeat = Duration::from_millis(100);
    let cache = Arc::new(MemoryCache::new());
    let first = TestServer::start_in(dir.path(), config.clone(), cache.clone()).await;
    let api = first.api();
    let seller = api.register("cid", "seller").await;
    let (room, key) = api.room_with_key(&seller).await;
    assert_eq!(hook(&api, "on_publish", &key).await, StatusCode::FOUND);
    first.stop().await;
    // A crash rather than a shutdown: the last heartbeat's entry stays in
    // the directory until it expires (three heartbeats).
    let room_id = RoomId::new(room.clone()).unwrap();
    cache.set_room_live(&room_id, true, 0, 300).await.unwrap();

    // The node comes back at once: at start-up the room is still listed,
    // by the entry no one renews; once that has expired, the node hosts the
    // room again instead of dropping it from the directory for good.
    let second = TestServer::start_in(dir.path(), config, cache.clone()).await;
    let api = second.api();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !live_list(&api)
        .await
        .iter()
        .any(|r| r["room_id"] == room.as_str())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted node's live room left the directory for good"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await;
}

/// A cache that never answers.
struct Down;

fn down<T>() -> liveshop_cache::Result<T> {
    Err(CacheError::Unavailable("down for the test".into()))
}

#[async_trait]
impl Cache for Down {
    async fn rate_allow(&self, _: &str, _: u32, _: u32, _: u64) -> liveshop_cache::Result<bool> {
        down()
    }
    async fn set_room_live(
        &self,
        _: &RoomId,
        _: bool,
        _: u64,
        _: u64,
    ) -> liveshop_cache::Result<()> {
        down()
    }
    async fn live_rooms(&self, _: usize) -> liveshop_cache::Result<Vec<(RoomId, u64)>> {
        down()
    }
    async fn claim_idem(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u64,
    ) -> liveshop_cache::Result<Option<String>> {
        down()
    }
    async fn revoke_family(&self, _: &str, _: u64) -> liveshop_cache::Result<()> {
        down()
    }
    async fn is_family_revoked(&self, _: &str) -> liveshop_cache::Result<bool> {
        down()
    }
}

#[tokio::test]
async fn the_gateway_keeps_serving_when_the_cache_is_down() {
    let mut config = test_config();
    config.limits.rates = RateLimits {
        chat: Rate::new(1, 2),
        ..RateLimits::unlimited()
    };
    let server = TestServer::start_with_cache(config, Arc::new(Down)).await;
    let api = server.api();
    // Sign-up, refresh with reuse detection, rooms, readiness: all served.
    let (seller, buyer, room) = room_with_users(&server).await;
    let (status, rotated) = api
        .post("/api/v1/auth/refresh", None, refresh(&buyer.refresh))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (status, body) = api
        .post("/api/v1/auth/refresh", None, refresh(&buyer.refresh))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    let next = rotated["refresh_token"].as_str().unwrap();
    let (status, body) = api.post("/api/v1/auth/refresh", None, refresh(next)).await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, list) = api.get("/api/v1/rooms", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["rooms"][0]["room_id"], room.as_str(), "{list}");
    let (status, ready) = api.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert!(
        ready.as_str().unwrap_or_default().contains("degraded"),
        "{ready}"
    );
    // The rate limit still holds, on the node-local bucket.
    let mut ws = server.ws(Some(&buyer.token)).await;
    let chat = json!({"type": "chat", "room": room, "text": "hi"});
    assert_ok(&ws.request(chat.clone()).await);
    assert_ok(&ws.request(chat.clone()).await);
    assert_ws_error(&ws.request(chat).await, "rate_limited");
    let _ = seller;
    let (_, metrics) = api.get("/metrics", None).await;
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains("liveshop_cache_failures_total"), "{text}");
    assert!(
        text.contains("liveshop_rate_limit_fallback_total"),
        "{text}"
    );
    server.stop().await;
}
