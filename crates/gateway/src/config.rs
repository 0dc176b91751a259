//! The gateway's configuration: keys, URLs, lifetimes and limits. `Default`
//! gives single-node defaults with an empty JWT key, which
//! [`crate::ApiContext::new`] refuses: the node must supply one.

use std::fmt;
use std::time::Duration;

/// Everything the gateway needs besides the region, the store and the
/// metrics handle.
#[derive(Clone)]
pub struct GatewayConfig {
    /// HS256 key of access tokens; at least 32 bytes.
    pub jwt_secret: Vec<u8>,
    /// Lifetime of an access token (`expires_in`).
    pub access_ttl: Duration,
    /// Lifetime of a refresh-token family, renewed by each rotation.
    pub refresh_ttl: Duration,
    /// Base URL clients reach this node at, without a trailing slash; a
    /// room's `hls_url` is `<public_url>/hls/<room>.m3u8`.
    pub public_url: String,
    /// Where hosts push their stream: a new room's `rtmp_url`.
    pub rtmp_url: String,
    /// How often this node refreshes the live-room directory entries of the
    /// rooms it hosts (their viewer counts). An entry not refreshed for
    /// [`GatewayConfig::live_ttl`] (three heartbeats) leaves the directory,
    /// so the rooms of a node that died stop being listed as live.
    pub room_heartbeat: Duration,
    /// Cost of the Argon2id hashes of new passwords.
    pub password_cost: PasswordCost,
    pub limits: Limits,
    /// The web client served at `/` ([`crate::web`]).
    pub web: WebConfig,
}

/// The web client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// Where pages load hls.js from (their first choice of player; native
    /// HLS where it cannot run or load). Its origin is allowed in the
    /// pages' Content-Security-Policy. A path (`/...`) is on the pages' own
    /// origin, for a reverse proxy in front of the node to serve.
    pub hls_js_url: String,
    /// The Subresource Integrity of the file at `hls_js_url`
    /// (`sha384-<base64>`): browsers run it only if it matches, so a
    /// tampered CDN copy is refused (and pages play natively where they
    /// can). Empty: loaded unchecked.
    pub hls_js_integrity: String,
}

/// hls.js from a public CDN, pinned to one release so every node serves
/// pages with the same player.
pub const DEFAULT_HLS_JS_URL: &str = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js";

/// The integrity of hls.js 1.7.4's `dist/hls.min.js`, as published in the
/// npm registry (and served unchanged by the CDN). The browser test that
/// plays with hls.js serves that file and loads it with this value.
pub const DEFAULT_HLS_JS_INTEGRITY: &str =
    "sha384-p9vgU/7IYJWd3I4STrtqxqR/2cAQlhIX7D/HrTnIMEjjcUox165b7se7sxmm3zDg";

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            hls_js_url: DEFAULT_HLS_JS_URL.into(),
            hls_js_integrity: DEFAULT_HLS_JS_INTEGRITY.into(),
        }
    }
}

/// The Argon2id cost of new password hashes. Every stored hash carries its
/// own cost and is verified with it, so changing this affects only hashes
/// made from now on. The default is argon2's (19 MiB, 2 passes, 1 lane, the
/// OWASP minimum); load tests that sign up thousands of users may lower it
/// on a throwaway node, never on one that holds real accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            parallelism: argon2::Params::DEFAULT_P_COST,
        }
    }
}

impl PasswordCost {
    /// The argon2 parameters, or why argon2 refuses them.
    pub fn params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }

    /// Whether this is cheaper than the default in memory or passes.
    pub fn is_weak(&self) -> bool {
        let d = PasswordCost::default();
        self.memory_kib < d.memory_kib || self.iterations < d.iterations
    }
}

impl GatewayConfig {
    /// How long a live-room directory entry lasts without a heartbeat.
    pub fn live_ttl(&self) -> Duration {
        self.room_heartbeat.saturating_mul(3)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            jwt_secret: Vec::new(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            public_url: "http://127.0.0.1:8080".into(),
            rtmp_url: "rtmp://127.0.0.1:1935/live".into(),
            room_heartbeat: Duration::from_secs(5),
            password_cost: PasswordCost::default(),
            limits: Limits::default(),
            web: WebConfig::default(),
        }
    }
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("jwt_secret", &"***")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("public_url", &self.public_url)
            .field("rtmp_url", &self.rtmp_url)
            .field("room_heartbeat", &self.room_heartbeat)
            .field("limits", &self.limits)
            .field("web", &self.web)
            .finish()
    }
}

/// Bounds on what clients may cost the node.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open TCP connections (HTTP and WebSocket together). A connection
    /// past this is accepted, answered 503 and closed at once (counted in
    /// `liveshop_connections_refused_total{reason="max_connections"}`).
    pub max_connections: usize,
    /// Open TCP connections from one client IP address; past it a new one is
    /// refused like one past `max_connections` (`reason="connections_per_ip"`).
    /// Generous by default: loopback load tests put thousands of connections
    /// on one address (the node's viewers measurement 10,000 on 127.0.0.1).
    /// Lower it where clients are not behind a shared NAT.
    pub max_connections_per_ip: usize,
    /// Open WebSocket connections; an upgrade past this is answered 503.
    pub max_websockets: usize,
    /// Open WebSocket connections from one client IP address; an upgrade past
    /// this is answered 503 `unavailable` (`reason="websockets_per_ip"`).
    pub max_websockets_per_ip: usize,
    /// An HTTP connection with no request under way (a new one, or a
    /// keep-alive one after its last response) is closed when no request
    /// has begun to arrive for this long.
    pub http_idle_timeout: Duration,
    /// Once a request's first bytes have arrived, its whole head (request
    /// line and headers) must arrive within this, or the connection is
    /// closed (slow-loris clients).
    pub http_header_timeout: Duration,
    /// Outbound messages a WebSocket may have queued (the capacity of its
    /// [`liveshop_actors::ConnHandle`]); past it the connection is lagged.
    pub conn_queue: usize,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// How long one request may wait for the actors or the store before it
    /// is answered `unavailable`.
    pub request_timeout: Duration,
    /// The server pings every WebSocket this often.
    pub ping_interval: Duration,
    /// A WebSocket from which nothing (not even a pong) arrived for this long
    /// is closed.
    pub idle_timeout: Duration,
    /// A connection that lags twice within this window is closed (1013).
    pub lag_window: Duration,
    /// How long shutdown waits for connections to finish.
    pub shutdown_grace: Duration,
    /// Password hashes computed at once; more wait.
    pub max_concurrent_hashes: usize,
    /// How long one call to the shared cache may take before the gateway
    /// treats the cache as unavailable and falls back (see
    /// [`crate::hot`]).
    pub cache_timeout: Duration,
    pub rates: RateLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_connections_per_ip: 12_000,
            max_websockets: 10_000,
            max_websockets_per_ip: 12_000,
            http_idle_timeout: Duration::from_secs(30),
            http_header_timeout: Duration::from_secs(10),
            conn_queue: 256,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            lag_window: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            max_concurrent_hashes: 4,
            cache_timeout: Duration::from_millis(500),
            rates: RateLimits::default(),
        }
    }
}

/// A token bucket: `per_second` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    pub const fn new(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }
}

/// Request rates. Per user: `chat`, `like`, `bid` (bid and max_bid) and
/// `hold`, over all of a user's connections on every node sharing the cache.
/// Per connection: `messages`, every client message. Per client IP: `auth`
/// (register, login and refresh), also counted cluster-wide.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub chat: Rate,
    pub like: Rate,
    pub bid: Rate,
    pub hold: Rate,
    pub messages: Rate,
    pub auth: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            chat: Rate::new(5, 10),
            like: Rate::new(10, 30),
            bid: Rate::new(10, 20),
            hold: Rate::new(10, 20),
            messages: Rate::new(100, 200),
            auth: Rate::new(10, 50),
        }
    }
}

impl RateLimits {
    /// Limits no test or benchmark reaches.
    pub fn unlimited() -> Self {
        let r = Rate::new(1_000_000, 1_000_000);
        RateLimits {
            chat: r,
            like: r,
            bid: r,
            hold: r,
            messages: r,
            auth: r,
        }
    }
}
