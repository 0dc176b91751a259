//! Configuration: built-in defaults, then a TOML file (`--config`), then
//! `LIVESHOP_*` environment variables, then command-line flags, each
//! overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use liveshop_gateway::{Rate, RateLimits};
use serde::Deserialize;

mod backends;
pub use backends::{CacheConfig, CacheKind, RedisConfig, ScyllaConfig, StoreKind};

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
    /// Create the store's schema before serving (see `liveshop migrate`).
    #[arg(long, env = "LIVESHOP_MIGRATE", global = true)]
    pub migrate: bool,
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
    /// Create the store's schema (ScyllaDB: keyspace and tables, safe to
    /// repeat) and exit. The embedded and Redis stores need none.
    Migrate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The effective configuration.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The durable store: "embedded" (default), "redis" or "scylla".
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
    pub auth: AuthConfig,
    pub redis: RedisConfig,
    pub scylla: ScyllaConfig,
    /// The shared hot state: `cache = "memory"` (default) or `"redis"`, or
    /// a `[cache]` table.
    pub cache: CacheConfig,
    /// The web client served at `/`.
    pub web: WebSection,
    /// Live video ingest (the RTMP server's hooks).
    pub media: MediaSection,
}

/// `[media]`: live video ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSection {
    /// A live room whose RTMP publisher sent no `on_publish`/`on_update`
    /// for this long goes offline by itself, as if its `on_publish_done`
    /// had arrived. Keep it about three times nginx-rtmp's
    /// `notify_update_timeout` (10 s in config/nginx-rtmp.conf). At least
    /// 1000.
    pub publisher_timeout_ms: u64,
}

/// Shortest `[media] publisher_timeout_ms`: below a second a live stream
/// would end between two of nginx's updates.
pub const MIN_PUBLISHER_TIMEOUT_MS: u64 = 1_000;

impl Default for MediaSection {
    fn default() -> Self {
        let d = liveshop_actors::ActorConfig::default().publisher_timeout;
        MediaSection {
            publisher_timeout_ms: d.map_or(30_000, |t| t.as_millis() as u64),
        }
    }
}

/// `[web]`: the web client's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSection {
    /// Where pages load hls.js from: an absolute http(s) URL (its origin is
    /// allowed by the pages' Content-Security-Policy) or a path on the
    /// pages' origin.
    pub hls_js_url: String,
    /// The file's Subresource Integrity (`sha256-`, `sha384-` or
    /// `sha512-` and base64), or empty for none.
    pub hls_js_integrity: String,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            hls_js_url: liveshop_gateway::DEFAULT_HLS_JS_URL.into(),
            hls_js_integrity: liveshop_gateway::DEFAULT_HLS_JS_INTEGRITY.into(),
        }
    }
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

/// The Argon2id cost of new password hashes (stored hashes keep their own).
/// The defaults are argon2's, the OWASP minimum; only a throwaway node, such
/// as the target of a load test signing up thousands of users, should go
/// lower (the node warns when it does).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        let d = liveshop_gateway::PasswordCost::default();
        AuthConfig {
            argon2_memory_kib: d.memory_kib,
            argon2_iterations: d.iterations,
            argon2_parallelism: d.parallelism,
        }
    }
}

impl From<AuthConfig> for liveshop_gateway::PasswordCost {
    fn from(a: AuthConfig) -> Self {
        liveshop_gateway::PasswordCost {
            memory_kib: a.argon2_memory_kib,
            iterations: a.argon2_iterations,
            parallelism: a.argon2_parallelism,
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
            auth: AuthConfig::default(),
            redis: RedisConfig::default(),
            scylla: ScyllaConfig::default(),
            cache: CacheConfig::default(),
            web: WebSection::default(),
            media: MediaSection::default(),
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
        if let Ok(nodes) = std::env::var("LIVESHOP_SCYLLA_NODES") {
            config.scylla.nodes = nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Ok(keyspace) = std::env::var("LIVESHOP_SCYLLA_KEYSPACE") {
            config.scylla.keyspace = keyspace;
        }
        if let Ok(dc) = std::env::var("LIVESHOP_SCYLLA_DATACENTER") {
            config.scylla.datacenter = Some(dc).filter(|d| !d.trim().is_empty());
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
        if self.store == StoreKind::Scylla {
            let s = &self.scylla;
            if s.nodes.is_empty() {
                return Err(ConfigError::Invalid(
                    "store = \"scylla\" needs scylla.nodes (host:port contact points)".into(),
                ));
            }
            if s.replication_factor == 0 || s.request_timeout_ms == 0 {
                return Err(ConfigError::Invalid(
                    "scylla.replication_factor and scylla.request_timeout_ms must be positive"
                        .into(),
                ));
            }
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
        if let Err(e) = liveshop_gateway::PasswordCost::from(self.auth).params() {
            return Err(ConfigError::Invalid(format!("auth: argon2 cost: {e}")));
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
        let url = self.web.hls_js_url.trim();
        let absolute = url.starts_with("https://") || url.starts_with("http://");
        if !(absolute || url.starts_with('/')) || url.chars().any(char::is_whitespace) {
            return Err(ConfigError::Invalid(
                "web.hls_js_url must be an http(s) URL or a path starting with /".into(),
            ));
        }
        if !is_integrity(self.web.hls_js_integrity.trim()) {
            return Err(ConfigError::Invalid(
                "web.hls_js_integrity must be empty or sha256-, sha384- or sha512- \
                 followed by the file's base64 digest"
                    .into(),
            ));
        }
        if self.media.publisher_timeout_ms < MIN_PUBLISHER_TIMEOUT_MS {
            return Err(ConfigError::Invalid(format!(
                "media.publisher_timeout_ms must be at least {MIN_PUBLISHER_TIMEOUT_MS} \
                 (about three times nginx-rtmp's notify_update_timeout)"
            )));
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
            publisher_timeout: Some(Duration::from_millis(self.media.publisher_timeout_ms)),
            ..liveshop_actors::ActorConfig::default()
        }
    }
}

/// A Subresource Integrity value browsers accept (one hash), or empty.
fn is_integrity(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let Some((algorithm, digest)) = value.split_once('-') else {
        return false;
    };
    let length = match algorithm {
        "sha256" => 44,
        "sha384" => 64,
        "sha512" => 88,
        _ => return false,
    };
    digest.len() == length
        && digest
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests;
