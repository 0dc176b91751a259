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
//! The node builds an [`ApiContext`] once (with [`install_metrics`]'s handle)
//! and calls [`serve`] with its listener and a shutdown future.
//!
//! # Layout
//! - `server.rs`: [`router`] (every route and layer) and [`serve`] (connection
//!   cap, upkeep, graceful shutdown).
//! - `context.rs`: [`ApiContext`]. `config.rs`: [`GatewayConfig`], [`Limits`],
//!   [`RateLimits`].
//! - `error.rs`: [`Error`], the HTTP error type (`IntoResponse`).
//! - `auth/`: password hashing, tokens, refresh rotation (`mod.rs`), JWTs
//!   (`jwt.rs`), the `AuthUser`/`MaybeAuthUser`/`ClientIp` extractors
//!   (`extractor.rs`).
//! - `http/`: one `router()` per resource (`users.rs`, `rooms.rs`, `lots.rs`,
//!   `orders.rs`, `rtmp.rs`, `health.rs`), merged in `http/mod.rs`.
//! - `ws/`: the handshake (`upgrade.rs`), the connection task (`conn.rs`),
//!   requests (`requests.rs`), outbound frames (`outbox.rs`).
//! - `limits.rs`: rate limiters. `metrics.rs`: metric names, the recorder,
//!   the HTTP middleware. `util.rs`: time, randomness, hex.

pub mod auth;
pub mod config;
pub mod context;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod server;
pub mod util;
pub mod ws;

pub use config::{GatewayConfig, Limits, Rate, RateLimits};
pub use context::{ApiContext, ConfigError};
pub use error::Error;
pub use metrics::install_metrics;
pub use server::{router, serve};
