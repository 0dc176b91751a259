//! `GET /ws`: the WebSocket endpoint of the contract.
//!
//! - [`upgrade`]: the handshake and subprotocol choice.
//! - [`conn`]: the connection task (read, answer, write, ping, close).
//! - [`requests`]: what each request does; [`replies`]: the replies it gets.
//! - [`outbox`]: batching outbound messages into frames, dropping events
//!   already delivered.

pub mod conn;
pub mod outbox;
pub mod replies;
pub mod requests;
pub mod upgrade;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use liveshop_protocol::{MAX_FRAME_BYTES, Secret};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::context::ApiContext;
use crate::error::{Error, Result};
use upgrade::WsUpgrade;

pub fn router() -> Router<ApiContext> {
    Router::new().route("/ws", get(ws_handler))
}

/// Most bytes a connection may have waiting to be written to its socket.
const MAX_WRITE_BUFFER: usize = 2 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct WsParams {
    token: Option<Secret>,
}

/// tungstenite's buffers default to 128 KiB each, far more than an idle
/// connection needs. tungstenite zero-fills the whole read chunk before each
/// read, so its size is resident memory on every idle connection: 2 KiB
/// holds any usual request, and a bigger frame grows the buffer as it
/// arrives. Client frames are capped at [`MAX_FRAME_BYTES`] (a bigger one
/// closes the connection with 1009). The write buffer is capped
/// too: tungstenite answers pings itself, and a client that floods pings
/// while never reading would otherwise grow it without bound (past the cap
/// tungstenite keeps only the newest pong, and our own writes fail, which
/// ends the connection).
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES))
}

async fn ws_handler(
    State(ctx): State<ApiContext>,
    query: Result<Query<WsParams>, QueryRejection>,
    upgrade: WsUpgrade,
) -> Result<Response> {
    if ctx.is_shutting_down() {
        return Err(Error::Unavailable("shutting down".into()));
    }
    let Query(params) = query?;
    let permit = ctx
        .ws_permits()
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::Unavailable("too many websocket connections".into()))?;
    let (codec, protocol) = upgrade.negotiate();
    let auth = params.token.map(|t| ctx.jwt().verify(t.expose()));
    Ok(
        upgrade.respond(protocol, websocket_config(), move |socket| {
            conn::run(ctx, socket, codec, auth, permit)
        }),
    )
}
