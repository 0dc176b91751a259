//! Nodes on the Redis store: real `redis-server` and `liveshop` processes.
//! Skipped (with a message) when redis-server is not installed.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use liveshop_testkit::redis_server::{self, Persistence};
use serde_json::json;

const SHARED_SECRET: &str = "a-test-secret-shared-by-both-nodes-0123456789";

/// A config file in `dir` pointing the node at `redis_url`.
fn redis_config(dir: &Path, name: &str, redis_url: &str, jwt_secret: Option<&str>) -> String {
    let path = dir.join(format!("{name}.toml"));
    let secret = jwt_secret
        .map(|s| format!("jwt_secret = \"{s}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "store = \"redis\"\n{secret}\
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
