//! Serving: the router with its layers, background upkeep, and graceful
//! shutdown; the accept loop and its caps are in [`crate::net`].

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;

use crate::context::ApiContext;
use crate::error::Error;
use crate::net::accept::Acceptor;

/// The whole application: the HTTP API, `/ws`, the web client, the
/// operational endpoints, 404/405 in the contract's error shape, the body
/// limit, HTTP metrics, and panics answered as `internal` errors.
pub fn router(ctx: ApiContext) -> Router {
    let max_body = ctx.config().limits.max_body_bytes;
    crate::http::api_router()
        .merge(crate::ws::router())
        .merge(crate::web::router())
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(ctx)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    Error::Internal(format!("panic: {detail}")).into_response()
}

/// Serves `ctx` on `listener` until `shutdown` completes; then stops
/// accepting, closes every WebSocket with 1001 (going away), lets HTTP
/// requests in flight finish, and returns once all connections are done or
/// `limits.shutdown_grace` has passed, whichever is first, after taking
/// the rooms this node hosts out of the live-room directory.
///
/// While serving, it runs the live-room heartbeat ([`crate::live`]) and
/// periodic upkeep.
///
/// Connections past `limits.max_connections`, or past
/// `limits.max_connections_per_ip` from one address, are answered 503 and
/// closed at once. An HTTP connection is closed when no request begins
/// within `limits.http_idle_timeout`, or a request head takes longer than
/// `limits.http_header_timeout` to arrive.
pub async fn serve(
    listener: TcpListener,
    ctx: ApiContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = ctx.config().limits.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let acceptor = Acceptor::new(router(ctx.clone()), &limits, stop_rx);
    let janitor = tokio::spawn(janitor(ctx.clone()));
    let heartbeat = tokio::spawn(crate::live::heartbeat(ctx.clone()));
    let mut connections = acceptor.run(listener, shutdown).await;
    tracing::info!("shutting down: no new connections, closing websockets");
    ctx.begin_shutdown();
    stop_tx.send_replace(true);
    let drain = async {
        while connections.join_next().await.is_some() {}
        ctx.websockets_done().await;
    };
    if tokio::time::timeout(limits.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; dropping the remaining connections");
    }
    // Dropping the set aborts the HTTP connections still open.
    drop(connections);
    janitor.abort();
    heartbeat.abort();
    crate::live::withdraw_all(&ctx).await;
    Ok(())
}

/// Periodic upkeep: histogram upkeep for the exporter, and forgetting idle
/// fallback rate-limit buckets.
async fn janitor(ctx: ApiContext) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        ctx.metrics().run_upkeep();
        n += 1;
        if n.is_multiple_of(12) {
            ctx.limiters().sweep();
        }
    }
}

/// The peer's address, as connect info (`ConnectInfo<PeerAddr>`) of
/// [`serve`]'s requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);
