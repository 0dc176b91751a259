//! The Redis backend: the shared store of a small cluster on one or a few
//! machines, against a real `redis-server` with `appendonly yes` and
//! `appendfsync always`.
//!
//! # Durability
//! With `appendfsync always` Redis fsyncs the AOF before it answers a
//! write, so an acknowledged append survives a Redis crash or restart.
//! [`RedisStore::connect`] checks both settings (`CONFIG GET`) and refuses to
//! start otherwise (an acknowledged bid must survive a Redis restart), unless
//! [`RedisOptions::allow_unsafe_durability`] is set (tests, throwaway demos).
//!
//! # Atomicity
//! Every write that checks something before writing is one Lua script
//! (`scripts.rs`): the epoch fence plus seq continuity plus the append of a
//! batch; the fenced snapshot; unique creates (user id and username, room id
//! and stream key, lot id, family id); the refresh-token rotation with reuse
//! detection; `put_order` (order id and buyer idempotency key). `claim` is
//! one `HINCRBY`. Redis runs a script alone, so two concurrent creates,
//! claims or rotations are serialised. Only `put_order` touches a key it is
//! not given in `KEYS` (the order an idempotency key points to), which is
//! fine on one server; this backend does not support Redis Cluster.
//!
//! # Key layout
//! Every key starts with [`RedisOptions::prefix`] (`P`, default `liveshop:`),
//! then a kind and `:`, then the id as given, so one server can host several
//! stores (tests use a unique prefix each) and ids cannot collide across
//! kinds. `skey` is [`crate::LogKey::storage_key`] (`lot/<id>`, `room/<id>`).
//!
//! | key                    | type   | content                                         |
//! |------------------------|--------|-------------------------------------------------|
//! | `P log:<skey>`         | hash   | `epoch`, `last` (decimal)                       |
//! | `P events:<skey>`      | list   | payloads as given; index `i` holds seq `i + 1`  |
//! | `P snap:<skey>`        | string | `Snapshot` (newest only)                        |
//! | `P user:<user_id>`     | string | `UserRecord`                                    |
//! | `P username:<name>`    | string | `user_id`                                       |
//! | `P family:<family>`    | hash   | `user_id`, `current_hash`, `expires_ms`, `revoked` (`0`/`1`) |
//! | `P room:<room_id>`     | string | `RoomRecord`                                    |
//! | `P roomkey:<stream_key>` | string | `room_id`                                     |
//! | `P rooms`              | zset   | `room_id` scored by `created_ms`                |
//! | `P lot:<lot_id>`       | string | `LotRecord`                                     |
//! | `P roomlots:<room_id>` | zset   | `lot_id` scored by `created_ms`                 |
//! | `P order:<order_id>`   | string | `OrderRecord`                                   |
//! | `P orderidem:<buyer>`  | hash   | idempotency key -> `order_id`                   |
//! | `P buyerorders:<buyer>` | zset  | `order_id` scored by `created_ms`               |
//! | `P sellerorders:<seller>` | zset | `order_id` scored by `created_ms`              |
//! | `P chat:<room_id>`     | zset   | 20-digit counter + `ChatLine`, scored by `at_ms` |
//! | `P chatseq:<room_id>`  | string | the room's chat counter                         |
//!
//! Records are MessagePack with field names (`rmp_serde::to_vec_named`),
//! stored as binary values. The family is a hash so the rotation script can
//! compare and update its fields. Zset scores are doubles, exact for
//! millisecond timestamps (< 2^53); ties sort by member (id), which the
//! conformance suite allows. Chat keeps the newest
//! [`RedisOptions::chat_lines_per_room`] lines per room (trimmed on every
//! append by the chat script).

mod log;
mod records;
mod scripts;

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, StoreError};
use scripts::Scripts;

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prepended to every key.
    pub prefix: String,
    /// Connect even if the server does not fsync every write (`appendonly
    /// yes` + `appendfsync always`). Acknowledged writes may then be lost.
    pub allow_unsafe_durability: bool,
    /// Chat lines kept per room.
    pub chat_lines_per_room: usize,
    /// How long one command may take before it fails with `Unavailable`.
    pub response_timeout: Duration,
    /// How long connecting may take.
    pub connection_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "liveshop:".into(),
            allow_unsafe_durability: false,
            chat_lines_per_room: 10_000,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(5),
        }
    }
}

/// The Redis-backed [`crate::Store`].
pub struct RedisStore {
    conn: ConnectionManager,
    options: RedisOptions,
    scripts: Scripts,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects with default options; refuses a server that does not fsync
    /// every write.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// [`RedisStore::connect`] with non-default options.
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| unavailable(&format!("bad redis url {url:?}"), e))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connection_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable(&format!("connecting to redis at {url}"), e))?;
        let store = Self {
            conn,
            options,
            scripts: Scripts::new(),
        };
        if !store.options.allow_unsafe_durability {
            store.check_durability().await?;
        }
        Ok(store)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.options.prefix
    }

    async fn check_durability(&self) -> Result<()> {
        let appendonly = self.config_get("appendonly").await?;
        let appendfsync = self.config_get("appendfsync").await?;
        if appendonly == "yes" && appendfsync == "always" {
            return Ok(());
        }
        Err(StoreError::Unavailable(format!(
            "refusing to use redis as the durable store: it has appendonly={appendonly:?} \
             and appendfsync={appendfsync:?}, but an acknowledged write (a bid, an order) \
             must survive a redis restart, which needs appendonly yes and appendfsync \
             always; fix the server config or set allow_unsafe_durability"
        )))
    }

    async fn config_get(&self, name: &str) -> Result<String> {
        let reply: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| {
                unavailable(
                    &format!("CONFIG GET {name} (needed to check durability)"),
                    e,
                )
            })?;
        reply.get(1).cloned().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "redis did not report {name}; cannot check durability"
            ))
        })
    }

    /// A handle on the shared, multiplexed connection (cheap to clone).
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.options.prefix)
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("GET {key}"), e))
    }

    async fn get_record<T: DeserializeOwned>(&self, what: &str, key: &str) -> Result<Option<T>> {
        match self.get_bytes(key).await? {
            Some(bytes) => decode(what, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The records whose ids a zset holds, in score order.
    async fn listed<T: DeserializeOwned>(
        &self,
        what: &str,
        zset: &str,
        kind: &str,
    ) -> Result<Vec<T>> {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(zset)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("ZRANGE {zset}"), e))?;
        self.records_of(what, zset, kind, &ids).await
    }

    /// The records of `ids`, which `zset` lists, in the order given.
    async fn records_of<T: DeserializeOwned>(
        &self,
        what: &str,
        zset: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(kind, id)).collect();
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("MGET {what} records"), e))?;
        keys.iter()
            .zip(values)
            .map(|(key, v)| match v {
                Some(bytes) => decode(what, key, &bytes),
                None => Err(StoreError::Corrupt(format!(
                    "{zset} lists {key}, which does not exist"
                ))),
            })
            .collect()
    }
}

fn unavailable(context: &str, e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {context}: {e}"))
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("encoding {what}: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, key: &str, bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("decoding {what} at {key}: {e}")))
}

/// A script's reply that is not one of the shapes it returns.
fn bad_reply(script: &str, reply: &impl fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!(
        "redis: {script} script gave an unexpected reply {reply:?}"
    ))
}

fn parse_u64(script: &str, s: &str) -> Result<u64> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{script} script returned a bad number {s:?}")))
}
