//! The web client as the gateway serves it: every page path answers HTML
//! with a Content-Security-Policy naming the configured hls.js origin and
//! `no-cache`; modules and the style sheet come with their content types and
//! a short cache lifetime; ETags make revalidation a 304; unknown assets are
//! the contract's 404; the API, health endpoints and `/ws` are unaffected.

mod common;

use common::*;
use liveshop_gateway::{GatewayConfig, WebConfig};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::Value;

const HLS_JS: &str = "https://hls.example/npm/hls.js@1/dist/hls.min.js";
const HLS_JS_INTEGRITY: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

async fn server() -> TestServer {
    TestServer::start_with(GatewayConfig {
        web: WebConfig {
            hls_js_url: HLS_JS.into(),
            hls_js_integrity: HLS_JS_INTEGRITY.into(),
        },
        ..test_config()
    })
    .await
}

async fn get(addr: std::net::SocketAddr, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("GET")
}

fn header(resp: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> &str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn every_page_is_html_with_a_policy_that_allows_the_configured_hls_js() {
    let server = server().await;
    for (path, module) in [
        ("/", "/assets/home.js"),
        ("/r/x", "/assets/room.js"),
        ("/r/01JROOMIDTHATDOESNOTEXIST0", "/assets/room.js"),
        ("/studio", "/assets/studio.js"),
        ("/orders", "/assets/orders.js"),
    ] {
        let resp = get(server.addr, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&resp, CONTENT_TYPE),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&resp, CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        let csp = header(&resp, "content-security-policy").to_owned();
        let scripts = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert_eq!(scripts, "script-src 'self' https://hls.example", "{path}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("media-src 'self' blob: http://media.test"),
            "the public_url origin (rooms' hls_url) may serve video: {csp}"
        );
        let body = resp.text().await.expect("body");
        assert!(body.starts_with("<!doctype html>"), "{path}");
        assert!(body.contains(module), "{path} loads {module}");
        assert!(
            !body.contains("<script>") && !body.contains("style="),
            "{path}: no inline script or style (the policy forbids them)"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn assets_have_their_content_types_short_caching_and_etags() {
    let server = server().await;
    for (path, ctype) in [
        ("/assets/room.js", "text/javascript; charset=utf-8"),
        ("/assets/live.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let resp = get(server.addr, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CONTENT_TYPE), ctype, "{path}");
        assert_eq!(
            header(&resp, CACHE_CONTROL),
            "public, max-age=300",
            "{path}"
        );
        let etag = header(&resp, ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let again = reqwest::Client::new()
            .get(format!("http://{}{path}", server.addr))
            .header(IF_NONE_MATCH, &etag)
            .timeout(PATIENCE)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(&again, ETAG), etag);
    }
    let resp = get(server.addr, "/config.js").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&resp, CACHE_CONTROL), "no-cache");
    let body = resp.text().await.expect("body");
    let settings: Value = body
        .split_once("export default ")
        .and_then(|(_, rest)| rest.trim_end().strip_suffix(';'))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("not `export default {{...}};`: {body}"));
    assert_eq!(
        settings,
        serde_json::json!({ "hls_js_url": HLS_JS, "hls_js_integrity": HLS_JS_INTEGRITY })
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_assets_and_pages_are_404_and_pages_are_not_assets() {
    let server = server().await;
    for path in [
        "/assets/nope.js",
        "/assets/",
        "/assets/../index.html",
        "/assets/%2e%2e/index.html",
        "/assets/index.html",
        "/index.html",
        "/room.html",
        "/r/",
        "/r/x/y",
        "/studio/x",
        "/nope",
    ] {
        let resp = get(server.addr, path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let resp = reqwest::Client::new()
        .post(format!("http://{}/studio", server.addr))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn the_api_health_and_websocket_routes_are_unaffected() {
    let server = server().await;
    let api = server.api();
    let (status, body) = api.get("/api/v1/rooms?status=live", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["rooms"].is_array(), "{body}");
    let (status, body) = api.get("/api/v1/nope", None).await;
    assert_error(status, &body, 404, "not_found");
    let resp = get(server.addr, "/api/v1/orders").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&resp, CONTENT_TYPE), "application/json");
    let resp = get(server.addr, "/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-security-policy").is_none());
    let seller = api.register("web-seller", "seller").await;
    let room = api.room(&seller).await;
    let mut ws = server.ws(None).await;
    let reply = ws
        .request(serde_json::json!({"type": "join", "room": room}))
        .await;
    assert_ok(&reply);
    let resp = get(server.addr, &format!("/r/{room}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    server.stop().await;
}
