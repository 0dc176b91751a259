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
//! idempotency keys, revocations and live-room entries run on the backend's
//! own clock.

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

/// `url` with its user and password (if any) replaced by `***`, for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    // Everything up to the last '@' may be userinfo: a password may hold
    // '@' or '/' unencoded. An '@' later in the URL (rare in Redis URLs)
    // hides the host too, which errs on the safe side.
    let rest = &url[scheme_end..];
    match rest.rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

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

    /// Marks `room` live with `viewers` (replacing its previous count and
    /// expiry), or removes it from the directory when `live` is false.
    ///
    /// A live entry leaves the directory by itself `ttl_ms` after this call
    /// (on the backend's clock) unless it is set again before: the node
    /// hosting the room repeats the call periodically (a heartbeat), so the
    /// rooms of a node that died disappear. `ttl_ms` is ignored when `live`
    /// is false.
    async fn set_room_live(
        &self,
        room: &RoomId,
        live: bool,
        viewers: u64,
        ttl_ms: u64,
    ) -> Result<()>;

    /// Up to `limit` live rooms whose entry has not expired, most viewers
    /// first (ties in any order).
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            redact_url("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:p@ss/w@h:1/"), "redis://***@h:1/");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
