//! [`ApiContext`]: the state every handler and connection shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Version};
use liveshop_actors::{ConnId, Region};
use liveshop_cache::Cache;
use liveshop_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{Semaphore, watch};

use crate::auth::jwt::JwtKeys;
use crate::config::GatewayConfig;
use crate::hot::Hot;
use crate::limits::Limiters;
use crate::live::LiveRooms;
use crate::net::PerIpLimit;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the JWT secret must be at least 32 bytes")]
    WeakJwtSecret,
    #[error("{0} must be positive")]
    Zero(&'static str),
    #[error("password hash cost: {0}")]
    PasswordCost(String),
}

/// The gateway's shared state. Cheap to clone.
///
/// Built by the node once at start-up with [`ApiContext::new`], then handed
/// to [`crate::serve`] (or [`crate::router`] in tests).
#[derive(Clone)]
pub struct ApiContext {
    inner: Arc<Inner>,
}

struct Inner {
    region: Region,
    store: Arc<dyn Store>,
    hot: Arc<Hot>,
    config: GatewayConfig,
    metrics: PrometheusHandle,
    jwt: JwtKeys,
    /// Hashes new passwords at the configured cost.
    argon2: Argon2<'static>,
    limiters: Limiters,
    live: LiveRooms,
    hash_permits: Arc<Semaphore>,
    ws_permits: Arc<Semaphore>,
    ws_per_ip: Arc<PerIpLimit>,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl ApiContext {
    /// `metrics` comes from [`crate::install_metrics`]. `cache` is the
    /// shared hot state: a `MemoryCache` for one node, the `RedisCache`
    /// every node of a cluster shares.
    pub fn new(
        region: Region,
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        config: GatewayConfig,
        metrics: PrometheusHandle,
    ) -> Result<ApiContext, ConfigError> {
        if config.jwt_secret.len() < 32 {
            return Err(ConfigError::WeakJwtSecret);
        }
        let l = &config.limits;
        for (name, v) in [
            ("limits.max_connections", l.max_connections),
            ("limits.max_connections_per_ip", l.max_connections_per_ip),
            ("limits.max_websockets", l.max_websockets),
            ("limits.max_websockets_per_ip", l.max_websockets_per_ip),
            ("limits.conn_queue", l.conn_queue),
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_concurrent_hashes", l.max_concurrent_hashes),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if l.cache_timeout.is_zero() || config.room_heartbeat.is_zero() {
            return Err(ConfigError::Zero("limits.cache_timeout and room_heartbeat"));
        }
        if l.ping_interval.is_zero() || l.request_timeout.is_zero() {
            return Err(ConfigError::Zero(
                "limits.ping_interval and request_timeout",
            ));
        }
        if l.http_idle_timeout.is_zero() || l.http_header_timeout.is_zero() {
            return Err(ConfigError::Zero(
                "limits.http_idle_timeout and http_header_timeout",
            ));
        }
        let params = config
            .password_cost
            .params()
            .map_err(|e| ConfigError::PasswordCost(e.to_string()))?;
        let (shutdown, _) = watch::channel(false);
        let hot = Arc::new(Hot::new(cache, config.limits.cache_timeout));
        Ok(ApiContext {
            inner: Arc::new(Inner {
                jwt: JwtKeys::new(&config.jwt_secret),
                argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
                limiters: Limiters::new(&config.limits.rates, hot.clone()),
                live: LiveRooms::default(),
                hot,
                hash_permits: Arc::new(Semaphore::new(config.limits.max_concurrent_hashes)),
                ws_permits: Arc::new(Semaphore::new(config.limits.max_websockets)),
                ws_per_ip: PerIpLimit::new(config.limits.max_websockets_per_ip),
                next_conn: AtomicU64::new(1),
                region,
                store,
                config,
                metrics,
                shutdown,
            }),
        })
    }

    pub fn region(&self) -> &Region {
        &self.inner.region
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The shared hot state, behind its timeout and fallbacks.
    pub fn hot(&self) -> &Hot {
        &self.inner.hot
    }

    /// The shared cache itself.
    pub fn cache(&self) -> &Arc<dyn Cache> {
        self.inner.hot.cache()
    }

    /// The rooms this node hosts in the live-room directory.
    pub(crate) fn live(&self) -> &LiveRooms {
        &self.inner.live
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }

    /// The access-token keys (tests use them to forge expired tokens).
    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }

    /// The hasher of new passwords (verification reads each hash's own cost).
    pub(crate) fn argon2(&self) -> &Argon2<'static> {
        &self.inner.argon2
    }

    pub(crate) fn limiters(&self) -> &Limiters {
        &self.inner.limiters
    }

    pub(crate) fn hash_permits(&self) -> &Arc<Semaphore> {
        &self.inner.hash_permits
    }

    /// One permit per open WebSocket.
    pub(crate) fn ws_permits(&self) -> &Arc<Semaphore> {
        &self.inner.ws_permits
    }

    /// Open WebSockets per client address (`limits.max_websockets_per_ip`).
    pub fn ws_per_ip(&self) -> &Arc<PerIpLimit> {
        &self.inner.ws_per_ip
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Tells every WebSocket to close (1001) and refuses new ones.
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Waits until every WebSocket task has ended.
    pub(crate) async fn websockets_done(&self) {
        let all = u32::try_from(self.inner.config.limits.max_websockets).unwrap_or(u32::MAX);
        // Holding every permit means no connection holds one. The semaphore
        // is never closed, so this only returns once they are all back.
        let _all = self.inner.ws_permits.acquire_many(all).await;
    }
}
