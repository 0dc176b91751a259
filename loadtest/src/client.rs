//! One virtual user's WebSocket, speaking the JSON subprotocol of
//! docs/protocol.md. It connects from a chosen source address (a loopback
//! node sees many client addresses, and one address alone has only ~28k
//! ports), sends requests with a `rid`, waits for their replies while
//! recording everything else that arrives (server frames may hold several
//! JSON lines), and keeps its whole history in a [`ClientLog`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::history::{ClientLog, Clock, Op, Outcome, Record, fnv1a};

mod auction;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}{from}: {detail}")]
    Connect {
        addr: SocketAddr,
        from: String,
        detail: String,
    },
    #[error("WebSocket handshake with {addr} failed: {detail}")]
    Handshake { addr: SocketAddr, detail: String },
    #[error("no answer within {secs} s while {what}")]
    Timeout { secs: u64, what: String },
    #[error("connection closed while {what}: {reason}")]
    Closed { what: String, reason: String },
}

/// A connected virtual user.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    clock: Clock,
    pub log: ClientLog,
    next_rid: u32,
    timeout: Duration,
    /// Replies that arrived and no caller has taken yet.
    replies: Vec<(u32, Outcome)>,
    /// Room and lot ids this user deals with, shared with its records.
    known: Vec<Arc<str>>,
    /// Why the connection ended, once it has.
    pub closed: Option<String>,
}

/// Opens a WebSocket to `addr` (from `source` when given) for `url`.
pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    url: &str,
    log: ClientLog,
    clock: Clock,
    timeout: Duration,
) -> Result<Conn, ClientError> {
    let from = source.map(|ip| format!(" from {ip}")).unwrap_or_default();
    let connect_err = |e: std::io::Error| ClientError::Connect {
        addr,
        from: from.clone(),
        detail: e.to_string(),
    };
    let open = async {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(connect_err)?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).map_err(connect_err)?;
        }
        let stream = socket.connect(addr).await.map_err(connect_err)?;
        // Requests are tiny and latency is what we measure.
        stream.set_nodelay(true).map_err(connect_err)?;
        // tungstenite's default 128 KiB read and write buffers per socket
        // would cost over 2 GiB for 10k users; our messages are small (a
        // larger one still arrives whole, assembled from several reads).
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(4 * 1024);
        let (ws, _) = client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| ClientError::Handshake {
                addr,
                detail: handshake_detail(&e),
            })?;
        Ok(ws)
    };
    let ws = tokio::time::timeout(timeout, open)
        .await
        .map_err(|_| ClientError::Timeout {
            secs: timeout.as_secs(),
            what: format!("connecting to {addr}{from}"),
        })??;
    Ok(Conn {
        ws,
        clock,
        log,
        next_rid: 1,
        timeout,
        replies: Vec::new(),
        known: Vec::new(),
        closed: None,
    })
}

fn handshake_detail(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            format!("HTTP {} {}", resp.status(), body.trim())
        }
        other => other.to_string(),
    }
}

impl Conn {
    /// Ids this user will meet often (its room, its lot): records share them.
    pub fn know(&mut self, id: &Arc<str>) {
        if !self.known.contains(id) {
            self.known.push(id.clone());
        }
    }

    fn intern(&self, s: &str) -> Arc<str> {
        match self.known.iter().find(|k| &***k == s) {
            Some(k) => k.clone(),
            None => Arc::from(s),
        }
    }

    /// Sends `msg` (a JSON object without `rid`) as `op`; returns the rid.
    pub async fn send(&mut self, op: Op, mut msg: Value) -> Result<u32, ClientError> {
        let rid = self.next_rid;
        self.next_rid += 1;
        msg["rid"] = Value::String(rid.to_string());
        let what = format!("sending {}", op.name());
        self.log.records.push(Record::Sent {
            at: self.clock.now(),
            rid,
            op,
        });
        let send = self.ws.send(Message::text(msg.to_string()));
        match tokio::time::timeout(self.timeout, send).await {
            Ok(Ok(())) => Ok(rid),
            Ok(Err(e)) => Err(self.ended(what, e.to_string())),
            Err(_) => Err(ClientError::Timeout {
                secs: self.timeout.as_secs(),
                what,
            }),
        }
    }

    /// Sends and waits for the reply, recording whatever arrives meanwhile.
    pub async fn request(&mut self, op: Op, msg: Value) -> Result<Outcome, ClientError> {
        let name = op.name();
        let rid = self.send(op, msg).await?;
        self.reply(rid, name).await
    }

    /// The reply to `rid`, waiting at most the request timeout.
    pub async fn reply(&mut self, rid: u32, name: &str) -> Result<Outcome, ClientError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == rid) {
                return Ok(self.replies.swap_remove(i).1);
            }
            let what = || format!("waiting for the reply to {name} (rid {rid})");
            if let Some(reason) = &self.closed {
                return Err(ClientError::Closed {
                    what: what(),
                    reason: reason.clone(),
                });
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => {
                    return Err(ClientError::Timeout {
                        secs: self.timeout.as_secs(),
                        what: what(),
                    });
                }
                Ok(frame) => self.on_frame(frame),
            }
        }
    }

    /// Runs `work` while recording everything that arrives, and returns its
    /// output. Reading on keeps the node from marking this viewer as too
    /// slow; if the connection ends (see `closed`), `work` simply finishes.
    pub async fn pump_while<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            if self.closed.is_some() {
                return work.await;
            }
            tokio::select! {
                out = &mut work => return out,
                frame = self.ws.next() => self.on_frame(frame),
            }
        }
    }

    /// Closes politely (bounded wait) and hands back the history.
    pub async fn finish(mut self) -> ClientLog {
        if self.closed.is_none() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
        }
        self.log
    }

    fn ended(&mut self, what: String, reason: String) -> ClientError {
        self.mark_closed(reason.clone());
        ClientError::Closed { what, reason }
    }

    fn mark_closed(&mut self, reason: String) {
        if self.closed.is_none() {
            self.log.records.push(Record::Closed {
                at: self.clock.now(),
                reason: reason.clone().into(),
            });
            self.closed = Some(reason);
        }
    }

    fn on_frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) {
        let at = self.clock.now();
        match frame {
            None => self.mark_closed("the stream ended".into()),
            Some(Err(e)) => self.mark_closed(e.to_string()),
            Some(Ok(Message::Text(text))) => {
                // A frame may carry several messages as JSON lines, in order.
                for line in text.as_str().split('\n').filter(|l| !l.trim().is_empty()) {
                    self.on_message(at, line);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let reason = match frame {
                    Some(f) => format!("closed by the node ({} {})", u16::from(f.code), f.reason),
                    None => "closed by the node".into(),
                };
                self.mark_closed(reason);
            }
            // Pings are answered by tungstenite; we asked for JSON, so no
            // binary frames are expected and any are ignored.
            Some(Ok(_)) => {}
        }
    }

    fn on_message(&mut self, at: u64, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            self.log.records.push(Record::ServerError {
                at,
                code: "invalid_json_from_node".into(),
            });
            return;
        };
        let record = match v["type"].as_str() {
            Some("ok" | "error") => {
                let rid = v["rid"].as_str().and_then(|r| r.parse::<u32>().ok());
                match rid {
                    Some(rid) => {
                        let outcome = self.outcome(&v);
                        self.replies.push((rid, outcome.clone()));
                        Record::Reply { at, rid, outcome }
                    }
                    None => match (&v["snapshot"], v["type"].as_str()) {
                        (s, Some("ok")) if s.is_object() => Record::Resync {
                            at,
                            room: self.intern(s["room"]["room_id"].as_str().unwrap_or("")),
                            seq: s["seq"].as_u64().unwrap_or(0),
                        },
                        _ => Record::ServerError {
                            at,
                            code: v["code"].as_str().unwrap_or("unknown").into(),
                        },
                    },
                }
            }
            Some("event") => {
                let event = &v["event"];
                // `stock` events, and `lot` events of sale lots, carry the
                // lot's `available`.
                let counts = event["kind"] == "stock"
                    || (event["kind"] == "lot" && event["available"].is_u64());
                let stock = counts.then(|| {
                    (
                        self.intern(event["lot"].as_str().unwrap_or("")),
                        event["available"].as_u64().unwrap_or(0),
                    )
                });
                let auction = self.auction_record(at, event);
                self.log.records.push(Record::Event {
                    at,
                    room: self.intern(v["room"].as_str().unwrap_or("")),
                    seq: v["seq"].as_u64().unwrap_or(0),
                    digest: fnv1a(event.to_string().as_bytes()),
                    stock,
                });
                // `bid` and `lot_closed` also get a record of their own.
                match auction {
                    Some(record) => record,
                    None => return,
                }
            }
            Some("notice") => {
                let n = &v["notice"];
                let s = |k: &str| n[k].as_str().unwrap_or("").to_owned();
                match n["kind"].as_str() {
                    Some("lagged") => Record::Lagged { at },
                    Some("queue_offer") => Record::Offer {
                        at,
                        lot: self.intern(&s("lot")),
                        hold: Arc::from(s("hold")),
                    },
                    Some("hold_expired") => Record::HoldExpired {
                        at,
                        hold: Arc::from(s("hold")),
                    },
                    Some("won") => Record::Won {
                        at,
                        lot: self.intern(&s("lot")),
                        amount: n["amount"].as_i64().unwrap_or(0),
                    },
                    // Other notices carry nothing the checker uses yet.
                    _ => return,
                }
            }
            _ => return,
        };
        self.log.records.push(record);
    }

    /// Takes the replies nobody waited for (requests sent with [`Conn::send`]
    /// alone), so a client that never waits does not pile them up.
    pub fn drain_replies(&mut self) -> Vec<(u32, Outcome)> {
        std::mem::take(&mut self.replies)
    }

    fn outcome(&self, v: &Value) -> Outcome {
        if v["type"] == "error" {
            return Outcome::Error {
                code: v["code"].as_str().unwrap_or("unknown").into(),
            };
        }
        if let Some(s) = v.get("snapshot").filter(|s| s.is_object()) {
            return Outcome::Snapshot {
                seq: s["seq"].as_u64().unwrap_or(0),
                reset: s["reset"] == true,
            };
        }
        if let Some(hold) = v["hold"].as_str() {
            return Outcome::Held {
                hold: Arc::from(hold),
                qty: v["qty"]
                    .as_u64()
                    .and_then(|q| u32::try_from(q).ok())
                    .unwrap_or(1),
            };
        }
        if v["queued"] == true {
            return Outcome::Queued {
                position: v["position"].as_u64().unwrap_or(0),
            };
        }
        if let (Some(lot_seq), Some(amount)) = (v["lot_seq"].as_u64(), v["amount"].as_i64()) {
            return Outcome::Bid { lot_seq, amount };
        }
        if let Some(order) = v["order"].as_str() {
            return Outcome::Ordered {
                order: Arc::from(order),
                amount: v["amount"].as_i64().unwrap_or(0),
            };
        }
        Outcome::Ok
    }
}

/// Resolves a target's host and port (once per target, not per user).
pub async fn resolve(url: &reqwest::Url) -> std::io::Result<SocketAddr> {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(80);
    // Url keeps IPv6 hosts in brackets; lookup_host wants them bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))
}
