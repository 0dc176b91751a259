//! One WebSocket connection: a single task that reads client frames,
//! answers them in order, writes room events and notices from the
//! connection's queue (batched into as few frames as it can), pings, and
//! closes with the right code.
//!
//! Ordering: a request is answered before the queue is read again, so the
//! `ok` of a `join` is written before any event of the room that the region
//! queued meanwhile, and those events are then filtered by the seq the join
//! started from (see [`super::outbox`]).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use liveshop_actors::{ConnHandle, Outbound};
use liveshop_protocol::{Codec, ErrorCode, Notice, ServerMessage};
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::outbox::FrameBuf;
use super::requests::Session;
use super::upgrade::Socket;
use crate::auth::jwt::{Identity, TokenError};
use crate::context::ApiContext;
use crate::metrics::{
    WS_CLOSED, WS_CONNECTIONS, WS_FRAMES_OUT, WS_LAGGED, WS_MESSAGES_IN, WS_REQUEST_SECONDS,
};

/// Most queued messages merged into one frame.
const MAX_BATCH_MESSAGES: usize = 256;
/// A frame stops taking queued messages past this size.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Lagged notices this close together are one episode, not a repeat.
const LAG_EPISODE: Duration = Duration::from_secs(1);
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// After a 1009, how long and how much the socket is drained so the client
/// reads the close frame instead of a reset.
const DRAIN_TIME: Duration = Duration::from_secs(5);
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// The client sent Close; it has been answered.
    ClientClosed,
    /// The transport failed or the peer vanished; nothing more can be sent.
    Gone,
    /// The server closes with this code and reason.
    Close(CloseCode, &'static str),
    /// A frame over the limit: Close 1009, then drain.
    TooBig,
}

/// Keeps the connection gauge right however the task ends.
struct Gauge;

impl Gauge {
    fn up() -> Gauge {
        metrics::gauge!(WS_CONNECTIONS).increment(1.0);
        Gauge
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        metrics::gauge!(WS_CONNECTIONS).decrement(1.0);
    }
}

struct Conn {
    ctx: ApiContext,
    ws: Socket,
    codec: Codec,
    rx: mpsc::Receiver<Outbound>,
    session: Session,
    last_heard: Instant,
    lag_episode: Option<Instant>,
}

/// Serves one upgraded connection until it ends. `auth` is the outcome of
/// a `?token=`; a bad token leaves the connection anonymous and is reported
/// with an `error` (no `rid`). `permit` is held for the connection's life.
pub async fn run(
    ctx: ApiContext,
    ws: Socket,
    codec: Codec,
    auth: Option<Result<Identity, TokenError>>,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let _gauge = Gauge::up();
    let (identity, token_error) = match auth {
        Some(Ok(identity)) => (Some(identity), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let id = ctx.next_conn_id();
    let user = identity.as_ref().map(|i| i.user_id.clone());
    let (handle, rx) = ConnHandle::new(id, user, ctx.config().limits.conn_queue);
    let mut conn = Conn {
        session: Session::new(&ctx, identity, handle),
        ctx,
        ws,
        codec,
        rx,
        last_heard: Instant::now(),
        lag_episode: None,
    };
    tracing::debug!(conn = id, user = ?conn.session.handle.user, "websocket open");
    let end = conn.start(token_error).await;
    let end = match end {
        Ok(()) => conn.serve().await,
        Err(end) => end,
    };
    tracing::debug!(conn = id, ?end, "websocket closing");
    conn.finish(end).await;
    conn.cleanup().await;
}

impl Conn {
    async fn start(&mut self, token_error: Option<TokenError>) -> Result<(), End> {
        if let Some(user) = self.session.handle.user.clone() {
            let attach = self.ctx.region().attach(&user, &self.session.handle);
            if tokio::time::timeout(self.ctx.config().limits.request_timeout, attach)
                .await
                .is_err()
            {
                tracing::warn!("attaching a connection timed out");
            }
        }
        if let Some(e) = token_error {
            let msg = ServerMessage::error(None, ErrorCode::Unauthorized, e.to_string());
            self.send_messages(&[msg]).await?;
        }
        Ok(())
    }

    async fn serve(&mut self) -> End {
        let limits = self.ctx.config().limits.clone();
        let mut shutdown = self.ctx.shutdown_signal();
        let mut ping = tokio::time::interval(limits.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            let step = tokio::select! {
                _ = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                    Err(End::Close(CloseCode::Away, "server shutting down"))
                }
                out = self.rx.recv() => match out {
                    Some(out) => self.on_outbound(out).await,
                    // The session holds a sender, so this does not happen.
                    None => Err(End::Close(CloseCode::Error, "internal error")),
                },
                frame = self.ws.next() => self.on_frame(frame).await,
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > limits.idle_timeout {
                        Err(End::Close(CloseCode::Normal, "idle timeout"))
                    } else {
                        self.send(Message::Ping(Default::default())).await
                    }
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Result<(), End> {
        let msg = match frame {
            None => return Err(End::Gone),
            Some(Ok(msg)) => msg,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                tracing::debug!(size, "client frame over the limit");
                return Err(End::TooBig);
            }
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)))
            | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_))) => {
                return Err(End::Gone);
            }
            Some(Err(WsError::Utf8(_))) => {
                return Err(End::Close(CloseCode::Invalid, "text frame is not UTF-8"));
            }
            Some(Err(e)) => {
                tracing::debug!("websocket error: {e}");
                return Err(End::Close(CloseCode::Protocol, "protocol error"));
            }
        };
        self.last_heard = Instant::now();
        let data = match msg {
            Message::Text(text) => bytes::Bytes::from(text),
            Message::Binary(data) => data,
            // tungstenite answers pings itself; a pong only proves life.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(()),
            Message::Close(_) => return Err(End::ClientClosed),
        };
        let replies = match self.codec.decode_client(&data) {
            Err(rejected) => {
                metrics::counter!(WS_MESSAGES_IN, "type" => "invalid").increment(1);
                vec![rejected.reply()]
            }
            Ok(msg) => {
                let kind = msg.request.kind_name();
                metrics::counter!(WS_MESSAGES_IN, "type" => kind).increment(1);
                let start = Instant::now();
                let replies = self.session.handle(&self.ctx, msg).await;
                metrics::histogram!(WS_REQUEST_SECONDS, "type" => kind)
                    .record(start.elapsed().as_secs_f64());
                replies
            }
        };
        self.send_messages(&replies).await
    }

    /// Writes `first` and whatever else is queued (up to the batch limits)
    /// as one frame; a `Lagged` flushes what is built, then resynchronises.
    async fn on_outbound(&mut self, first: Outbound) -> Result<(), End> {
        let mut frame = FrameBuf::new(self.codec);
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(out) = next.take() {
            taken += 1;
            match out {
                Outbound::Events(batch) => {
                    frame.push_events(&batch, &mut self.session.delivered);
                }
                Outbound::Notice(notice) => {
                    // The room dropped this connection: forget it, so nothing
                    // of it is sent any more and it is not resynchronised.
                    if let Notice::Banned { room } = notice.as_ref() {
                        self.session.delivered.remove(room);
                    }
                    frame.push(&ServerMessage::notice(*notice));
                }
                Outbound::Lagged { room } => {
                    let first_of_episode = self.lagged()?;
                    if first_of_episode {
                        frame.push(&ServerMessage::notice(Notice::Lagged));
                    }
                    self.send_frame(std::mem::replace(&mut frame, FrameBuf::new(self.codec)))
                        .await?;
                    let msgs = self
                        .session
                        .resync(&self.ctx, room)
                        .await
                        .ok_or(End::Close(
                            CloseCode::Again,
                            "could not resynchronise a room; reconnect",
                        ))?;
                    for msg in &msgs {
                        frame.push(msg);
                    }
                }
            }
            if taken < MAX_BATCH_MESSAGES && frame.len() < MAX_BATCH_BYTES {
                next = self.rx.try_recv().ok();
            }
        }
        self.send_frame(frame).await
    }

    /// Notes a lag; `Ok(true)` for the first of an episode. A second
    /// episode within the lag window ends the connection.
    fn lagged(&mut self) -> Result<bool, End> {
        let now = Instant::now();
        match self.lag_episode {
            Some(start) if now.duration_since(start) < LAG_EPISODE => Ok(false),
            Some(start) if now.duration_since(start) < self.ctx.config().limits.lag_window => Err(
                End::Close(CloseCode::Again, "too slow to keep up; reconnect"),
            ),
            _ => {
                metrics::counter!(WS_LAGGED).increment(1);
                self.lag_episode = Some(now);
                Ok(true)
            }
        }
    }

    async fn send_messages(&mut self, msgs: &[ServerMessage]) -> Result<(), End> {
        let mut frame = FrameBuf::new(self.codec);
        for msg in msgs {
            frame.push(msg);
        }
        self.send_frame(frame).await
    }

    async fn send_frame(&mut self, frame: FrameBuf) -> Result<(), End> {
        match frame.into_message() {
            Some(msg) => {
                metrics::counter!(WS_FRAMES_OUT).increment(1);
                self.send(msg).await
            }
            None => Ok(()),
        }
    }

    /// Writes one message. A write that does not complete within the idle
    /// timeout means the client stopped reading: the connection is dropped.
    async fn send(&mut self, msg: Message) -> Result<(), End> {
        let limit = self.ctx.config().limits.idle_timeout;
        match tokio::time::timeout(limit, self.ws.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::debug!("websocket write failed: {e}");
                Err(End::Gone)
            }
            Err(_) => Err(End::Gone),
        }
    }

    async fn finish(&mut self, end: End) {
        let reason = match &end {
            End::ClientClosed => "client",
            End::Gone => "gone",
            End::TooBig => "too_big",
            End::Close(CloseCode::Away, _) => "shutdown",
            End::Close(CloseCode::Again, _) => "lagged",
            End::Close(CloseCode::Normal, _) => "idle",
            End::Close(_, _) => "protocol",
        };
        metrics::counter!(WS_CLOSED, "reason" => reason).increment(1);
        match end {
            End::ClientClosed => {
                // Sends the close reply tungstenite queued.
                let _ = tokio::time::timeout(CLOSE_WAIT, self.ws.flush()).await;
            }
            End::Gone => {}
            End::Close(code, reason) => {
                self.close(code, reason).await;
                // Wait for the client's Close (or anything ending the stream).
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(Ok(msg)) = self.ws.next().await {
                        if matches!(msg, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
            }
            End::TooBig => {
                self.close(CloseCode::Size, "frame too large").await;
                self.drain().await;
            }
        }
    }

    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, self.ws.send(Message::Close(Some(frame)))).await;
    }

    /// Reads and discards raw bytes until the client closes, for a while.
    async fn drain(&mut self) {
        let io = self.ws.get_mut();
        let mut buf = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while total < DRAIN_BYTES {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        })
        .await;
    }

    /// Leaves every room and stops the user's notices.
    async fn cleanup(&mut self) {
        let region = self.ctx.region().clone();
        let id = self.session.handle.id;
        let rooms: Vec<_> = self
            .session
            .delivered
            .drain()
            .map(|(room, _)| room)
            .collect();
        let user = self.session.handle.user.clone();
        let work = async {
            for room in &rooms {
                region.leave(room, id).await;
            }
            if let Some(user) = &user {
                region.detach(user, id).await;
            }
        };
        if tokio::time::timeout(self.ctx.config().limits.request_timeout, work)
            .await
            .is_err()
        {
            tracing::warn!(conn = id, "leaving rooms timed out");
        }
    }
}
