//! The watcher: one anonymous connection joined to every room of the run
//! that reads the events' contents, which the viewers' compact history
//! does not keep, and so tells which `(room, seq)` is which emission: a
//! chat by its unique text, a pin by its lot. Its own history (joins,
//! events as digests, lags, resyncs) is recorded like any client's, so the
//! room rules check it too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use super::super::{Env, RunError};
use crate::client::ClientError;
use crate::history::{ClientLog, Clock, Op, Outcome, Record, fnv1a};

/// An emission as the room stream carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::scenarios) struct Tag {
    pub room: Arc<str>,
    pub seq: u64,
    pub what: Tagged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::scenarios) enum Tagged {
    /// A chat whose text starts with the run's marker.
    Chat {
        text: String,
    },
    Pin {
        lot: String,
    },
}

/// What the driver may look at while the watcher runs.
#[derive(Debug, Default)]
pub(in crate::scenarios) struct Seen {
    pub tags: Vec<Tag>,
    /// It lagged or its connection ended: it may have missed emissions.
    pub incomplete: bool,
}

pub(in crate::scenarios) struct Watcher {
    pub seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<ClientLog>,
}

impl Watcher {
    /// Connects to the first target, joins `rooms` and starts reading.
    pub async fn start(env: &Env, rooms: &[Arc<str>], marker: &str) -> Result<Watcher, RunError> {
        let who = "watcher".to_owned();
        let client_err = |source| RunError::Client {
            who: who.clone(),
            source,
        };
        let ws = open(env).await.map_err(client_err)?;
        let mut w = Reader {
            ws,
            clock: env.clock,
            log: ClientLog::new("watcher", ""),
            marker: marker.to_owned(),
            seen: Arc::new(Mutex::new(Seen::default())),
        };
        for (rid, room) in (1u32..).zip(rooms) {
            w.log.records.push(Record::Sent {
                at: env.clock.now(),
                rid,
                op: Op::Join { room: room.clone() },
            });
            let msg = json!({"type": "join", "room": &**room, "rid": rid.to_string()});
            let sent = tokio::time::timeout(env.timeout, w.ws.send(Message::text(msg.to_string())));
            if !matches!(sent.await, Ok(Ok(()))) {
                return Err(client_err(ClientError::Closed {
                    what: "sending join".into(),
                    reason: "the send failed or timed out".into(),
                }));
            }
        }
        // Read until every join is answered.
        let deadline = tokio::time::Instant::now() + env.timeout;
        let answered = |log: &ClientLog| {
            log.records
                .iter()
                .filter(|r| matches!(r, Record::Reply { .. }))
                .count()
        };
        while answered(&w.log) < rooms.len() {
            match tokio::time::timeout_at(deadline, w.ws.next()).await {
                Ok(Some(Ok(msg))) => w.on_message(msg),
                Ok(_) => {
                    return Err(client_err(ClientError::Closed {
                        what: "joining the rooms".into(),
                        reason: "the node closed the connection".into(),
                    }));
                }
                Err(_) => {
                    return Err(client_err(ClientError::Timeout {
                        secs: env.timeout.as_secs(),
                        what: "joining the rooms".into(),
                    }));
                }
            }
        }
        let refused = w.log.records.iter().find_map(|r| match r {
            Record::Reply {
                outcome: Outcome::Error { code },
                ..
            } => Some(code.to_string()),
            _ => None,
        });
        if let Some(code) = refused {
            return Err(RunError::Refused {
                who,
                op: "join",
                code,
            });
        }
        let seen = w.seen.clone();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(w.run(stopped));
        Ok(Watcher { seen, stop, task })
    }

    /// How many emissions it has tagged so far.
    pub fn tagged(&self) -> usize {
        self.seen.lock().map_or(0, |s| s.tags.len())
    }

    /// Stops reading and hands back its history and what it tagged.
    pub async fn finish(self) -> Result<(ClientLog, Seen), RunError> {
        let _ = self.stop.send(true);
        let log = self
            .task
            .await
            .map_err(|e| RunError::Internal(format!("the watcher task failed: {e}")))?;
        let seen = match self.seen.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => return Err(RunError::Internal("the watcher's state is poisoned".into())),
        };
        Ok((log, seen))
    }
}

async fn open(env: &Env) -> Result<WebSocketStream<TcpStream>, ClientError> {
    let target = &env.targets[0];
    let addr = target.addr;
    let url = target.api.ws_url("");
    let url = url.strip_suffix("?token=").unwrap_or(&url).to_owned();
    let connect = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Connect {
                addr,
                from: String::new(),
                detail: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        // Busy rooms: room for a batch of events without many reads.
        let config = WebSocketConfig::default()
            .read_buffer_size(64 * 1024)
            .write_buffer_size(4 * 1024);
        client_async_with_config(url, stream, Some(config))
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| ClientError::Handshake {
                addr,
                detail: e.to_string(),
            })
    };
    tokio::time::timeout(env.timeout, connect)
        .await
        .map_err(|_| ClientError::Timeout {
            secs: env.timeout.as_secs(),
            what: format!("connecting the watcher to {addr}"),
        })?
}

struct Reader {
    ws: WebSocketStream<TcpStream>,
    clock: Clock,
    log: ClientLog,
    marker: String,
    seen: Arc<Mutex<Seen>>,
}

impl Reader {
    async fn run(mut self, mut stop: watch::Receiver<bool>) -> ClientLog {
        let mut ended = None;
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                msg = self.ws.next() => match msg {
                    Some(Ok(msg)) => self.on_message(msg),
                    Some(Err(e)) => {
                        ended = Some(e.to_string());
                        break;
                    }
                    None => {
                        ended = Some("the stream ended".to_owned());
                        break;
                    }
                },
            }
        }
        match ended {
            Some(reason) => {
                self.ended(reason);
                let _ = stop.wait_for(|s| *s).await;
            }
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
            }
        }
        self.log
    }

    fn ended(&mut self, reason: String) {
        self.log.records.push(Record::Closed {
            at: self.clock.now(),
            reason: reason.into(),
        });
        if let Ok(mut s) = self.seen.lock() {
            s.incomplete = true;
        }
    }

    fn on_message(&mut self, msg: Message) {
        let at = self.clock.now();
        match msg {
            Message::Text(text) => {
                for line in text.as_str().split('\n').filter(|l| !l.trim().is_empty()) {
                    if let Ok(v) = serde_json::from_str::<Value>(line) {
                        self.on_value(at, &v);
                    }
                }
            }
            Message::Close(_) => self.ended("closed by the node".into()),
            _ => {}
        }
    }

    fn on_value(&mut self, at: u64, v: &Value) {
        let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let record = match v["type"].as_str() {
            Some("ok" | "error") => match v["rid"].as_str().and_then(|r| r.parse().ok()) {
                Some(rid) => Record::Reply {
                    at,
                    rid,
                    outcome: match &v["snapshot"] {
                        s if s.is_object() => Outcome::Snapshot {
                            seq: s["seq"].as_u64().unwrap_or(0),
                            reset: s["reset"] == true,
                        },
                        _ if v["type"] == "error" => Outcome::Error {
                            code: s(&v["code"]).into(),
                        },
                        _ => Outcome::Ok,
                    },
                },
                None if v["snapshot"].is_object() => {
                    if let Ok(mut seen) = self.seen.lock() {
                        seen.incomplete = true;
                    }
                    Record::Resync {
                        at,
                        room: s(&v["snapshot"]["room"]["room_id"]).into(),
                        seq: v["snapshot"]["seq"].as_u64().unwrap_or(0),
                    }
                }
                None => return,
            },
            Some("event") => {
                let (event, room) = (&v["event"], Arc::<str>::from(s(&v["room"])));
                let seq = v["seq"].as_u64().unwrap_or(0);
                let what = match event["kind"].as_str() {
                    Some("chat") => event["text"]
                        .as_str()
                        .filter(|t| t.starts_with(&self.marker))
                        .map(|t| Tagged::Chat { text: t.to_owned() }),
                    Some("pinned") => Some(Tagged::Pin {
                        lot: s(&event["lot"]),
                    }),
                    _ => None,
                };
                if let (Some(what), Ok(mut seen)) = (what, self.seen.lock()) {
                    seen.tags.push(Tag {
                        room: room.clone(),
                        seq,
                        what,
                    });
                }
                Record::Event {
                    at,
                    room,
                    seq,
                    // The same digest as every other client's (client.rs).
                    digest: fnv1a(event.to_string().as_bytes()),
                    stock: None,
                }
            }
            Some("notice") if v["notice"]["kind"] == "lagged" => {
                if let Ok(mut seen) = self.seen.lock() {
                    seen.incomplete = true;
                }
                Record::Lagged { at }
            }
            _ => return,
        };
        self.log.records.push(record);
    }
}
