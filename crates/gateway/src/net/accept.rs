//! The accept loop: every connection is accepted; one past
//! `limits.max_connections`, or past `limits.max_connections_per_ip` for its
//! address, is answered 503 and closed at once (so clients see an error
//! rather than waiting in the kernel's backlog); the others are served by
//! hyper (HTTP/1.1 with keep-alive and upgrades) in a task of their own.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::CONNECTIONS_REFUSED;
use super::per_ip::PerIpLimit;
use super::timeouts::{ConnIo, ConnState};
use crate::config::Limits;
use crate::server::PeerAddr;

/// The answer to a connection past a cap, written without reading the
/// request: the contract's error shape, then the connection is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 78\r\n\
connection: close\r\n\
retry-after: 1\r\n\
\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections; retry later\"}}";

/// Admits accepted connections and serves them.
pub(crate) struct Acceptor {
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIpLimit>,
    idle_timeout: Duration,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Acceptor {
    /// Connections served by `app`; once `stop` turns true, each finishes
    /// the request it is answering, if any, and closes.
    pub(crate) fn new(app: Router, limits: &Limits, stop: watch::Receiver<bool>) -> Acceptor {
        let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
        // hyper's own header timer runs from when it starts waiting for a
        // request head, idle time included, so it is only a backstop here:
        // the IO enforces the idle and header timeouts separately.
        builder
            .http1()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(limits.http_idle_timeout + limits.http_header_timeout);
        Acceptor {
            app,
            builder: Arc::new(builder),
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: PerIpLimit::new(limits.max_connections_per_ip),
            idle_timeout: limits.http_idle_timeout,
            header_timeout: limits.http_header_timeout,
            stop,
        }
    }

    /// Accepts connections until `shutdown` completes, then closes the
    /// listener; returns the tasks of the connections still open.
    pub(crate) async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!("connection task: {e}");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer, &mut tasks),
                    Err(e) if is_connection_error(&e) => {}
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::error!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        tasks
    }

    /// Serves `stream` in a task in `tasks`, or refuses it if a cap is
    /// reached.
    fn admit(&self, stream: TcpStream, peer: SocketAddr, tasks: &mut JoinSet<()>) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            refuse(stream, peer, "max_connections");
            return;
        };
        let Some(per_ip) = self.per_ip.try_acquire(peer.ip()) else {
            refuse(stream, peer, "connections_per_ip");
            return;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("set_nodelay: {e}");
        }
        let state = ConnState::new(self.idle_timeout, self.header_timeout);
        let io = ConnIo::new(stream, state.clone(), permit, per_ip);
        let service = ConnService {
            app: TowerToHyperService::new(self.app.clone()),
            peer: PeerAddr(peer),
            state,
        };
        tasks.spawn(serve_connection(
            self.builder.clone(),
            io,
            service,
            self.stop.clone(),
        ));
    }
}

/// Answers 503 and closes, without waiting: a fresh socket's send buffer
/// has room for the answer.
fn refuse(stream: TcpStream, peer: SocketAddr, reason: &'static str) {
    metrics::counter!(CONNECTIONS_REFUSED, "reason" => reason).increment(1);
    tracing::debug!(%peer, reason, "connection refused");
    match stream.into_std() {
        Ok(mut stream) => {
            let _ = stream.write(REFUSED);
        }
        Err(e) => tracing::debug!("refusing a connection: {e}"),
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

async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: ConnIo,
    service: ConnService,
    mut stop: watch::Receiver<bool>,
) {
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stopping = async move {
        // An error means the sender is gone: stop as well.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("http connection: {e}");
    }
}

/// The router as one connection's hyper service: adds the peer's address
/// as [`ConnectInfo`]`<`[`PeerAddr`]`>` and tells the connection's
/// [`ConnState`] when a request is being answered.
struct ConnService {
    app: TowerToHyperService<Router>,
    peer: PeerAddr,
    state: Arc<ConnState>,
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, mut req: Request<Incoming>) -> ServiceFuture {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let mut busy = self.state.request_started();
        let response = self.app.call(req);
        Box::pin(async move {
            let response = response.await;
            if let Ok(r) = &response
                && r.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                busy.upgraded();
            }
            drop(busy);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSED;

    #[test]
    fn the_refusal_has_the_right_length() {
        let text = std::str::from_utf8(REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "unavailable");
    }
}
