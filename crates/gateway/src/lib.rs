//! The gateway of a liveshop node: the HTTP API (`/api/v1`), the `GET /ws`
//! WebSocket endpoint of the client contract (docs/protocol.md), and
//! `/healthz`, `/readyz`, `/metrics`.
//!
//! This crate owns what happens at the edge: authentication (Argon2id
//! password hashes, HS256 access tokens, rotated refresh-token families),
//! rate limits, connection and frame limits, mapping requests onto the
//! region's API and answers onto the contract's replies, per-connection
//! ordering (a `join`'s `ok` before the room's later events, no event twice),
//! batching outbound messages into frames, lag handling, keepalive, metrics,
//! and graceful shutdown. It decides nothing about lots or rooms (the domain
//! crate does, inside the actors), stores nothing itself (the store does),
//! and defines no wire type (the protocol crate does).
//!
//! The node builds an [`ApiContext`] once (with the shared cache and
//! [`install_metrics`]'s handle) and calls [`serve`] with its listener and a
//! shutdown future; when `serve` returns, every connection is closed, this
//! node's rooms have left the live-room directory, and the region can be
//! shut down.
//!
//! # Decisions where the contract is silent
//! - A bad `?token=` does not fail the handshake (a browser could not tell
//!   why): the connection opens anonymous and gets an `error`
//!   (`unauthorized`, no `rid`). An `auth` with another user's token than the
//!   connection's is `bad_request`; the same user's fresh token is `ok`.
//!   Tokens are checked when presented, not again during the connection.
//! - After a `lagged` notice, each affected room is joined again from the
//!   last delivered seq: the missed events follow directly when the room can
//!   replay them, otherwise an `ok` without `rid` carries a snapshot with
//!   `"reset": true`. A second lag within `limits.lag_window` closes the
//!   connection with 1013.
//! - Close codes: 1001 at shutdown, 1009 for a frame over 64 KiB (then the
//!   socket is drained so the client reads the close), 1013 for a slow
//!   reader, 1000 for an idle connection (no frame or pong for
//!   `limits.idle_timeout`), 1002/1007 for protocol or UTF-8 violations.
//! - HTTP 405 answers with the code `bad_request`; unknown routes 404
//!   `not_found`. Ids in paths that break the id rules are 404.
//! - A connection past `limits.max_connections` (or past
//!   `limits.max_connections_per_ip` from its address) is answered 503
//!   `unavailable` without its request being read, and closed; a WebSocket
//!   upgrade past `limits.max_websockets` or `limits.max_websockets_per_ip`
//!   is answered 503 `unavailable`. An HTTP connection on which no request
//!   begins for `limits.http_idle_timeout`, or whose request head takes
//!   longer than `limits.http_header_timeout`, is closed.
//!
//! # Layout
//! - `server.rs`: [`router`] (every route and layer) and [`serve`] (upkeep,
//!   graceful shutdown).
//! - `net/`: the accept loop with the connection caps, global and per client
//!   address (`accept.rs`), per-address counts (`per_ip.rs`), the connection
//!   IO that holds a connection's slots and closes idle or slow HTTP
//!   connections (`timeouts.rs`).
//! - `context.rs`: [`ApiContext`]. `config.rs`: [`GatewayConfig`], [`Limits`],
//!   [`RateLimits`].
//! - `error.rs`: [`Error`], the HTTP error type (`IntoResponse`).
//! - `auth/`: password hashing, tokens, refresh rotation (`mod.rs`), JWTs
//!   (`jwt.rs`), the `AuthUser`/`MaybeAuthUser`/`ClientIp` extractors
//!   (`extractor.rs`).
//! - `http/`: one `router()` per resource (`users.rs`, `rooms.rs`, `lots.rs`,
//!   `orders.rs`, `media.rs` (the RTMP server's hooks, stream key rotation),
//!   `health.rs`), merged in `http/mod.rs`.
//! - `ws/`: the handshake (`upgrade.rs`), the connection task (`conn.rs`),
//!   requests (`requests.rs`) and their replies (`replies.rs`), outbound
//!   frames (`outbox.rs`).
//! - `web.rs`: the web client (pages and ES modules embedded from `web/`).
//! - `limits.rs`: rate limiters. `metrics.rs`: metric names, the recorder,
//!   the HTTP middleware. `util.rs`: time, randomness, hex.

pub mod auth;
pub mod config;
pub mod context;
pub mod error;
pub mod hot;
pub mod http;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod net;
pub mod server;
pub mod util;
pub mod web;
pub mod ws;

pub use config::{
    DEFAULT_HLS_JS_INTEGRITY, DEFAULT_HLS_JS_URL, GatewayConfig, Limits, PasswordCost, Rate,
    RateLimits, WebConfig,
};
pub use context::{ApiContext, ConfigError};
pub use error::Error;
pub use metrics::install_metrics;
pub use server::{router, serve};
