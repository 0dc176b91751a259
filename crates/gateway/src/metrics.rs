//! Metrics through the `metrics` facade, exported as Prometheus text at
//! `/metrics`. [`install_metrics`] installs the process-wide recorder once;
//! every later call returns the same handle.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections (gauge).
pub const WS_CONNECTIONS: &str = "liveshop_ws_connections";
/// Client messages received, by `type` (counter).
pub const WS_MESSAGES_IN: &str = "liveshop_ws_messages_in_total";
/// Server messages sent, by `type` (counter).
pub const WS_MESSAGES_OUT: &str = "liveshop_ws_messages_out_total";
/// Server frames sent (counter); fewer than messages when batched.
pub const WS_FRAMES_OUT: &str = "liveshop_ws_frames_out_total";
/// Time to answer a request, by `type` (histogram, seconds).
pub const WS_REQUEST_SECONDS: &str = "liveshop_ws_request_seconds";
/// Connections that fell behind (counter).
pub const WS_LAGGED: &str = "liveshop_ws_lagged_total";
/// Connections closed by the server, by `reason` (counter).
pub const WS_CLOSED: &str = "liveshop_ws_closed_total";
/// Requests refused by a rate limit, by `kind` (counter).
pub const RATE_LIMITED: &str = "liveshop_rate_limited_total";
/// Rate-limit checks decided by a node-local bucket because the shared cache
/// did not answer, by `kind` (counter).
pub const RATE_LIMIT_FALLBACK: &str = "liveshop_rate_limit_fallback_total";
/// Calls to the shared cache that failed, by `op` and `reason` (`error`,
/// `timeout`, or `skipped` while cooling down after a failure) (counter).
pub const CACHE_FAILURES: &str = "liveshop_cache_failures_total";
/// HTTP requests, by `method`, `route` and `status` (counter).
pub const HTTP_REQUESTS: &str = "liveshop_http_requests_total";
/// HTTP request latency, by `method` and `route` (histogram, seconds).
pub const HTTP_REQUEST_SECONDS: &str = "liveshop_http_request_seconds";

const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder for the process (once) and returns its
/// handle. If another recorder was installed first, the handle renders
/// nothing, and a warning is logged.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(BUCKETS) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("metrics buckets: {e}");
                    PrometheusBuilder::new()
                }
            };
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!("cannot install the metrics recorder: {e}");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Middleware: counts every HTTP request and times it, labelled by the
/// route pattern (not the raw path, which would make a label per id).
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}
