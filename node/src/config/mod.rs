//! Configuration: built-in defaults, then a TOML file (`--config`), then
//! `LIVESHOP_*` environment variables, then command-line flags, each
//! overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use liveshop_gateway::{Rate, RateLimits};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The liveshop node.
#[derive(Debug, Parser)]
#[command(name = "liveshop", version, about = "A live-shopping backend node")]
pub struct Cli {
    /// A TOML configuration file (see config/liveshop.toml).
    #[arg(long, env = "LIVESHOP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to serve HTTP and WebSocket on (port 0 picks a free port).
    #[arg(long, env = "LIVESHOP_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and the generated JWT key.
    #[arg(long, env = "LIVESHOP_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "LIVESHOP_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Seed a demo seller, a live room and a few open lots at start-up.
    #[arg(long, env = "LIVESHOP_DEMO", global = true)]
    pub demo: bool,
    /// Use a Redis that does not fsync every write (no `appendonly yes` +
    /// `appendfsync always`): acknowledged bids and orders may be lost.
    #[arg(long, env = "LIVESHOP_UNSAFE_REDIS_DURABILITY", global = true)]
    pub unsafe_redis_durability: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node (the default).
    Run,
    /// Run the node with demo data (same as `--demo`).
    Demo,
    /// Print the effective configuration as TOML and exit.
    Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Which durable store the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// fjall in `<data_dir>/store`: one node.
    #[default]
    Embedded,
    /// A Redis server (`[redis]`), which several nodes may share.
    Redis,
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "embedded" => Ok(StoreKind::Embedded),
            "redis" => Ok(StoreKind::Redis),
            other => Err(format!(
                "unknown store {other:?}: expected \"embedded\" or \"redis\""
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

/// The effective configuration.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The durable store: "embedded" (default) or "redis".
    pub store: StoreKind,
    /// Connect to a Redis that does not fsync every write.
    pub unsafe_redis_durability: bool,
    /// Base URL clients reach this node at (for `hls_url`); defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Where sellers push their stream (`rtmp_url` of a new room).
    pub rtmp_url: String,
    /// HS256 key for access tokens. When absent, a random key is generated
    /// once and kept in `<data_dir>/jwt.key`, so tokens survive restarts.
    pub jwt_secret: Option<String>,
    pub log_format: LogFormat,
    /// A `tracing` filter (`RUST_LOG` syntax); `RUST_LOG` overrides it.
    pub log: String,
    pub actors: ActorsConfig,
    pub limits: LimitsConfig,
    pub rate_limits: RatesConfig,
    pub redis: RedisConfig,
    /// The shared hot state: `cache = "memory"` (default) or `"redis"`, or
    /// a `[cache]` table.
    pub cache: CacheConfig,
}

/// Bounds on connections. One process may hold about as many sockets as its
/// `ulimit -n` allows (20,000 on the development machines), so the defaults
/// stay just below it.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open TCP connections, HTTP and WebSocket together; a connection past
    /// it is answered 503 `unavailable` and closed.
    pub max_connections: usize,
    /// Open WebSockets; an upgrade past this is answered 503 `unavailable`.
    pub max_websockets: usize,
    /// The same two caps for one client address. Load tests on loopback put
    /// thousands of connections on one address; a public node should set
    /// these far lower.
    pub max_connections_per_ip: usize,
    pub max_websockets_per_ip: usize,
    /// Seconds an HTTP connection may sit without a request before it is
    /// closed, and may take to send a request's headers.
    pub http_idle_timeout_secs: u64,
    pub http_header_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = liveshop_gateway::Limits::default();
        LimitsConfig {
            max_connections: 19_000,
            max_websockets: 18_000,
            max_connections_per_ip: d.max_connections_per_ip,
            max_websockets_per_ip: d.max_websockets_per_ip,
            http_idle_timeout_secs: d.http_idle_timeout.as_secs(),
            http_header_timeout_secs: d.http_header_timeout.as_secs(),
        }
    }
}

/// Token buckets: `per_second` requests a second with bursts of `burst`.
/// Per user: chat, like, bid (bid and max_bid), hold. Per connection:
/// messages (every WebSocket message). Per client IP: auth (register, login,
/// refresh).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RatesConfig {
    pub chat: RateConfig,
    pub like: RateConfig,
    pub bid: RateConfig,
    pub hold: RateConfig,
    pub messages: RateConfig,
    pub auth: RateConfig,
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: u32,
    pub burst: u32,
}

impl From<Rate> for RateConfig {
    fn from(r: Rate) -> Self {
        RateConfig {
            per_second: r.per_second,
            burst: r.burst,
        }
    }
}

impl From<RateConfig> for Rate {
    fn from(r: RateConfig) -> Self {
        Rate::new(r.per_second, r.burst)
    }
}

impl Default for RatesConfig {
    fn default() -> Self {
        let d = RateLimits::default();
        RatesConfig {
            chat: d.chat.into(),
            like: d.like.into(),
            bid: d.bid.into(),
            hold: d.hold.into(),
            messages: d.messages.into(),
            auth: d.auth.into(),
        }
    }
}

impl From<RatesConfig> for RateLimits {
    fn from(r: RatesConfig) -> Self {
        RateLimits {
            chat: r.chat.into(),
            like: r.like.into(),
            bid: r.bid.into(),
            hold: r.hold.into(),
            messages: r.messages.into(),
            auth: r.auth.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorsConfig {
    /// Seconds an idle lot or room stays in memory before it passivates.
    pub passivate_after_secs: u64,
    /// Milliseconds between a room's coalesced `stock`/`hearts`/`viewers`.
    pub room_tick_ms: u64,
    /// Room events kept for `join {since}`.
    pub replay_buffer: usize,
    /// Messages a connection may have queued before it is lagged.
    pub conn_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            store: StoreKind::Embedded,
            unsafe_redis_durability: false,
            public_url: None,
            rtmp_url: "rtmp://127.0.0.1:1935/live".into(),
            jwt_secret: None,
            log_format: LogFormat::Text,
            log: "info,fjall=warn,lsm_tree=warn".into(),
            actors: ActorsConfig::default(),
            limits: LimitsConfig::default(),
            rate_limits: RatesConfig::default(),
            redis: RedisConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        let d = liveshop_actors::ActorConfig::default();
        ActorsConfig {
            passivate_after_secs: d.passivate_after.as_secs(),
            room_tick_ms: d.room_tick.as_millis() as u64,
            replay_buffer: d.replay_buffer,
            conn_queue: d.conn_queue,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the file, then the flags and environment in `cli`.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = cli.listen {
            config.listen = listen;
        }
        if let Some(dir) = &cli.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(format) = cli.log_format {
            config.log_format = format;
        }
        if let Ok(secret) = std::env::var("LIVESHOP_JWT_SECRET") {
            config.jwt_secret = Some(secret);
        }
        if let Ok(url) = std::env::var("LIVESHOP_PUBLIC_URL") {
            config.public_url = Some(url);
        }
        if let Ok(store) = std::env::var("LIVESHOP_STORE") {
            config.store = store
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("LIVESHOP_STORE: {e}")))?;
        }
        if let Ok(url) = std::env::var("LIVESHOP_REDIS_URL") {
            config.redis.url = url;
        }
        if let Ok(cache) = std::env::var("LIVESHOP_CACHE") {
            config.cache.backend = cache
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("LIVESHOP_CACHE: {e}")))?;
        }
        if let Ok(url) = std::env::var("LIVESHOP_CACHE_REDIS_URL") {
            config.cache.redis_url = Some(url);
        }
        if cli.unsafe_redis_durability {
            config.unsafe_redis_durability = true;
        }
        config.check()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::Invalid(
                "jwt_secret must be at least 32 characters".into(),
            ));
        }
        if self.store == StoreKind::Redis && self.redis.url.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "store = \"redis\" needs redis.url".into(),
            ));
        }
        if self.cache.backend == CacheKind::Redis && self.cache_redis_url().trim().is_empty() {
            return Err(ConfigError::Invalid(
                "cache = \"redis\" needs cache.redis_url (or redis.url)".into(),
            ));
        }
        if self.cache.room_heartbeat_ms == 0 {
            return Err(ConfigError::Invalid(
                "cache.room_heartbeat_ms must be positive".into(),
            ));
        }
        let r = &self.rate_limits;
        for (name, rate) in [
            ("chat", r.chat),
            ("like", r.like),
            ("bid", r.bid),
            ("hold", r.hold),
            ("messages", r.messages),
            ("auth", r.auth),
        ] {
            if rate.per_second == 0 || rate.burst == 0 {
                return Err(ConfigError::Invalid(format!(
                    "rate_limits.{name}: per_second and burst must be positive"
                )));
            }
        }
        if self.actors.room_tick_ms == 0 || self.actors.conn_queue == 0 {
            return Err(ConfigError::Invalid(
                "actors.room_tick_ms and actors.conn_queue must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The cache's Redis URL: `[cache] redis_url`, else the store's.
    pub fn cache_redis_url(&self) -> &str {
        self.cache.redis_url.as_deref().unwrap_or(&self.redis.url)
    }

    /// This configuration as `liveshop config` prints it: the JWT secret
    /// hidden, the passwords gone from the Redis URLs, and the cache's
    /// effective Redis URL spelled out when the cache uses Redis.
    pub fn redacted(&self) -> Config {
        let mut shown = self.clone();
        if shown.jwt_secret.is_some() {
            shown.jwt_secret = Some("***".into());
        }
        shown.redis.url = liveshop_cache::redact_url(&self.redis.url);
        shown.cache.redis_url = match self.cache.backend {
            CacheKind::Redis => Some(liveshop_cache::redact_url(self.cache_redis_url())),
            CacheKind::Memory => self
                .cache
                .redis_url
                .as_deref()
                .map(liveshop_cache::redact_url),
        };
        shown
    }

    pub fn actor_config(&self) -> liveshop_actors::ActorConfig {
        liveshop_actors::ActorConfig {
            passivate_after: Duration::from_secs(self.actors.passivate_after_secs),
            room_tick: Duration::from_millis(self.actors.room_tick_ms),
            replay_buffer: self.actors.replay_buffer,
            conn_queue: self.actors.conn_queue,
            ..liveshop_actors::ActorConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/liveshop.toml");
        let file = Config::from_file(&path).unwrap();
        let defaults = Config::default();
        assert_eq!(file.listen, defaults.listen);
        assert_eq!(file.data_dir, defaults.data_dir);
        assert_eq!(file.actors.room_tick_ms, defaults.actors.room_tick_ms);
        assert_eq!(file.cache, defaults.cache);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let err = toml::from_str::<Config>("lissten = \"x\"").unwrap_err();
        assert!(err.to_string().contains("lissten"), "{err}");
        let err = toml::from_str::<Config>("listen = \"not an address\"").unwrap_err();
        assert!(
            err.to_string().contains("listen") || err.to_string().contains("address"),
            "{err}"
        );
        let short = Config {
            jwt_secret: Some("short".into()),
            ..Config::default()
        };
        assert!(short.check().is_err());
    }

    #[test]
    fn the_store_is_embedded_by_default_and_unknown_stores_are_refused() {
        assert_eq!(Config::default().store, StoreKind::Embedded);
        let c: Config =
            toml::from_str("store = \"redis\"\n[redis]\nurl = \"redis://h:1/\"\n").unwrap();
        assert_eq!(c.store, StoreKind::Redis);
        assert_eq!(c.redis.url, "redis://h:1/");
        assert_eq!(c.redis.prefix, "liveshop:");
        let err = toml::from_str::<Config>("store = \"scylla\"").unwrap_err();
        assert!(err.to_string().contains("scylla"), "{err}");
        assert!(err.to_string().contains("embedded"), "{err}");
        let err = "mongo".parse::<StoreKind>().unwrap_err();
        assert!(err.to_string().contains("mongo"), "{err}");
        assert_eq!("Redis".parse::<StoreKind>().unwrap(), StoreKind::Redis);
    }

    #[test]
    fn the_cache_is_memory_by_default_and_takes_a_shorthand_or_a_table() {
        let d = Config::default();
        assert_eq!(d.cache.backend, CacheKind::Memory);
        assert_eq!(d.cache_redis_url(), d.redis.url);
        let c: Config = toml::from_str("cache = \"redis\"\n").unwrap();
        assert_eq!(c.cache.backend, CacheKind::Redis);
        assert_eq!(c.cache.prefix, "liveshop-cache:");
        let c: Config = toml::from_str(
            "[redis]\nurl = \"redis://store:1/\"\n[cache]\nbackend = \"redis\"\nprefix = \"c:\"\n",
        )
        .unwrap();
        assert_eq!(
            c.cache_redis_url(),
            "redis://store:1/",
            "defaults to the store's"
        );
        assert_eq!(c.cache.prefix, "c:");
        let c: Config =
            toml::from_str("[cache]\nbackend = \"redis\"\nredis_url = \"redis://cache:2/\"\n")
                .unwrap();
        assert_eq!(c.cache_redis_url(), "redis://cache:2/");
        let err = toml::from_str::<Config>("cache = \"memcached\"").unwrap_err();
        assert!(err.to_string().contains("memcached"), "{err}");
        let err = toml::from_str::<Config>("[cache]\nurl = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("url"), "{err}");
        assert_eq!("REDIS".parse::<CacheKind>().unwrap(), CacheKind::Redis);
        assert!("mongo".parse::<CacheKind>().is_err());
        let zero = Config {
            cache: CacheConfig(CacheTable {
                room_heartbeat_ms: 0,
                ..CacheTable::default()
            }),
            ..Config::default()
        };
        assert!(zero.check().is_err());
    }

    #[test]
    fn the_printed_config_holds_no_secret_and_reads_back() {
        let c: Config = toml::from_str(
            "jwt_secret = \"0123456789abcdef0123456789abcdef-secret\"\n\
             [redis]\nurl = \"redis://user:hunter2@store:6379/0\"\n\
             [cache]\nbackend = \"redis\"\n",
        )
        .unwrap();
        let text = toml::to_string(&c.redacted()).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("-secret"),
            "{text}"
        );
        assert!(text.contains("redis://***@store:6379/0"), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.cache.backend, CacheKind::Redis);
        assert_eq!(back.cache_redis_url(), "redis://***@store:6379/0");
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/docker.toml");
        let docker = Config::from_file(&example).unwrap();
        assert_eq!(docker.cache.backend, CacheKind::Redis);
    }
}
