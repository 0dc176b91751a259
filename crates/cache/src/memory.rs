//! The in-process backend: one mutex-protected set of maps. Entries expire
//! by time and expired ones are pruned as the cache is used, so the maps
//! hold only live state (plus at most [`PRUNE_EVERY`] calls' worth of
//! expired entries).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use liveshop_protocol::RoomId;

use crate::{Cache, Result, gcra};

/// Every this many calls, every map drops its expired entries.
const PRUNE_EVERY: u64 = 64;

/// The in-process cache. Clones share the same state, like two nodes on
/// one Redis.
#[derive(Debug, Clone, Default)]
pub struct MemoryCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Rate-limit key → TAT in microseconds (caller's clock).
    buckets: HashMap<String, u64>,
    /// Latest `now_us` a caller gave, to prune buckets.
    last_now_us: u64,
    /// Live room → (viewers, expiry).
    rooms: HashMap<RoomId, (u64, Instant)>,
    /// (scope, key) → (value, expiry).
    idem: HashMap<(String, String), (String, Instant)>,
    revoked: HashMap<String, Instant>,
    calls: u64,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked: every update
        // is a single insert or remove.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.calls += 1;
        if inner.calls.is_multiple_of(PRUNE_EVERY) {
            inner.prune(Instant::now());
        }
        inner
    }
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        let now_us = self.last_now_us;
        self.buckets.retain(|_, tat| *tat > now_us);
        self.idem.retain(|_, (_, exp)| *exp > now);
        self.revoked.retain(|_, exp| *exp > now);
        self.rooms.retain(|_, (_, exp)| *exp > now);
    }
}

fn expiry(ttl_ms: u64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_millis(ttl_ms.max(1)))
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[async_trait]
impl Cache for MemoryCache {
    async fn rate_allow(
        &self,
        key: &str,
        per_second: u32,
        burst: u32,
        now_ms: u64,
    ) -> Result<bool> {
        if per_second == 0 || burst == 0 {
            return Ok(false);
        }
        let now_us = now_ms.saturating_mul(1000);
        let mut inner = self.lock();
        inner.last_now_us = inner.last_now_us.max(now_us);
        let tat = inner.buckets.get(key).copied();
        match gcra::decide(tat, now_us, gcra::interval_us(per_second), burst) {
            Some(new_tat) => {
                inner.buckets.insert(key.to_owned(), new_tat);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn set_room_live(
        &self,
        room: &RoomId,
        live: bool,
        viewers: u64,
        ttl_ms: u64,
    ) -> Result<()> {
        let mut inner = self.lock();
        if live {
            inner.rooms.insert(room.clone(), (viewers, expiry(ttl_ms)));
        } else {
            inner.rooms.remove(room);
        }
        Ok(())
    }

    async fn live_rooms(&self, limit: usize) -> Result<Vec<(RoomId, u64)>> {
        let now = Instant::now();
        let inner = self.lock();
        let mut rooms: Vec<(RoomId, u64)> = inner
            .rooms
            .iter()
            .filter(|(_, (_, exp))| *exp > now)
            .map(|(r, (v, _))| (r.clone(), *v))
            .collect();
        drop(inner);
        rooms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rooms.truncate(limit);
        Ok(rooms)
    }

    async fn claim_idem(
        &self,
        scope: &str,
        key: &str,
        value: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>> {
        let now = Instant::now();
        let mut inner = self.lock();
        let k = (scope.to_owned(), key.to_owned());
        if let Some((existing, exp)) = inner.idem.get(&k)
            && *exp > now
        {
            return Ok(Some(existing.clone()));
        }
        inner.idem.insert(k, (value.to_owned(), expiry(ttl_ms)));
        Ok(None)
    }

    async fn revoke_family(&self, family: &str, ttl_ms: u64) -> Result<()> {
        let mut inner = self.lock();
        inner.revoked.insert(family.to_owned(), expiry(ttl_ms));
        Ok(())
    }

    async fn is_family_revoked(&self, family: &str) -> Result<bool> {
        let inner = self.lock();
        Ok(inner
            .revoked
            .get(family)
            .is_some_and(|exp| *exp > Instant::now()))
    }
}
