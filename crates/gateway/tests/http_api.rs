//! The HTTP API over a real socket: auth, rooms, lots, orders, errors,
//! health and metrics.

mod common;

use common::*;
use liveshop_gateway::{GatewayConfig, PasswordCost, Rate, RateLimits};
use liveshop_protocol::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_login_and_refresh_rotate_tokens() {
    let server = TestServer::start().await;
    let api = server.api();
    let ann = api.register("Ann", "buyer").await;
    assert!(!ann.id.is_empty() && ann.refresh.contains('.'));

    let (status, body) = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ANN", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], ann.id.as_str());
    assert_eq!(body["expires_in"], 900);

    // The access token works.
    let (status, body) = api.get("/api/v1/orders", Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["orders"], json!([]));

    // Rotation: a new refresh token each time.
    let refresh = |t: &str| json!({ "refresh_token": t });
    let (status, first) = api
        .post("/api/v1/auth/refresh", None, refresh(&ann.refresh))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let second = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, ann.refresh);
    assert_eq!(first["user_id"], ann.id.as_str());
    let (status, body) = api
        .get("/api/v1/orders", first["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Reusing the old one is theft: refused, and the whole family revoked.
    let (status, body) = api
        .post("/api/v1/auth/refresh", None, refresh(&ann.refresh))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = api
        .post("/api/v1/auth/refresh", None, refresh(&second))
        .await;
    assert_error(status, &body, 401, "unauthorized");

    // Garbage refresh tokens are plain 401s.
    for junk in ["", "nodot", "abc.def"] {
        let (status, body) = api.post("/api/v1/auth/refresh", None, refresh(junk)).await;
        assert_error(status, &body, 401, "unauthorized");
    }
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let server = TestServer::start().await;
    let api = server.api();
    api.register("bob", "buyer").await;
    let login = |u: &str, p: &str| json!({"username": u, "password": p});
    let (s1, wrong_pw) = api
        .post("/api/v1/auth/login", None, login("bob", "not his password"))
        .await;
    let (s2, no_user) = api
        .post("/api/v1/auth/login", None, login("nobody", "correct horse"))
        .await;
    let (s3, bad_name) = api
        .post("/api/v1/auth/login", None, login("x", "correct horse"))
        .await;
    assert_error(s1, &wrong_pw, 401, "unauthorized");
    assert_eq!(wrong_pw, no_user);
    assert_eq!((s2, s3), (s1, s1));
    assert_eq!(wrong_pw, bad_name);
    server.stop().await;
}

#[tokio::test]
async fn registration_checks_names_passwords_roles_and_uniqueness() {
    let server = TestServer::start().await;
    let api = server.api();
    let reg = |u: &str, p: &str, r: &str| json!({"username": u, "password": p, "role": r});
    for (body, why) in [
        (reg("ab", "correct horse", "buyer"), "short name"),
        (reg("a b c", "correct horse", "buyer"), "space in name"),
        (reg(&"x".repeat(33), "correct horse", "buyer"), "long name"),
        (reg("carol", "short", "buyer"), "short password"),
        (reg("carol", &"p".repeat(129), "buyer"), "long password"),
        (reg("carol", "correct horse", "admin"), "unknown role"),
        (json!({"username": "carol"}), "missing fields"),
    ] {
        let (status, resp) = api.post("/api/v1/auth/register", None, body).await;
        assert_error(status, &resp, 400, "bad_request");
        let _ = why;
    }
    api.register("carol", "seller").await;
    let (status, body) = api
        .post(
            "/api/v1/auth/register",
            None,
            reg("CAROL", "another one", "buyer"),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    server.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_unknown_routes_answer_in_the_error_shape() {
    let server = TestServer::start().await;
    let api = server.api();
    let url = format!("{}/api/v1/auth/register", api.base);
    let raw = |body: &'static str| {
        api.http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, body) = api.send(raw("{not json")).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api.send(raw(r#"{"username": 5}"#)).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = api.send(api.http.post(&url).body("{}")).await;
    assert_error(status, &body, 400, "bad_request");
    let big = "x".repeat(100 * 1024);
    let (status, body) = api
        .send(
            api.http
                .post(&url)
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    assert_error(status, &body, 413, "payload_too_large");

    let (status, body) = api.get("/api/v1/nope", None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = api.get("/nope", None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = api.get("/api/v1/auth/login", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    server.stop().await;
}

#[tokio::test]
async fn buyers_cannot_create_rooms_and_bad_tokens_are_refused() {
    let server = TestServer::start().await;
    let api = server.api();
    let buyer = api.register("dave", "buyer").await;
    let room = json!({"title": "mine"});
    let (status, body) = api
        .post("/api/v1/rooms", Some(&buyer.token), room.clone())
        .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = api.post("/api/v1/rooms", None, room.clone()).await;
    assert_error(status, &body, 401, "unauthorized");

    // A tampered token: one character of the signature changed.
    let seller = api.register("erin", "seller").await;
    let tampered = tamper(&seller.token);
    let (status, body) = api
        .post("/api/v1/rooms", Some(&tampered), room.clone())
        .await;
    assert_error(status, &body, 401, "unauthorized");

    // An expired token signed with the right key.
    let expired = expired_token(&server, &seller, Role::Seller);
    let (status, body) = api
        .post("/api/v1/rooms", Some(&expired), room.clone())
        .await;
    assert_error(status, &body, 401, "unauthorized");

    let (status, body) = api.post("/api/v1/rooms", Some(&seller.token), room).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rtmp_url"], "rtmp://127.0.0.1:1935/live");
    let id = body["room_id"].as_str().unwrap();
    assert_eq!(body["hls_url"], format!("http://media.test/hls/{id}.m3u8"));
    assert!(body["stream_key"].as_str().unwrap().len() >= 32);
    server.stop().await;
}

#[tokio::test]
async fn only_the_host_adds_lots_and_bad_terms_are_bad_requests() {
    let server = TestServer::start().await;
    let api = server.api();
    let host = api.register("frank", "seller").await;
    let other = api.register("gina", "seller").await;
    let buyer = api.register("hank", "buyer").await;
    let room = api.room(&host).await;
    let lots = format!("/api/v1/rooms/{room}/lots");

    let (status, body) = api.post(&lots, Some(&other.token), auction_spec()).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = api.post(&lots, Some(&buyer.token), auction_spec()).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = api
        .post(
            "/api/v1/rooms/NOSUCHROOM/lots",
            Some(&host.token),
            auction_spec(),
        )
        .await;
    assert_error(status, &body, 404, "not_found");

    let mut bad = auction_spec();
    bad["duration_ms"] = json!(10);
    let (status, body) = api.post(&lots, Some(&host.token), bad).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duration_ms"),
        "{body}"
    );
    let (status, body) = api
        .post(&lots, Some(&host.token), json!({"title": "x"}))
        .await;
    assert_error(status, &body, 400, "bad_request");

    let (status, created) = api.post(&lots, Some(&host.token), auction_spec()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let lot = created["lot_id"].as_str().unwrap();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["kind"], "auction");
    assert_eq!(created["room"], room.as_str());

    let (status, view) = api.get(&format!("/api/v1/lots/{lot}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["lot"], lot);
    assert_eq!(view["start_price"], 1000);
    let (status, body) = api.get("/api/v1/lots/NOSUCHLOT", None).await;
    assert_error(status, &body, 404, "not_found");

    let (status, view) = api.get(&format!("/api/v1/rooms/{room}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["room_id"], room.as_str());
    assert_eq!(view["host"], host.id.as_str());
    assert_eq!(view["status"], "offline");
    assert!(
        view["hls_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/hls/{room}.m3u8"))
    );
    let (status, body) = api.get("/api/v1/rooms/NOSUCHROOM", None).await;
    assert_error(status, &body, 404, "not_found");

    let (status, list) = api.get("/api/v1/rooms", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == room.as_str())
    );
    let (status, live) = api.get("/api/v1/rooms?status=live", None).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert!(
        live["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "live")
    );
    let (status, body) = api.get("/api/v1/rooms?status=sideways", None).await;
    assert_error(status, &body, 400, "bad_request");

    // Seller orders are for sellers only.
    let (status, body) = api.get("/api/v1/seller/orders", Some(&buyer.token)).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = api.get("/api/v1/seller/orders", Some(&host.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let server = TestServer::start().await;
    let api = server.api();
    let (status, body) = api.get("/healthz", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, _) = api.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    api.register("ivan", "buyer").await;
    let (status, body) = api.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default();
    assert!(text.contains("liveshop_http_requests_total"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn register_and_login_are_rate_limited_per_address() {
    let mut config = test_config();
    config.limits.rates = RateLimits {
        auth: Rate::new(1, 2),
        ..RateLimits::unlimited()
    };
    let server = TestServer::start_with(config).await;
    let api = server.api();
    api.register("judy", "buyer").await;
    api.register("kate", "buyer").await;
    let (status, body) = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "lena", "password": "correct horse", "role": "buyer"}),
        )
        .await;
    assert_error(status, &body, 429, "rate_limited");
    server.stop().await;
}

#[tokio::test]
async fn a_new_password_cost_applies_to_new_hashes_and_old_ones_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cache = || -> std::sync::Arc<dyn liveshop_cache::Cache> {
        std::sync::Arc::new(liveshop_cache::MemoryCache::new())
    };
    let server = TestServer::start_in(dir.path(), test_config(), cache()).await;
    server.api().register("alice", "buyer").await;
    server.stop().await;

    let cheap = PasswordCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    assert!(cheap.is_weak() && !PasswordCost::default().is_weak());
    let config = GatewayConfig {
        password_cost: cheap,
        ..test_config()
    };
    let server = TestServer::start_in(dir.path(), config, cache()).await;
    let api = server.api();
    let login = json!({"username": "alice", "password": "correct horse"});
    let (status, body) = api.post("/api/v1/auth/login", None, login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.register("bob", "buyer").await;
    let hash_of = |name: &'static str| {
        let store = server.ctx.store().clone();
        async move {
            store
                .user_by_name(name)
                .await
                .unwrap()
                .unwrap()
                .password_hash
        }
    };
    assert!(hash_of("alice").await.contains("m=19456,t=2,p=1"));
    assert!(hash_of("bob").await.contains("m=64,t=1,p=1"));
    server.stop().await;

    let refused = PasswordCost {
        memory_kib: 1,
        ..cheap
    };
    assert!(refused.params().is_err(), "argon2 refuses 1 KiB");
}
