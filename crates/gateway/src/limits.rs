//! Rate limits (`governor` token buckets): per user for the acting requests,
//! per connection for every message, per client IP for register and login.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use liveshop_protocol::UserId;

use crate::config::{Rate, RateLimits};

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

/// The node's shared buckets.
pub struct Limiters {
    chat: DefaultKeyedRateLimiter<UserId>,
    like: DefaultKeyedRateLimiter<UserId>,
    bid: DefaultKeyedRateLimiter<UserId>,
    hold: DefaultKeyedRateLimiter<UserId>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    messages: Quota,
}

impl Limiters {
    pub fn new(rates: &RateLimits) -> Limiters {
        Limiters {
            chat: RateLimiter::keyed(quota(rates.chat)),
            like: RateLimiter::keyed(quota(rates.like)),
            bid: RateLimiter::keyed(quota(rates.bid)),
            hold: RateLimiter::keyed(quota(rates.hold)),
            auth: RateLimiter::keyed(quota(rates.auth)),
            messages: quota(rates.messages),
        }
    }

    /// Takes a token from `user`'s bucket for `action`; false when empty.
    pub fn allow_user(&self, action: Action, user: &UserId) -> bool {
        let limiter = match action {
            Action::Chat => &self.chat,
            Action::Like => &self.like,
            Action::Bid => &self.bid,
            Action::Hold => &self.hold,
        };
        let ok = limiter.check_key(user).is_ok();
        if !ok {
            metrics::counter!(crate::metrics::RATE_LIMITED, "kind" => action.as_str()).increment(1);
        }
        ok
    }

    /// Takes a token from the register/login bucket of `ip`. Requests whose
    /// address is unknown (a router used without connect info) are not
    /// limited.
    pub fn allow_auth(&self, ip: Option<IpAddr>) -> bool {
        let ok = ip.is_none_or(|ip| self.auth.check_key(&ip).is_ok());
        if !ok {
            metrics::counter!(crate::metrics::RATE_LIMITED, "kind" => "auth").increment(1);
        }
        ok
    }

    /// A fresh bucket for one connection's messages.
    pub fn connection(&self) -> DefaultDirectRateLimiter {
        RateLimiter::direct(self.messages)
    }

    /// Forgets buckets that are full again, so idle users and addresses cost
    /// no memory. Called periodically.
    pub fn sweep(&self) {
        for l in [&self.chat, &self.like, &self.bid, &self.hold] {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.auth.retain_recent();
        self.auth.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_per_user() {
        let rates = RateLimits {
            chat: Rate::new(1, 3),
            ..RateLimits::default()
        };
        let l = Limiters::new(&rates);
        let ann = UserId::new("ann").unwrap();
        let bob = UserId::new("bob").unwrap();
        for _ in 0..3 {
            assert!(l.allow_user(Action::Chat, &ann));
        }
        assert!(!l.allow_user(Action::Chat, &ann));
        assert!(l.allow_user(Action::Chat, &bob), "buckets are per user");
        assert!(l.allow_user(Action::Bid, &ann), "and per action");
        l.sweep();
    }

    #[test]
    fn connection_buckets_are_independent() {
        let rates = RateLimits {
            messages: Rate::new(1, 2),
            ..RateLimits::default()
        };
        let l = Limiters::new(&rates);
        let (a, b) = (l.connection(), l.connection());
        assert!(a.check().is_ok() && a.check().is_ok());
        assert!(a.check().is_err());
        assert!(b.check().is_ok());
    }
}
