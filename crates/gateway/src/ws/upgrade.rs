//! The WebSocket handshake, done here rather than with axum's
//! `WebSocketUpgrade` so the connection owns the tokio-tungstenite stream
//! itself: after refusing an oversized frame it must send Close 1009 and then
//! drain the raw socket without parsing (tungstenite keeps the refused
//! frame's header and would otherwise buffer its whole payload).

use std::future::Future;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use liveshop_protocol::Codec;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::context::ApiContext;
use crate::error::Error;
use crate::net::{CONNECTIONS_REFUSED, PerIpGuard};
use crate::server::PeerAddr;

/// A server-side WebSocket over an upgraded HTTP/1.1 connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// A valid WebSocket upgrade request, not yet answered.
///
/// Extracting it counts the connection against
/// `limits.max_websockets_per_ip` for the client's address (503
/// `unavailable` past it), until the WebSocket ends or the upgrade is
/// dropped unanswered.
pub struct WsUpgrade {
    on_upgrade: OnUpgrade,
    key: HeaderValue,
    offered: Vec<String>,
    per_ip: Option<PerIpGuard>,
}

fn header_has_token(
    headers: &HeaderMap,
    name: impl axum::http::header::AsHeaderName,
    token: &str,
) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

impl<S> FromRequestParts<S> for WsUpgrade
where
    S: Send + Sync,
    ApiContext: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let not_ws = || Error::BadRequest("expected a WebSocket upgrade request".into());
        let h = &parts.headers;
        if !header_has_token(h, CONNECTION, "upgrade") || !header_has_token(h, UPGRADE, "websocket")
        {
            return Err(not_ws());
        }
        if h.get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
            return Err(Error::BadRequest(
                "only WebSocket version 13 is supported".into(),
            ));
        }
        let key = h.get(SEC_WEBSOCKET_KEY).cloned().ok_or_else(not_ws)?;
        let offered = h
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if parts.extensions.get::<OnUpgrade>().is_none() {
            return Err(not_ws());
        }
        // Without connect info (a router called directly, not through
        // `serve`) there is no address to count against.
        let per_ip = match parts.extensions.get::<ConnectInfo<PeerAddr>>() {
            Some(ConnectInfo(PeerAddr(peer))) => {
                let ctx = ApiContext::from_ref(state);
                let guard = ctx.ws_per_ip().try_acquire(peer.ip());
                if guard.is_none() {
                    metrics::counter!(CONNECTIONS_REFUSED, "reason" => "websockets_per_ip")
                        .increment(1);
                    return Err(Error::Unavailable(format!(
                        "too many websocket connections from {}",
                        peer.ip()
                    )));
                }
                guard
            }
            None => None,
        };
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(not_ws)?;
        Ok(WsUpgrade {
            on_upgrade,
            key,
            offered,
            per_ip,
        })
    }
}

impl WsUpgrade {
    /// The codec to speak: the first offered subprotocol this node knows,
    /// echoed in the handshake; JSON (and no echo) when none is offered or
    /// none is known.
    pub fn negotiate(&self) -> (Codec, Option<&'static str>) {
        self.offered
            .iter()
            .find_map(|p| Codec::from_subprotocol(p))
            .map(|c| (c, Some(c.subprotocol())))
            .unwrap_or((Codec::Json, None))
    }

    /// Answers 101 and runs `on_socket` on the upgraded connection in a task
    /// of its own. If the upgrade fails, `on_socket` is dropped unrun.
    pub fn respond<F, Fut>(
        self,
        protocol: Option<&'static str>,
        config: WebSocketConfig,
        on_socket: F,
    ) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        let per_ip = self.per_ip;
        tokio::spawn(async move {
            // Counted against the address until the WebSocket ends.
            let _per_ip = per_ip;
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    on_socket(socket).await;
                }
                Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
            }
        });
        let accept = derive_accept_key(self.key.as_bytes());
        let mut response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (CONNECTION, HeaderValue::from_static("upgrade")),
                (UPGRADE, HeaderValue::from_static("websocket")),
            ],
        )
            .into_response();
        let headers = response.headers_mut();
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = protocol {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        response
    }
}
