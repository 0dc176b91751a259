//! The backends a node can use: the durable store (`store`, `[redis]`,
//! `[scylla]`) and the shared cache (`cache` / `[cache]`).

use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Which durable store the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// fjall in `<data_dir>/store`: one node.
    #[default]
    Embedded,
    /// A Redis server (`[redis]`), which several nodes may share.
    Redis,
    /// A ScyllaDB cluster (`[scylla]`): the production store.
    Scylla,
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "embedded" => Ok(StoreKind::Embedded),
            "redis" => Ok(StoreKind::Redis),
            "scylla" => Ok(StoreKind::Scylla),
            other => Err(format!(
                "unknown store {other:?}: expected \"embedded\", \"redis\" or \"scylla\""
            )),
        }
    }
}

/// The Redis store (`store = "redis"`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/[db]`.
    pub url: String,
    /// Prepended to every key, so several deployments can share a server.
    pub prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379/".into(),
            prefix: "liveshop:".into(),
        }
    }
}

/// The ScyllaDB store (`store = "scylla"`). Create its schema with
/// `liveshop migrate` (or `--migrate` at start-up).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScyllaConfig {
    /// Contact points, `host:port`; the driver discovers the rest.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The datacenter this node runs in; requests prefer its replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<String>,
    /// The keyspace's replication factor, used when `migrate` creates it.
    pub replication_factor: u32,
    /// How long one request may take before it fails as a timeout.
    pub request_timeout_ms: u64,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        let d = liveshop_store::ScyllaOptions::default();
        ScyllaConfig {
            nodes: d.known_nodes,
            keyspace: d.keyspace,
            datacenter: d.local_datacenter,
            replication_factor: d.replication_factor,
            request_timeout_ms: d.request_timeout.as_millis() as u64,
        }
    }
}

impl ScyllaConfig {
    /// The store's options: these keys over the store's defaults.
    pub fn options(&self) -> liveshop_store::ScyllaOptions {
        liveshop_store::ScyllaOptions {
            known_nodes: self.nodes.clone(),
            keyspace: self.keyspace.clone(),
            local_datacenter: self.datacenter.clone(),
            replication_factor: self.replication_factor,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            ..liveshop_store::ScyllaOptions::default()
        }
    }
}

/// Which shared hot-state backend (rate limits, live-room directory,
/// revoked refresh families) the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// In-process: one node.
    #[default]
    Memory,
    /// A Redis server every node of a cluster shares.
    Redis,
}

impl std::str::FromStr for CacheKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "memory" => Ok(CacheKind::Memory),
            "redis" => Ok(CacheKind::Redis),
            other => Err(format!(
                "unknown cache {other:?}: expected \"memory\" or \"redis\""
            )),
        }
    }
}

/// The shared cache: a `[cache]` table, or the shorthand
/// `cache = "memory" | "redis"` (the backend, every other key default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheTable {
    /// "memory" (default) or "redis".
    pub backend: CacheKind,
    /// The cache's Redis; defaults to `[redis] url` (the store's server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Prepended to every cache key; keep it apart from the store's prefix.
    pub prefix: String,
    /// Milliseconds between the heartbeats that keep the rooms this node
    /// hosts in the cluster's live-room directory (an entry lasts three).
    pub room_heartbeat_ms: u64,
}

impl Default for CacheTable {
    fn default() -> Self {
        CacheTable {
            backend: CacheKind::Memory,
            redis_url: None,
            prefix: "liveshop-cache:".into(),
            room_heartbeat_ms: 5_000,
        }
    }
}

/// `[cache]` as the node uses it (see [`CacheTable`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct CacheConfig(pub CacheTable);

impl std::ops::Deref for CacheConfig {
    type Target = CacheTable;
    fn deref(&self) -> &CacheTable {
        &self.0
    }
}

impl std::ops::DerefMut for CacheConfig {
    fn deref_mut(&mut self) -> &mut CacheTable {
        &mut self.0
    }
}

impl<'de> Deserialize<'de> for CacheConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = CacheConfig;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"memory\", \"redis\" or a [cache] table")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<CacheConfig, E> {
                Ok(CacheConfig(CacheTable {
                    backend: s.parse().map_err(E::custom)?,
                    ..CacheTable::default()
                }))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CacheConfig, A::Error> {
                CacheTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(CacheConfig)
            }
        }
        d.deserialize_any(Either)
    }
}
