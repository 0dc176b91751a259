//! Connections: the accept loop with its caps (`accept.rs`), the per-address
//! counts (`per_ip.rs`), and the IO that holds a connection's slots and
//! closes idle and slow HTTP connections (`timeouts.rs`).

pub mod accept;
pub mod per_ip;
pub mod timeouts;

pub use per_ip::{PerIpGuard, PerIpLimit};

/// Connections refused, by `reason`: `max_connections`,
/// `connections_per_ip` (both answered 503 and closed at accept),
/// `websockets_per_ip` (an upgrade answered 503) (counter).
pub const CONNECTIONS_REFUSED: &str = "liveshop_connections_refused_total";
/// HTTP connections closed for a timeout, by `phase`: `idle` (no request
/// began within `limits.http_idle_timeout`) or `header` (a request head not
/// complete within `limits.http_header_timeout`) (counter).
pub const HTTP_TIMEOUTS: &str = "liveshop_http_timeouts_total";
/// Open TCP connections, HTTP and WebSocket (gauge).
pub const TCP_CONNECTIONS: &str = "liveshop_tcp_connections";
