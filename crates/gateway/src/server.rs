//! Serving: the router with its layers, the accept loop with its connection
//! cap, background upkeep, and graceful shutdown.

use std::any::Any;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tower_http::catch_panic::CatchPanicLayer;

use crate::context::ApiContext;
use crate::error::Error;

/// The whole application: the HTTP API, `/ws`, the operational endpoints,
/// 404/405 in the contract's error shape, the body limit, HTTP metrics, and
/// panics answered as `internal` errors.
pub fn router(ctx: ApiContext) -> Router {
    let max_body = ctx.config().limits.max_body_bytes;
    crate::http::api_router()
        .merge(crate::ws::router())
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
/// `limits.shutdown_grace` has passed, whichever is first.
pub async fn serve(
    listener: TcpListener,
    ctx: ApiContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = ctx.config().limits.clone();
    let app = router(ctx.clone()).into_make_service_with_connect_info::<PeerAddr>();
    let listener = CappedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
    };
    let janitor = tokio::spawn(janitor(ctx.clone()));
    let (stopping_tx, stopping_rx) = oneshot::channel::<()>();
    let signal_ctx = ctx.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, closing websockets");
        signal_ctx.begin_shutdown();
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(server);
    let ended = tokio::select! {
        result = &mut server => Some(result),
        _ = stopping_rx => None,
    };
    let result = match ended {
        Some(result) => result,
        None => {
            let drain = async {
                let result = server.await;
                ctx.websockets_done().await;
                result
            };
            match tokio::time::timeout(limits.shutdown_grace, drain).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        "shutdown grace period over; dropping the remaining connections"
                    );
                    Ok(())
                }
            }
        }
    };
    janitor.abort();
    result
}

/// Periodic upkeep: histogram upkeep for the exporter, and forgetting idle
/// rate-limit buckets.
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

/// The peer's address, as connect info of [`serve`]'s connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, CappedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, CappedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// A `TcpListener` that holds at most `permits` connections open: accepting
/// waits for a connection to close (mini-redis style).
pub struct CappedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for CappedListener {
    type Io = Capped;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Capped, SocketAddr) {
        // The semaphore is never closed, so this always yields a permit.
        let permit = self.permits.clone().acquire_owned().await.ok();
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    if let Err(e) = io.set_nodelay(true) {
                        tracing::debug!("set_nodelay: {e}");
                    }
                    return (
                        Capped {
                            io,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::error!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream holding its connection permit until dropped (the IO type
/// of [`CappedListener`]).
pub struct Capped {
    io: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Capped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
