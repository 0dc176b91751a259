//! Nodes on the Redis store: real `redis-server` and `liveshop` processes.
//! Skipped (with a message) when redis-server is not installed.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use liveshop_cache::{Cache, RedisCache};
use liveshop_testkit::redis_server::{self, Persistence};
use serde_json::{Value, json};

const SHARED_SECRET: &str = "a-test-secret-shared-by-both-nodes-0123456789";

/// A config file in `dir` pointing the node's store and cache (the
/// shorthand `cache = "redis"`: the store's server, the default prefix) at
/// `redis_url`.
fn redis_config(dir: &Path, name: &str, redis_url: &str, jwt_secret: Option<&str>) -> String {
    let path = dir.join(format!("{name}.toml"));
    let secret = jwt_secret
        .map(|s| format!("jwt_secret = \"{s}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "store = \"redis\"\ncache = \"redis\"\n{secret}\
             [redis]\nurl = \"{redis_url}\"\nprefix = \"test:\"\n\
             [rate_limits]\nauth = {{ per_second = 100000, burst = 100000 }}\n"
        ),
    )
    .expect("write test config");
    path.to_str().expect("utf-8 path").to_owned()
}

#[tokio::test]
async fn two_nodes_sharing_redis_serve_the_same_rooms_and_tokens() {
    let Some(redis) = redis_server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), "shared", &redis.url(), Some(SHARED_SECRET));
    let node_a = Node::start_with(&dir.path().join("a"), &["--config", &config]);
    let node_b = Node::start_with(&dir.path().join("b"), &["--config", &config]);
    let (a, b) = (node_a.api(), node_b.api());

    // What one node writes, the other reads.
    let seller = a.register("seller", "seller").await;
    let room = a.create_room(&seller, "Shared drop").await;
    let lot = a
        .create_lot(
            &seller,
            &room,
            json!({"title": "Vintage tee", "currency": "USD", "kind": "sale", "price": 2500,
                   "stock": 5, "per_user_limit": 1, "hold_ttl_ms": 60000,
                   "allocation": "fifo"}),
        )
        .await;
    let (status, got) = b
        .call("GET", &format!("/api/v1/rooms/{room}"), None, None)
        .await;
    assert_eq!(status, 200, "room on B: {got}");
    assert_eq!(got["room_id"], room.as_str(), "{got}");
    let got = b.lot(&lot).await;
    assert_eq!(got["lot"], lot.as_str(), "{got}");
    assert_eq!(got["room"], room.as_str(), "{got}");
    assert_eq!(got["title"], "Vintage tee", "{got}");

    // A token issued by A is accepted by B (same jwt_secret).
    let (status, v) = b
        .call("GET", "/api/v1/orders", Some(&seller.token), None)
        .await;
    assert_eq!(status, 200, "A's access token on B: {v}");

    // Refresh tokens rotate across nodes, and reuse is detected across them.
    let (status, login) = a
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "seller", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, 200, "login on A: {login}");
    let old = login["refresh_token"].as_str().expect("refresh_token");
    let (status, rotated) = b
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": old})),
        )
        .await;
    assert_eq!(status, 200, "refresh on B: {rotated}");
    assert_ne!(rotated["refresh_token"], old, "{rotated}");
    let (status, reused) = a
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": old})),
        )
        .await;
    assert_eq!(status, 401, "reusing the rotated token on A: {reused}");
    // The reuse revoked the family in the shared cache too, where every
    // node's refresh looks first.
    let cache = RedisCache::connect(&redis.url(), "liveshop-cache:")
        .await
        .expect("connect to the nodes' cache");
    let family = old.split_once('.').expect("<family>.<secret>").0;
    assert!(
        cache.is_family_revoked(family).await.expect("cache"),
        "the reused family is not revoked in the shared cache"
    );
    let newest = rotated["refresh_token"].as_str().expect("refresh_token");
    let (status, v) = b
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": newest})),
        )
        .await;
    assert_eq!(status, 401, "the revoked family's newest token on B: {v}");
}

/// Two nodes on one Redis (store and cache) with small limits: a bucket
/// per client address for auth (burst 4) and per user for chat (burst 3),
/// one token a second.
fn small_limits_config(dir: &Path, redis_url: &str) -> String {
    let path = dir.join("small-limits.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"redis\"\njwt_secret = \"{SHARED_SECRET}\"\n\
             [redis]\nurl = \"{redis_url}\"\nprefix = \"test:\"\n\
             [cache]\nbackend = \"redis\"\nprefix = \"test-cache:\"\n\
             [rate_limits]\n\
             auth = {{ per_second = 1, burst = 4 }}\n\
             chat = {{ per_second = 1, burst = 3 }}\n"
        ),
    )
    .expect("write test config");
    path.to_str().expect("utf-8 path").to_owned()
}

/// Sends `2 * burst` requests alternately through node A and node B (via
/// `send(i)`, true when allowed) and checks the bucket counted both nodes:
/// exactly the burst is allowed (plus one a second for whatever time the
/// requests took), then refused. Per-node buckets would allow all of them.
async fn trips_at_the_cluster_wide_count<F, Fut>(what: &str, burst: usize, mut send: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let mut outcomes = Vec::new();
    for i in 0..2 * burst {
        outcomes.push(send(i).await);
    }
    let refills = start.elapsed().as_secs() as usize;
    let allowed = outcomes.iter().filter(|ok| **ok).count();
    assert!(
        outcomes[..burst].iter().all(|ok| *ok),
        "{what}: the first {burst} requests must be allowed: {outcomes:?}"
    );
    assert!(
        allowed <= burst + refills && allowed < 2 * burst,
        "{what}: {allowed} of {} allowed through two nodes (burst {burst}, {refills} refills): \
         the nodes do not share the bucket: {outcomes:?}",
        2 * burst
    );
}

#[tokio::test]
async fn a_rate_limit_counts_requests_made_through_both_nodes() {
    let Some(redis) = redis_server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = small_limits_config(dir.path(), &redis.url());
    let node_a = Node::start_with(&dir.path().join("a"), &["--config", &config]);
    let node_b = Node::start_with(&dir.path().join("b"), &["--config", &config]);
    let (a, b) = (node_a.api(), node_b.api());

    // A buyer (one token of the address's auth bucket), then wait until the
    // bucket is full again (one token a second).
    let buyer = a.register("rita", "buyer").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // Per client address: refresh (a refused token is a cheap 401 once
    // past the limit check), alternately on A and B.
    let nodes = [a.clone(), b.clone()];
    trips_at_the_cluster_wide_count("auth", 4, |i| {
        let api = nodes[i % 2].clone();
        async move {
            let body = json!({"refresh_token": "nofamily.nosecret"});
            let (status, v) = api
                .call("POST", "/api/v1/auth/refresh", None, Some(body))
                .await;
            match status {
                401 => true,
                429 => {
                    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
                    false
                }
                other => panic!("refresh answered {other}: {v}"),
            }
        }
    })
    .await;

    // Per user: chat on a connection to each node. The limit is checked
    // before the room is looked up, so a missing room is `not_found` when
    // allowed and `rate_limited` when not.
    let mut ws_a = Ws::connect(node_a.addr, Some(&buyer.token)).await;
    let mut ws_b = Ws::connect(node_b.addr, Some(&buyer.token)).await;
    let start = Instant::now();
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let ws = if i % 2 == 0 { &mut ws_a } else { &mut ws_b };
        let reply = ws
            .request(json!({"type": "chat", "room": "no-such-room", "text": "hi"}))
            .await;
        outcomes.push(reply);
    }
    let refills = start.elapsed().as_secs() as usize;
    let allowed = outcomes.iter().filter(|r| r["code"] == "not_found").count();
    for r in &outcomes {
        assert!(
            r["code"] == "not_found" || r["code"] == "rate_limited",
            "unexpected reply {r}"
        );
    }
    assert!(
        outcomes[..3].iter().all(|r| r["code"] == "not_found"),
        "chat: the first 3 must pass the limit: {outcomes:?}"
    );
    assert!(
        allowed <= 3 + refills && allowed < 6,
        "chat: {allowed} of 6 passed through two nodes: the nodes do not share the bucket: \
         {outcomes:?}"
    );
}

/// A room's stream key and id, created on `api`.
async fn room_with_key(api: &Api, seller: &User) -> (String, String) {
    let (status, v) = api
        .call(
            "POST",
            "/api/v1/rooms",
            Some(&seller.token),
            Some(json!({"title": "Shared stream"})),
        )
        .await;
    assert_eq!(status, 201, "create room: {v}");
    let room = v["room_id"].as_str().expect("room_id").to_owned();
    let key = v["stream_key"].as_str().expect("stream_key").to_owned();
    (room, key)
}

/// nginx-rtmp's `on_publish` / `on_publish_done` hook on `api`'s node.
async fn rtmp_hook(api: &Api, hook: &str, name: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let resp = client
        .post(api.url(&format!("/rtmp/{hook}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("call=publish&app=live&name={name}"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("rtmp hook");
    resp.status().as_u16()
}

/// `room`'s row in `api`'s live listing, if listed.
async fn listed_live(api: &Api, room: &str) -> Option<Value> {
    let (status, v) = api
        .call("GET", "/api/v1/rooms?status=live", None, None)
        .await;
    assert_eq!(status, 200, "live rooms: {v}");
    v["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["room_id"] == room).cloned())
}

/// Polls `check` until it holds, for up to `PATIENCE`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_room_live_on_one_node_is_listed_live_on_the_other() {
    let Some(redis) = redis_server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"redis\"\njwt_secret = \"{SHARED_SECRET}\"\n\
             [redis]\nurl = \"{}\"\nprefix = \"test:\"\n\
             [cache]\nbackend = \"redis\"\nroom_heartbeat_ms = 200\n\
             [rate_limits]\nauth = {{ per_second = 100000, burst = 100000 }}\n",
            redis.url()
        ),
    )
    .expect("write test config");
    let config = path.to_str().expect("utf-8 path");
    let node_a = Node::start_with(&dir.path().join("a"), &["--config", config]);
    let node_b = Node::start_with(&dir.path().join("b"), &["--config", config]);
    let (a, b) = (node_a.api(), node_b.api());
    let seller = a.register("stella", "seller").await;
    let (room, key) = room_with_key(&a, &seller).await;

    // B has seen the room offline (and, before the directory, would keep
    // showing what it saw).
    let (status, all) = b.call("GET", "/api/v1/rooms", None, None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["rooms"][0]["status"], "offline", "{all}");
    assert!(listed_live(&b, &room).await.is_none());

    // The stream starts on A: B lists the room live at once.
    assert_eq!(rtmp_hook(&a, "on_publish", &key).await, 302);
    let row = listed_live(&b, &room)
        .await
        .expect("live on A, listed on B");
    assert_eq!(row["status"], "live", "{row}");
    let (_, all) = b.call("GET", "/api/v1/rooms", None, None).await;
    assert_eq!(all["rooms"][0]["status"], "live", "{all}");
    // A viewer on A: A's heartbeat brings the count to B's listing, and
    // keeps the entry alive far past its TTL (3 x 200 ms).
    let viewer = a.register("vera", "buyer").await;
    let mut ws = Ws::connect(node_a.addr, Some(&viewer.token)).await;
    ok(ws.request(json!({"type": "join", "room": room})).await);
    eventually("B lists A's viewer", || async {
        listed_live(&b, &room)
            .await
            .is_some_and(|r| r["viewers"] == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        listed_live(&b, &room).await.is_some(),
        "the heartbeat did not keep the room listed"
    );

    // The stream ends on A: gone from B's listing at once.
    assert_eq!(rtmp_hook(&a, "on_publish_done", &key).await, 200);
    assert!(listed_live(&b, &room).await.is_none());
    let (_, all) = b.call("GET", "/api/v1/rooms", None, None).await;
    assert_eq!(all["rooms"][0]["status"], "offline", "{all}");

    // Live again, then A dies without a word: its entry expires and B stops
    // listing the room.
    assert_eq!(rtmp_hook(&a, "on_publish", &key).await, 302);
    assert!(listed_live(&b, &room).await.is_some());
    drop(ws);
    node_a.kill();
    eventually("the dead node's room leaves B's listing", || async {
        listed_live(&b, &room).await.is_none()
    })
    .await;
}

#[tokio::test]
async fn a_node_refuses_a_redis_without_fsync() {
    let Some(redis) = redis_server::start_with(Persistence {
        appendonly: "no",
        appendfsync: "everysec",
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = redis_config(dir.path(), "unsafe", &redis.url(), None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveshop"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--config", &config])
        .env("RUST_LOG", "warn")
        .env_remove("LIVESHOP_UNSAFE_REDIS_DURABILITY")
        .env_remove("LIVESHOP_STORE")
        .env_remove("LIVESHOP_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn liveshop");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for liveshop") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("liveshop kept running on a redis without fsync");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exit status {status}; stderr: {stderr}");
    assert!(stderr.contains("redis"), "{stderr}");
    assert!(
        stderr.contains("appendfsync") && stderr.contains("always"),
        "the message should say what redis needs: {stderr}"
    );
}
