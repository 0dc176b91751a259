//! The gateway's way to the shared hot state (a [`liveshop_cache::Cache`]:
//! in-process on one node, Redis shared by a cluster).
//!
//! The cache holds nothing durable, so no request may fail because it is
//! unreachable: every call goes through [`Hot::call`], which bounds it by
//! `limits.cache_timeout` and turns a failure into `None`, and each caller
//! has a fallback (the choices, per use, are in docs/architecture.md under
//! "Gateway: shared hot state"). After a failure the cache is not asked again
//! for [`COOLDOWN`], so an outage costs at most one timeout per in-flight
//! request and then nothing. Failures are counted in
//! `liveshop_cache_failures_total{op, reason}` and logged at most once per
//! [`LOG_EVERY`] (with how many there were).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use liveshop_cache::Cache;

use crate::metrics::CACHE_FAILURES;
use crate::util::now_ms;

/// How long the cache is skipped after a failure.
pub const COOLDOWN: Duration = Duration::from_secs(1);
/// At most one warning per this long.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The shared cache behind a timeout, a cool-down and throttled logging.
pub struct Hot {
    cache: Arc<dyn Cache>,
    timeout: Duration,
    /// Until then (ms since the epoch) calls skip the cache.
    skip_until_ms: AtomicU64,
    /// When a failure was last logged (ms since the epoch).
    logged_ms: AtomicU64,
    /// Failures since the last warning.
    unlogged: AtomicU64,
    /// Set by a failure, cleared (and logged) by the next success.
    degraded: AtomicBool,
}

impl Hot {
    pub fn new(cache: Arc<dyn Cache>, timeout: Duration) -> Hot {
        Hot {
            cache,
            timeout,
            skip_until_ms: AtomicU64::new(0),
            logged_ms: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        }
    }

    /// The cache itself (tests and the node's demo use it directly).
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.cache
    }

    /// Whether the last call failed and none has succeeded since.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Runs one cache call (`op` names it in metrics and logs). `None` when
    /// the cache failed, timed out, or is cooling down after a failure: the
    /// caller falls back.
    pub async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = liveshop_cache::Result<T>>,
    ) -> Option<T> {
        let skip_until = self.skip_until_ms.load(Ordering::Relaxed);
        let probing = skip_until != 0;
        if probing {
            // After a failure: skip while cooling down; then one call probes
            // the cache (it claims the next `timeout`) and the others keep
            // skipping until it answers, so a cache that hangs costs one
            // timeout per cool-down, not one per request arriving meanwhile.
            let now = now_ms();
            let probe_until = now.saturating_add(self.timeout.as_millis() as u64);
            if now < skip_until
                || self
                    .skip_until_ms
                    .compare_exchange(
                        skip_until,
                        probe_until,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
            {
                metrics::counter!(CACHE_FAILURES, "op" => op, "reason" => "skipped").increment(1);
                return None;
            }
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                if probing {
                    self.skip_until_ms.store(0, Ordering::Relaxed);
                }
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(op, "the shared cache answers again");
                }
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(op, "error", &e.to_string());
                None
            }
            Err(_) => {
                let detail = format!("no answer within {:?}", self.timeout);
                self.failed(op, "timeout", &detail);
                None
            }
        }
    }

    fn failed(&self, op: &'static str, reason: &'static str, detail: &str) {
        metrics::counter!(CACHE_FAILURES, "op" => op, "reason" => reason).increment(1);
        let now = now_ms();
        self.skip_until_ms
            .store(now + COOLDOWN.as_millis() as u64, Ordering::Relaxed);
        self.degraded.store(true, Ordering::Relaxed);
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let last = self.logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64
            && self
                .logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let failures = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(
                op,
                reason,
                failures,
                "the shared cache failed ({detail}); falling back (node-local rate limits, \
                 store-only checks, node-local room list) and skipping it for {COOLDOWN:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveshop_cache::{CacheError, MemoryCache};

    #[tokio::test]
    async fn a_failure_falls_back_then_cools_down() {
        let hot = Hot::new(Arc::new(MemoryCache::new()), Duration::from_millis(50));
        assert_eq!(hot.call("probe", async { Ok(1) }).await, Some(1));
        let failing = async { Err::<u32, _>(CacheError::Unavailable("down".into())) };
        assert_eq!(hot.call("probe", failing).await, None);
        assert!(hot.is_degraded());
        // Cooling down: even a call that would succeed is skipped.
        assert_eq!(hot.call("probe", async { Ok(2) }).await, None);
        tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
        assert_eq!(hot.call("probe", async { Ok(3) }).await, Some(3));
        assert!(!hot.is_degraded());
        // A call that hangs times out.
        let hang = std::future::pending::<liveshop_cache::Result<u32>>();
        assert_eq!(hot.call("probe", hang).await, None);
        assert!(hot.is_degraded());
    }

    /// A cache that hangs: once the cool-down is over, one request probes it
    /// (and waits out the timeout); the requests arriving meanwhile skip it
    /// instead of each waiting out a timeout of their own.
    #[tokio::test]
    async fn after_the_cool_down_one_call_probes_a_hanging_cache() {
        use std::sync::atomic::AtomicUsize;
        let hot = Hot::new(Arc::new(MemoryCache::new()), Duration::from_millis(300));
        let failing = async { Err::<u32, _>(CacheError::Unavailable("down".into())) };
        assert_eq!(hot.call("probe", failing).await, None);
        tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
        let asked = AtomicUsize::new(0);
        let hang = || async {
            asked.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<liveshop_cache::Result<u32>>().await
        };
        let started = tokio::time::Instant::now();
        let calls = (0..20).map(|_| hot.call("probe", hang()));
        let answers = futures_util::future::join_all(calls).await;
        assert!(answers.iter().all(Option::is_none));
        assert_eq!(
            asked.load(Ordering::Relaxed),
            1,
            "every call waited on the hanging cache"
        );
        // The probe failed: cooling down again.
        assert_eq!(hot.call("probe", async { Ok(1) }).await, None);
        assert!(started.elapsed() < Duration::from_millis(900));
        // Once a probe succeeds, every call goes to the cache again.
        tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
        assert_eq!(hot.call("probe", async { Ok(2) }).await, Some(2));
        let calls = (0..5).map(|i| hot.call("probe", async move { Ok(i) }));
        let answers = futures_util::future::join_all(calls).await;
        assert_eq!(answers, (0..5).map(Some).collect::<Vec<_>>());
    }
}
