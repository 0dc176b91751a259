//! The web client: plain HTML pages and ES modules under `crates/gateway/web/`,
//! embedded in the binary (rust-embed), so a node alone serves its client.
//!
//! - `/` (live rooms, sign-in), `/r/{room}` (the buyer's room), `/studio`
//!   (the seller console), `/orders` (the buyer's orders): one HTML file
//!   each; each loads its own module, which reads what it needs (the room
//!   id) from the location. No client-side router: links are plain links.
//! - `/assets/{path}`: the modules, the style sheet and icons.
//! - `/config.js`: the node's settings the pages need (`[web]`), as a module,
//!   so no HTML has to be templated.
//!
//! HTML and `/config.js` are `no-cache` (revalidated every time: a deploy
//! shows at the next load); assets may be cached for five minutes, and every
//! answer carries an ETag, so revalidation costs a 304. Pages carry a
//! Content-Security-Policy that allows scripts from this node and the
//! configured hls.js origin only, and media from this node and the
//! `public_url` origin (rooms' `hls_url` is built from it).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::context::ApiContext;
use crate::error::Error;
use crate::util::hex;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

/// How long browsers may use a module or style sheet without asking again.
const ASSET_CACHE: &str = "public, max-age=300";
/// HTML and the config module: always revalidated (cheap, with the ETag).
const PAGE_CACHE: &str = "no-cache";

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/", get(|s, h| page(s, h, "index.html")))
        .route("/r/{room}", get(|s, h| page(s, h, "room.html")))
        .route("/studio", get(|s, h| page(s, h, "studio.html")))
        .route("/orders", get(|s, h| page(s, h, "orders.html")))
        .route("/config.js", get(config_js))
        .route("/assets/{*path}", get(asset))
}

async fn page(State(ctx): State<ApiContext>, headers: HeaderMap, file: &'static str) -> Response {
    let csp = content_security_policy(&ctx);
    let mut response = embedded(file, &headers, PAGE_CACHE);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // Only files under assets/: the pages are served at their own paths.
    embedded(&format!("assets/{path}"), &headers, ASSET_CACHE)
}

/// `export default {...}`: the settings of `[web]` the pages need.
async fn config_js(State(ctx): State<ApiContext>) -> Response {
    let web = &ctx.config().web;
    let settings = serde_json::json!({
        "hls_js_url": web.hls_js_url,
        "hls_js_integrity": web.hls_js_integrity,
    });
    let body = format!(
        "// This node's web settings ([web] in its configuration).\nexport default {settings};\n"
    );
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type("js"))),
            (CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

/// An embedded file with its content type, `cache` and ETag; `304` when the
/// request already has this version; the contract's 404 when there is none.
fn embedded(path: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(file) = Assets::get(path) else {
        return Error::NotFound("no such file".into()).into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let extension = path.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(content_type(extension)),
            )],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, value);
    }
    response
}

/// The content types of the files the client is made of. Anything else is
/// served as opaque bytes (and `nosniff` keeps browsers from guessing).
fn content_type(extension: &str) -> &'static str {
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The pages' policy. Scripts: this node and the hls.js origin. Media and
/// fetches (hls.js loads playlists with XHR): this node, `blob:` (hls.js
/// feeds the video element through MediaSource) and the origin of
/// `public_url`, where rooms' `hls_url` point (nginx in a deployment).
/// WebSockets to this node are covered by `'self'` (CSP level 3). Inline
/// scripts and styles are refused: the pages have none.
pub fn content_security_policy(ctx: &ApiContext) -> String {
    let config = ctx.config();
    let hls_js = origin(&config.web.hls_js_url).unwrap_or_default();
    let media = origin(&config.public_url).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' {hls_js}; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob: {media}; \
         connect-src 'self' {media}; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of an absolute http(s) URL; None for a path (this
/// node) or anything that could break the policy's syntax.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let clean = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    clean.then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_are_scheme_and_authority_only() {
        assert_eq!(
            origin("https://cdn.example/npm/hls.js@1/dist/hls.min.js").as_deref(),
            Some("https://cdn.example")
        );
        assert_eq!(
            origin("http://127.0.0.1:8081").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(origin("/assets/hls.min.js"), None);
        assert_eq!(origin("javascript://x"), None);
        assert_eq!(origin("https://evil; script-src *"), None);
    }
}
