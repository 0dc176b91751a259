//! liveshop's shared hot state: what every node must see the same but that
//! may be lost without losing a sale. This crate owns the [`Cache`] trait and
//! its two backends, [`MemoryCache`] (in-process, the single-node default)
//! and `RedisCache` (behind the default `redis` feature, shared by every
//! node of a cluster), plus the [`suite`] both must pass: cluster-wide rate
//! limits, the live-room directory sorted by viewers, idempotency keys and
//! the fast "is this refresh family revoked" check. It does not own durable
//! state: accounts, refresh families, orders and lot events live in
//! `liveshop-store`, which stays the source of truth (a revoked family is
//! revoked there first; the cache only answers quickly). It holds no
//! policy either: limits, TTLs and what a key means are the caller's.
//!
//! Time is an argument where the result depends on it (`now_ms` of
//! [`Cache::rate_allow`]), so callers and tests control it; the TTLs of
//! idempotency keys and revocations run on the backend's own clock.

mod gcra;
mod memory;
#[cfg(feature = "redis")]
mod redis_cache;
pub mod suite;

use async_trait::async_trait;
use liveshop_protocol::RoomId;

pub use memory::MemoryCache;
#[cfg(feature = "redis")]
pub use redis_cache::RedisCache;

/// Why a cache call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The backend could not be reached or answered nonsense.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = CacheError> = std::result::Result<T, E>;

/// Shared hot state. Every method is one atomic step on the backend, so
/// two nodes calling at once see one order.
#[async_trait]
pub trait Cache: Send + Sync {
    /// One request against the rate limit `key`: a GCRA token bucket that
    /// refills `per_second` tokens a second and holds at most `burst`.
    /// `true` if the request is allowed (and counted). `per_second == 0` or
    /// `burst == 0` allows nothing. The bucket is shared by every handle on
    /// the same backend and forgotten once idle long enough to be full.
    async fn rate_allow(&self, key: &str, per_second: u32, burst: u32, now_ms: u64)
    -> Result<bool>;

    /// Marks `room` live with `viewers` (replacing its previous count), or
    /// removes it from the directory when `live` is false.
    async fn set_room_live(&self, room: &RoomId, live: bool, viewers: u64) -> Result<()>;

    /// Up to `limit` live rooms, most viewers first (ties in any order).
    async fn live_rooms(&self, limit: usize) -> Result<Vec<(RoomId, u64)>>;

    /// Claims the idempotency key `key` within `scope` for `ttl_ms`,
    /// remembering `value`. `None` if this call claimed it; otherwise the
    /// value the current claim stored (and nothing changes).
    async fn claim_idem(
        &self,
        scope: &str,
        key: &str,
        value: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>>;

    /// Remembers that refresh family `family` is revoked for `ttl_ms` (at
    /// least the family's remaining lifetime). A later call sets a new TTL.
    async fn revoke_family(&self, family: &str, ttl_ms: u64) -> Result<()>;

    /// Whether `family` was revoked and its TTL has not run out.
    async fn is_family_revoked(&self, family: &str) -> Result<bool>;
}
