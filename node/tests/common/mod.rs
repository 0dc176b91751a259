//! A real `liveshop` node process and real HTTP and WebSocket clients that
//! speak the public contract (docs/protocol.md), for the end-to-end tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any single wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A node running as a child process on a free loopback port.
pub struct Node {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Node {
    /// Starts `liveshop` on `data_dir` and waits until it prints its address.
    /// Registration is not rate limited, so a test can sign up many buyers
    /// from one address; every other limit is the default.
    pub fn start(data_dir: &Path) -> Node {
        let config = data_dir.with_extension("toml");
        std::fs::write(
            &config,
            "[rate_limits]\nauth = { per_second = 100000, burst = 100000 }\n",
        )
        .expect("write test config");
        let config = config.to_str().expect("utf-8 path").to_owned();
        Self::start_with(data_dir, &["--config", &config])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_liveshop"));
        // The test decides the configuration, not the developer's shell.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LIVESHOP_")) {
            command.env_remove(key);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn liveshop");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("liveshop exited before printing its address")
                .expect("read liveshop stdout");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.trim().parse().expect("address");
            }
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Node {
            child,
            addr,
            data_dir: data_dir.to_owned(),
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The node process's resident memory, KiB (0 if unknown).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn api(&self) -> Api {
        Api::new(self.addr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    http: reqwest::Client,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            addr,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request, returning the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path)).timeout(PATIENCE);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("http body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn register(&self, name: &str, role: &str) -> User {
        let body = json!({"username": name, "password": "correct horse battery", "role": role});
        let (status, v) = self
            .call("POST", "/api/v1/auth/register", None, Some(body))
            .await;
        assert_eq!(status, 201, "register {name}: {v}");
        User {
            id: v["user_id"].as_str().expect("user_id").to_owned(),
            name: name.to_owned(),
            token: v["access_token"].as_str().expect("access_token").to_owned(),
        }
    }

    pub async fn create_room(&self, seller: &User, title: &str) -> String {
        let (status, v) = self
            .call(
                "POST",
                "/api/v1/rooms",
                Some(&seller.token),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, 201, "create room: {v}");
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    pub async fn create_lot(&self, seller: &User, room: &str, lot: Value) -> String {
        let path = format!("/api/v1/rooms/{room}/lots");
        let (status, v) = self
            .call("POST", &path, Some(&seller.token), Some(lot))
            .await;
        assert_eq!(status, 201, "create lot: {v}");
        v["lot_id"].as_str().expect("lot_id").to_owned()
    }

    pub async fn lot(&self, lot: &str) -> Value {
        let (status, v) = self
            .call("GET", &format!("/api/v1/lots/{lot}"), None, None)
            .await;
        assert_eq!(status, 200, "get lot: {v}");
        v
    }

    pub async fn orders(&self, user: &User) -> Vec<Value> {
        let (status, v) = self
            .call("GET", "/api/v1/orders", Some(&user.token), None)
            .await;
        assert_eq!(status, 200, "orders: {v}");
        v["orders"].as_array().cloned().unwrap_or_default()
    }
}

/// Registers `n` users named `<prefix><i>` with bounded concurrency.
pub async fn register_many(api: &Api, prefix: &str, n: usize, role: &str) -> Vec<User> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    futures_util::stream::iter(names)
        .map(|name| {
            let api = api.clone();
            let role = role.to_owned();
            async move { api.register(&name, &role).await }
        })
        .buffered(16)
        .collect()
        .await
}

/// A WebSocket client speaking the JSON subprotocol.
pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_rid: u64,
    /// Messages received while waiting for something else, in order.
    inbox: VecDeque<Value>,
    pub closed: Option<Option<u16>>,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Ws {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws?token={t}"),
            None => format!("ws://{addr}/ws"),
        };
        let (socket, _) = tokio::time::timeout(PATIENCE, connect_async(url))
            .await
            .expect("ws connect timed out")
            .expect("ws connect");
        Ws {
            socket,
            next_rid: 1,
            inbox: VecDeque::new(),
            closed: None,
        }
    }

    /// Sends `msg` with a fresh `rid`; returns the rid.
    pub async fn send(&mut self, mut msg: Value) -> String {
        let rid = format!("r{}", self.next_rid);
        self.next_rid += 1;
        msg["rid"] = json!(rid);
        self.send_raw(Message::text(msg.to_string())).await;
        rid
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.socket.send(msg).await.expect("ws send");
    }

    /// Sends `msg` and waits for its reply; messages in between are kept.
    pub async fn request(&mut self, msg: Value) -> Value {
        let rid = self.send(msg).await;
        self.reply(&rid).await
    }

    pub async fn reply(&mut self, rid: &str) -> Value {
        loop {
            if let Some(pos) = self
                .inbox
                .iter()
                .position(|m| m["rid"] == rid && is_reply(m))
            {
                return self.inbox.remove(pos).unwrap_or(Value::Null);
            }
            if !self.fill().await {
                panic!("connection closed waiting for {rid}");
            }
        }
    }

    /// The next message not yet taken, waiting up to `PATIENCE`; None once
    /// the connection is closed.
    pub async fn next(&mut self) -> Option<Value> {
        while self.inbox.is_empty() {
            if !self.fill().await {
                return None;
            }
        }
        self.inbox.pop_front()
    }

    /// Messages until `stop` matches one (included), or None on close.
    pub async fn until(&mut self, mut stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(m) = self.next().await {
            let done = stop(&m);
            seen.push(m);
            if done {
                break;
            }
        }
        seen
    }

    /// Reads one frame and appends every message in it to the inbox, in
    /// order; false once the connection is closed.
    async fn fill(&mut self) -> bool {
        loop {
            let frame = match tokio::time::timeout(PATIENCE, self.socket.next()).await {
                Err(_) => panic!("no message within {PATIENCE:?}"),
                Ok(None) | Ok(Some(Err(_))) => {
                    self.closed.get_or_insert(None);
                    return false;
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let before = self.inbox.len();
                    self.inbox
                        .extend(text.split('\n').filter(|l| !l.trim().is_empty()).map(|l| {
                            serde_json::from_str::<Value>(l).expect("server sent invalid JSON")
                        }));
                    if self.inbox.len() > before {
                        return true;
                    }
                }
                Message::Close(frame) => {
                    self.closed = Some(frame.map(|f| u16::from(f.code)));
                    return false;
                }
                _ => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn is_reply(m: &Value) -> bool {
    m["type"] == "ok" || m["type"] == "error"
}

/// Asserts an `ok` reply and returns it.
#[track_caller]
pub fn ok(reply: Value) -> Value {
    assert_eq!(reply["type"], "ok", "expected ok, got {reply}");
    reply
}

/// The `event` bodies of room `room` among `msgs`, with their seq.
pub fn events_of(msgs: &[Value], room: &str) -> Vec<(u64, Value)> {
    msgs.iter()
        .filter(|m| m["type"] == "event" && m["room"] == room)
        .map(|m| (m["seq"].as_u64().expect("seq"), m["event"].clone()))
        .collect()
}
