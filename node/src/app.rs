//! Wiring: the store, the actors, the gateway; start-up and graceful shutdown.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use liveshop_actors::{ActorError, Region};
use liveshop_cache::{Cache, MemoryCache, RedisCache, redact_url};
use liveshop_gateway::{ApiContext, GatewayConfig, Limits, install_metrics, serve};
use liveshop_store::{EmbeddedStore, RedisOptions, RedisStore, ScyllaStore, Store, StoreError};
use tokio::net::TcpListener;

use crate::config::{CacheKind, Config, StoreKind};
use crate::demo;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// `url` and `source` are redacted: no password.
    #[error("cannot use the redis store at {url}: {detail}")]
    Redis { url: String, detail: String },
    #[error("cannot use the scylla store at {nodes}: {source}")]
    Scylla { nodes: String, source: StoreError },
    /// `url` and `source` are redacted: no password.
    #[error("cannot use the redis cache at {url}: {detail}")]
    Cache { url: String, detail: String },
    #[error("actors: {0}")]
    Actors(#[from] ActorError),
    #[error("gateway configuration: {0}")]
    Gateway(#[from] liveshop_gateway::ConfigError),
    #[error("demo data: {0}")]
    Demo(String),
    #[error("JWT key: {0}")]
    Key(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

/// Creates the configured store's schema (`liveshop migrate`, `--migrate`).
/// Only ScyllaDB has one; for the others this says so and succeeds.
pub async fn migrate(config: &Config) -> Result<(), AppError> {
    match config.store {
        StoreKind::Scylla => {
            let options = config.scylla.options();
            ScyllaStore::migrate(&options)
                .await
                .map_err(|source| AppError::Scylla {
                    nodes: options.known_nodes.join(","),
                    source,
                })?;
            tracing::info!(keyspace = %options.keyspace, "scylla schema is in place");
            println!(
                "liveshop: the scylla schema is in place (keyspace {})",
                options.keyspace
            );
        }
        StoreKind::Embedded | StoreKind::Redis => {
            println!(
                "liveshop: store = {:?} needs no schema; nothing to migrate",
                config.store
            );
        }
    }
    Ok(())
}

/// Runs the node until SIGTERM or Ctrl-C.
pub async fn run(config: Config, seed_demo: bool, migrate_first: bool) -> Result<(), AppError> {
    let metrics = install_metrics();
    std::fs::create_dir_all(&config.data_dir)
        .map_err(io(format!("creating {}", config.data_dir.display())))?;
    if migrate_first {
        migrate(&config).await?;
    }
    let store = open_store(&config).await?;
    let cache = open_cache(&config).await?;
    let jwt_secret = jwt_secret(&config)?;
    let region = Region::start(store.clone(), config.actor_config()).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("listening on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the listening address"))?;
    let gateway = GatewayConfig {
        jwt_secret,
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        rtmp_url: config.rtmp_url.clone(),
        room_heartbeat: Duration::from_millis(config.cache.room_heartbeat_ms),
        password_cost: config.auth.into(),
        limits: Limits {
            conn_queue: config.actors.conn_queue,
            max_connections: config.limits.max_connections,
            max_websockets: config.limits.max_websockets,
            max_connections_per_ip: config.limits.max_connections_per_ip,
            max_websockets_per_ip: config.limits.max_websockets_per_ip,
            http_idle_timeout: Duration::from_secs(config.limits.http_idle_timeout_secs),
            http_header_timeout: Duration::from_secs(config.limits.http_header_timeout_secs),
            rates: config.rate_limits.into(),
            ..Limits::default()
        },
        web: liveshop_gateway::WebConfig {
            hls_js_url: config.web.hls_js_url.trim().to_owned(),
            hls_js_integrity: config.web.hls_js_integrity.trim().to_owned(),
        },
        ..GatewayConfig::default()
    };
    if gateway.password_cost.is_weak() {
        tracing::warn!(
            cost = ?gateway.password_cost,
            "[auth] argon2 cost is below the default: new password hashes are cheap to crack; \
             use this only on a throwaway node"
        );
    }
    if gateway.web.hls_js_url != liveshop_gateway::DEFAULT_HLS_JS_URL
        && gateway.web.hls_js_integrity == liveshop_gateway::DEFAULT_HLS_JS_INTEGRITY
    {
        tracing::warn!(
            url = %gateway.web.hls_js_url,
            "[web] hls_js_integrity is the default hls.js release's while hls_js_url is not \
             the default: browsers refuse any other file there (and play natively where \
             they can); set hls_js_integrity to your copy's, or to \"\" for no check"
        );
    }
    let ctx = ApiContext::new(region.clone(), store.clone(), cache, gateway, metrics)?;
    if seed_demo {
        let info = demo::seed(&ctx, addr).await?;
        println!("{info}");
    }
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        store = ?config.store,
        cache = ?config.cache.backend,
        "serving"
    );
    // Tests and scripts wait for this line.
    println!("liveshop listening on http://{addr}");
    let _ = std::io::stdout().flush();

    serve(listener, ctx, shutdown_signal())
        .await
        .map_err(io("serving"))?;
    tracing::info!("connections closed; stopping the actors");
    region.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The configured durable store. A Redis that cannot be reached, or that does
/// not fsync every write (unless `unsafe_redis_durability`), is an error.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, AppError> {
    match config.store {
        StoreKind::Embedded => Ok(Arc::new(EmbeddedStore::open(
            config.data_dir.join("store"),
        )?)),
        StoreKind::Redis => {
            let url = &config.redis.url;
            let options = RedisOptions {
                prefix: config.redis.prefix.clone(),
                allow_unsafe_durability: config.unsafe_redis_durability,
                ..RedisOptions::default()
            };
            if config.unsafe_redis_durability {
                tracing::warn!(
                    "unsafe_redis_durability is set: acknowledged writes may be lost if redis \
                     does not fsync every write"
                );
            }
            let store =
                RedisStore::connect_with(url, options)
                    .await
                    .map_err(|e| AppError::Redis {
                        url: redact_url(url),
                        detail: scrub(&e.to_string(), url),
                    })?;
            tracing::info!(url = %redact_url(url), prefix = %config.redis.prefix, "using the redis store");
            Ok(Arc::new(store))
        }
        StoreKind::Scylla => {
            let options = config.scylla.options();
            let nodes = options.known_nodes.join(",");
            let store = ScyllaStore::connect(options)
                .await
                .map_err(|source| AppError::Scylla {
                    nodes: nodes.clone(),
                    source,
                })?;
            tracing::info!(%nodes, keyspace = %config.scylla.keyspace, "using the scylla store");
            Ok(Arc::new(store))
        }
    }
}

/// The configured shared cache. A Redis cache that cannot be reached at
/// start-up is an error (a configuration mistake should be seen at once);
/// once running, the gateway survives the cache going away.
async fn open_cache(config: &Config) -> Result<Arc<dyn Cache>, AppError> {
    match config.cache.backend {
        CacheKind::Memory => Ok(Arc::new(MemoryCache::new())),
        CacheKind::Redis => {
            let url = config.cache_redis_url();
            let prefix = &config.cache.prefix;
            let cache = RedisCache::connect(url, prefix)
                .await
                .map_err(|e| AppError::Cache {
                    url: redact_url(url),
                    detail: scrub(&e.to_string(), url),
                })?;
            tracing::info!(url = %redact_url(url), %prefix, "using the redis cache");
            Ok(Arc::new(cache))
        }
    }
}

/// `message` with `url`'s user and password removed wherever they appear
/// (a client library may quote the URL it was given).
fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace(url, &redact_url(url));
    let userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo)
        .unwrap_or("");
    if !userinfo.is_empty() {
        out = out.replace(userinfo, "***");
        // The password alone, too (after `user:` or `:`).
        if let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            out = out.replace(password, "***");
        }
    }
    out
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The configured key, or the one kept in `<data_dir>/jwt.key` (made on first
/// start), so tokens stay valid across restarts.
fn jwt_secret(config: &Config) -> Result<Vec<u8>, AppError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    if config.store == StoreKind::Redis {
        tracing::warn!(
            "store = \"redis\" without jwt_secret: this node signs tokens with its own key in \
             {}; nodes sharing the store must all be given the same jwt_secret, or a token \
             from one is refused by another",
            config.data_dir.join("jwt.key").display()
        );
    }
    load_or_create_key(&config.data_dir.join("jwt.key"))
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>, AppError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = text.trim();
            if key.len() < 64 {
                return Err(AppError::Key(format!(
                    "{} holds a key shorter than 32 bytes; delete it to make a new one",
                    path.display()
                )));
            }
            return Ok(key.as_bytes().to_vec());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    }
    let key = liveshop_gateway::util::random_hex(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(io(format!("creating {}", path.display())))?;
    file.write_all(key.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(format!("writing {}", path.display())))?;
    tracing::info!("generated a JWT key in {}", path.display());
    Ok(key.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.key");
        let first = load_or_create_key(&path).unwrap();
        assert!(first.len() >= 64);
        assert_eq!(load_or_create_key(&path).unwrap(), first);
        std::fs::write(&path, "short").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }

    #[test]
    fn redis_passwords_stay_out_of_messages() {
        let url = "redis://user:s3cret@host:6379/0";
        let message = format!(
            "cache unavailable: bad redis url {url:?}: connecting to redis at {url}: s3cret"
        );
        let clean = scrub(&message, url);
        assert!(!clean.contains("s3cret"), "{clean}");
        assert!(clean.contains("redis://***@host:6379/0"), "{clean}");
        assert_eq!(scrub("no url here", "redis://h:1/"), "no url here");
    }

    #[tokio::test]
    async fn an_unreachable_cache_is_a_redacted_error() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut config = Config::default();
        config.cache.backend = CacheKind::Redis;
        config.cache.redis_url = Some(format!("redis://admin:pa55word@127.0.0.1:{port}/"));
        let err = match open_cache(&config).await {
            Ok(_) => panic!("connected to a closed port"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains("pa55word"), "{err}");
        assert!(err.contains("redis://***@127.0.0.1"), "{err}");
    }
}
