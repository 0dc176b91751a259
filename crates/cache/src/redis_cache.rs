//! The Redis backend: every node of a cluster connects to the same server
//! and key prefix. Each trait method is one command or one Lua script, so
//! it is atomic on the server. Keys (under the prefix):
//!
//! - `rate:<key>`: a rate limit's TAT in microseconds, expiring when full.
//! - `rooms`: sorted set, room id scored by viewers.
//! - `rooms:expiry`: sorted set, room id scored by the server time (ms) at
//!   which its entry expires; the listing script drops expired rooms from
//!   both sets before it reads.
//! - `idem:<scope len>:<scope>:<key>`: an idempotency claim's value.
//! - `revoked:<family>`: present while the family is known revoked.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use liveshop_protocol::RoomId;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{Cache, CacheError, Result, gcra, redact_url};

/// GCRA, as in `gcra::decide`. KEYS[1] the bucket; ARGV now_us,
/// interval_us, burst. Numbers stay below 2^53, so Lua's doubles are exact;
/// `%.0f` keeps them out of exponent notation.
const RATE_ALLOW: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + interval
if new_tat - now > interval * burst then
  return 0
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return 1
";

/// The server's clock in milliseconds, for the live-room scripts. Scripts
/// are replicated by their effects (Redis >= 5 does so by default), so
/// reading `TIME` before writing is allowed.
const NOW_MS: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS[1] rooms, KEYS[2] rooms:expiry; ARGV room, viewers, ttl_ms.
const SET_ROOM_LIVE: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], string.format('%.0f', now + tonumber(ARGV[3])), ARGV[1])
return 1
";

/// KEYS[1] rooms, KEYS[2] rooms:expiry; ARGV the last rank to return.
/// Removes expired entries, then lists the rest, most viewers first.
const LIVE_ROOMS: &str = r"
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))
for _, room in ipairs(expired) do
  redis.call('ZREM', KEYS[1], room)
  redis.call('ZREM', KEYS[2], room)
end
return redis.call('ZREVRANGE', KEYS[1], 0, ARGV[1], 'WITHSCORES')
";

/// KEYS[1] the claim; ARGV value, ttl_ms. Nil if claimed, else the value
/// already there.
const CLAIM_IDEM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return redis.call('GET', KEYS[1])
";

/// The cache on a Redis server shared by every node.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    rate_allow: Script,
    claim_idem: Script,
    set_room_live: Script,
    live_rooms: Script,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(context: &str, e: redis::RedisError) -> CacheError {
    CacheError::Unavailable(format!("{context}: {e}"))
}

impl RedisCache {
    /// Connects to `url`; every key this handle touches starts with
    /// `prefix` (e.g. `"liveshop:cache:"`).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let shown = redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| unavailable(&format!("bad redis url {shown:?}"), e))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable(&format!("connecting to redis at {shown}"), e))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            rate_allow: Script::new(RATE_ALLOW),
            claim_idem: Script::new(CLAIM_IDEM),
            set_room_live: Script::new(&format!("{NOW_MS}{SET_ROOM_LIVE}")),
            live_rooms: Script::new(&format!("{NOW_MS}{LIVE_ROOMS}")),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn rooms_key(&self) -> String {
        format!("{}rooms", self.prefix)
    }

    fn rooms_expiry_key(&self) -> String {
        format!("{}rooms:expiry", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
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
        let allowed: i64 = self
            .rate_allow
            .key(self.key("rate", key))
            .arg(now_ms.saturating_mul(1000))
            .arg(gcra::interval_us(per_second))
            .arg(burst)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("rate limit {key}"), e))?;
        Ok(allowed == 1)
    }

    async fn set_room_live(
        &self,
        room: &RoomId,
        live: bool,
        viewers: u64,
        ttl_ms: u64,
    ) -> Result<()> {
        let (rooms, expiry) = (self.rooms_key(), self.rooms_expiry_key());
        let result = if live {
            self.set_room_live
                .key(&rooms)
                .key(&expiry)
                .arg(room.as_str())
                .arg(viewers)
                .arg(ttl_ms.max(1))
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map(drop)
        } else {
            redis::pipe()
                .atomic()
                .cmd("ZREM")
                .arg(&rooms)
                .arg(room.as_str())
                .ignore()
                .cmd("ZREM")
                .arg(&expiry)
                .arg(room.as_str())
                .ignore()
                .query_async::<()>(&mut self.conn())
                .await
        };
        result.map_err(|e| unavailable(&format!("marking room {room} live={live}"), e))
    }

    async fn live_rooms(&self, limit: usize) -> Result<Vec<(RoomId, u64)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = i64::try_from(limit).unwrap_or(i64::MAX).saturating_sub(1);
        let raw: Vec<(String, f64)> = self
            .live_rooms
            .key(self.rooms_key())
            .key(self.rooms_expiry_key())
            .arg(stop)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("listing live rooms", e))?;
        raw.into_iter()
            .map(|(id, score)| {
                let room = RoomId::new(id.clone()).map_err(|e| {
                    CacheError::Unavailable(format!("bad room id {id:?} in live rooms: {e}"))
                })?;
                // Viewer counts are far below 2^53, so the score is exact.
                Ok((room, score as u64))
            })
            .collect()
    }

    async fn claim_idem(
        &self,
        scope: &str,
        key: &str,
        value: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>> {
        let rkey = self.key("idem", &format!("{}:{scope}:{key}", scope.len()));
        self.claim_idem
            .key(&rkey)
            .arg(value)
            .arg(ttl_ms.max(1))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("claiming idempotency key {rkey}"), e))
    }

    async fn revoke_family(&self, family: &str, ttl_ms: u64) -> Result<()> {
        let key = self.key("revoked", family);
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("revoking family {family}"), e))?;
        Ok(())
    }

    async fn is_family_revoked(&self, family: &str) -> Result<bool> {
        let key = self.key("revoked", family);
        let n: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("checking family {family}"), e))?;
        Ok(n == 1)
    }
}
