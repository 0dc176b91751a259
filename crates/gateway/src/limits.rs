//! Rate limits: per user for the acting requests (chat, like, bid, hold), per
//! client IP for register, login and refresh, per connection for every
//! message.
//!
//! The per-user and per-IP limits protect what every node shares (rooms,
//! lots, the store, Argon2 time), so they count in the shared cache
//! ([`liveshop_cache::Cache::rate_allow`], a GCRA bucket per key): a user
//! who spreads requests over several nodes gets the same budget as on one.
//! Keys are `<kind>:<user id>` (`chat:`, `like:`, `bid:` for bid and
//! max_bid, `hold:`) and `auth:<ip>`.
//!
//! When the cache cannot answer ([`crate::hot::Hot::call`] gives `None`),
//! each of these limits falls back to a node-local `governor` bucket with
//! the same rate: neither fail-closed (a Redis outage would stop every sale
//! and sign-in) nor fail-open (a flood would meet no limit at all); the
//! limit then counts per node, so a cluster of N nodes allows at most N
//! times the rate until the cache answers again.
//!
//! The per-connection message limit stays a local `governor` bucket: it
//! belongs to one socket, which lives on one node, so there is nothing to
//! share, and it must not cost a cache round trip for every frame.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use liveshop_protocol::UserId;

use crate::config::{Rate, RateLimits};
use crate::hot::Hot;
use crate::metrics::{RATE_LIMIT_FALLBACK, RATE_LIMITED};
use crate::util::now_ms;

/// The rate-limited kinds of request, each with its own per-user bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Chat,
    Like,
    /// `bid` and `max_bid` share a bucket.
    Bid,
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Chat => "chat",
            Action::Like => "like",
            Action::Bid => "bid",
            Action::Hold => "hold",
        }
    }
}

fn quota(rate: Rate) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

/// The node's limiters: the shared buckets (through the cache), their
/// node-local fallbacks, and the per-connection quota.
pub struct Limiters {
    hot: Arc<Hot>,
    rates: RateLimits,
    /// Used only while the cache does not answer.
    local_chat: DefaultKeyedRateLimiter<UserId>,
    local_like: DefaultKeyedRateLimiter<UserId>,
    local_bid: DefaultKeyedRateLimiter<UserId>,
    local_hold: DefaultKeyedRateLimiter<UserId>,
    local_auth: DefaultKeyedRateLimiter<IpAddr>,
    messages: Quota,
}

impl Limiters {
    pub fn new(rates: &RateLimits, hot: Arc<Hot>) -> Limiters {
        Limiters {
            hot,
            rates: rates.clone(),
            local_chat: RateLimiter::keyed(quota(rates.chat)),
            local_like: RateLimiter::keyed(quota(rates.like)),
            local_bid: RateLimiter::keyed(quota(rates.bid)),
            local_hold: RateLimiter::keyed(quota(rates.hold)),
            local_auth: RateLimiter::keyed(quota(rates.auth)),
            messages: quota(rates.messages),
        }
    }

    /// One request against the shared bucket `key`; `None` if the cache
    /// did not answer.
    async fn shared(&self, key: &str, rate: Rate) -> Option<bool> {
        // Zero is refused by the node's configuration; clamp like `quota`.
        let (per_second, burst) = (rate.per_second.max(1), rate.burst.max(1));
        let call = self
            .hot
            .cache()
            .rate_allow(key, per_second, burst, now_ms());
        self.hot.call("rate_allow", call).await
    }

    /// Takes a token from `user`'s bucket for `action`; false when empty.
    pub async fn allow_user(&self, action: Action, user: &UserId) -> bool {
        let (rate, local) = match action {
            Action::Chat => (self.rates.chat, &self.local_chat),
            Action::Like => (self.rates.like, &self.local_like),
            Action::Bid => (self.rates.bid, &self.local_bid),
            Action::Hold => (self.rates.hold, &self.local_hold),
        };
        let kind = action.as_str();
        let key = format!("{kind}:{user}");
        let ok = match self.shared(&key, rate).await {
            Some(ok) => ok,
            None => {
                metrics::counter!(RATE_LIMIT_FALLBACK, "kind" => kind).increment(1);
                local.check_key(user).is_ok()
            }
        };
        if !ok {
            metrics::counter!(RATE_LIMITED, "kind" => kind).increment(1);
        }
        ok
    }

    /// Takes a token from the register/login/refresh bucket of `ip`.
    /// Requests whose address is unknown (a router used without connect
    /// info) are not limited.
    pub async fn allow_auth(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else {
            return true;
        };
        let ok = match self.shared(&format!("auth:{ip}"), self.rates.auth).await {
            Some(ok) => ok,
            None => {
                metrics::counter!(RATE_LIMIT_FALLBACK, "kind" => "auth").increment(1);
                self.local_auth.check_key(&ip).is_ok()
            }
        };
        if !ok {
            metrics::counter!(RATE_LIMITED, "kind" => "auth").increment(1);
        }
        ok
    }

    /// A fresh bucket for one connection's messages.
    pub fn connection(&self) -> DefaultDirectRateLimiter {
        RateLimiter::direct(self.messages)
    }

    /// Forgets fallback buckets that are full again, so idle users and
    /// addresses cost no memory. Called periodically.
    pub fn sweep(&self) {
        for l in [
            &self.local_chat,
            &self.local_like,
            &self.local_bid,
            &self.local_hold,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.local_auth.retain_recent();
        self.local_auth.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use liveshop_cache::{Cache, CacheError, MemoryCache};
    use liveshop_protocol::RoomId;

    use super::*;

    fn limiters(rates: RateLimits, cache: Arc<dyn Cache>) -> Limiters {
        Limiters::new(&rates, Arc::new(Hot::new(cache, Duration::from_secs(1))))
    }

    #[tokio::test]
    async fn a_burst_is_allowed_then_refused_per_user() {
        let rates = RateLimits {
            chat: Rate::new(1, 3),
            ..RateLimits::default()
        };
        let l = limiters(rates, Arc::new(MemoryCache::new()));
        let ann = UserId::new("ann").unwrap();
        let bob = UserId::new("bob").unwrap();
        for _ in 0..3 {
            assert!(l.allow_user(Action::Chat, &ann).await);
        }
        assert!(!l.allow_user(Action::Chat, &ann).await);
        assert!(
            l.allow_user(Action::Chat, &bob).await,
            "buckets are per user"
        );
        assert!(l.allow_user(Action::Bid, &ann).await, "and per action");
        l.sweep();
    }

    #[tokio::test]
    async fn two_nodes_on_one_cache_share_the_buckets() {
        let rates = RateLimits {
            hold: Rate::new(1, 4),
            auth: Rate::new(1, 2),
            ..RateLimits::default()
        };
        let cache = Arc::new(MemoryCache::new());
        let a = limiters(rates.clone(), cache.clone());
        let b = limiters(rates, cache);
        let ann = UserId::new("ann").unwrap();
        let mut allowed = 0;
        for i in 0..8 {
            let node = if i % 2 == 0 { &a } else { &b };
            allowed += usize::from(node.allow_user(Action::Hold, &ann).await);
        }
        assert_eq!(allowed, 4, "the burst counts over both nodes");
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(a.allow_auth(ip).await && b.allow_auth(ip).await);
        assert!(!a.allow_auth(ip).await && !b.allow_auth(ip).await);
        assert!(
            a.allow_auth(None).await,
            "unknown addresses are not limited"
        );
    }

    /// A cache that never answers successfully.
    struct Down;

    #[async_trait]
    impl Cache for Down {
        async fn rate_allow(
            &self,
            _: &str,
            _: u32,
            _: u32,
            _: u64,
        ) -> liveshop_cache::Result<bool> {
            Err(CacheError::Unavailable("down".into()))
        }
        async fn set_room_live(
            &self,
            _: &RoomId,
            _: bool,
            _: u64,
            _: u64,
        ) -> liveshop_cache::Result<()> {
            Err(CacheError::Unavailable("down".into()))
        }
        async fn live_rooms(&self, _: usize) -> liveshop_cache::Result<Vec<(RoomId, u64)>> {
            Err(CacheError::Unavailable("down".into()))
        }
        async fn claim_idem(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: u64,
        ) -> liveshop_cache::Result<Option<String>> {
            Err(CacheError::Unavailable("down".into()))
        }
        async fn revoke_family(&self, _: &str, _: u64) -> liveshop_cache::Result<()> {
            Err(CacheError::Unavailable("down".into()))
        }
        async fn is_family_revoked(&self, _: &str) -> liveshop_cache::Result<bool> {
            Err(CacheError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn without_the_cache_limits_fall_back_to_local_buckets() {
        let rates = RateLimits {
            bid: Rate::new(1, 2),
            auth: Rate::new(1, 1),
            ..RateLimits::default()
        };
        let l = limiters(rates, Arc::new(Down));
        let ann = UserId::new("ann").unwrap();
        assert!(l.allow_user(Action::Bid, &ann).await, "not fail-closed");
        assert!(l.allow_user(Action::Bid, &ann).await);
        assert!(!l.allow_user(Action::Bid, &ann).await, "not fail-open");
        let ip = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(l.allow_auth(ip).await);
        assert!(!l.allow_auth(ip).await);
    }

    #[test]
    fn connection_buckets_are_independent() {
        let rates = RateLimits {
            messages: Rate::new(1, 2),
            ..RateLimits::default()
        };
        let l = limiters(rates, Arc::new(MemoryCache::new()));
        let (a, b) = (l.connection(), l.connection());
        assert!(a.check().is_ok() && a.check().is_ok());
        assert!(a.check().is_err());
        assert!(b.check().is_ok());
    }
}
