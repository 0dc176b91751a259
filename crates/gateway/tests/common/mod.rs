//! A real gateway on 127.0.0.1:0 over a real region and embedded store, and
//! real HTTP (reqwest) and WebSocket (tokio-tungstenite) clients.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveshop_actors::{ActorConfig, Region};
use liveshop_cache::{Cache, MemoryCache};
use liveshop_gateway::{ApiContext, GatewayConfig, Limits, RateLimits, install_metrics, serve};
use liveshop_store::{EmbeddedStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async};

/// How long any one wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

pub struct TestServer {
    pub addr: SocketAddr,
    pub ctx: ApiContext,
    pub region: Region,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Test defaults: no rate limits unless a test sets them.
pub fn test_config() -> GatewayConfig {
    GatewayConfig {
        jwt_secret: JWT_SECRET.to_vec(),
        public_url: "http://media.test".into(),
        limits: Limits {
            rates: RateLimits::unlimited(),
            ..Limits::default()
        },
        ..GatewayConfig::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: GatewayConfig) -> TestServer {
        Self::start_with_cache(config, Arc::new(MemoryCache::new())).await
    }

    /// A server over `cache` (shared with other test servers, or a failing one).
    pub async fn start_with_cache(config: GatewayConfig, cache: Arc<dyn Cache>) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_in(dir.path(), config, cache).await;
        server._dir = Some(dir);
        server
    }

    /// A server with `actors` for its region (and a memory cache).
    pub async fn start_with_actors(config: GatewayConfig, actors: ActorConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let mut server = Self::start_in_with(dir.path(), config, cache, actors).await;
        server._dir = Some(dir);
        server
    }

    /// A server whose embedded store lives in `dir` (reusing what is there).
    pub async fn start_in(
        dir: &std::path::Path,
        config: GatewayConfig,
        cache: Arc<dyn Cache>,
    ) -> TestServer {
        Self::start_in_with(dir, config, cache, ActorConfig::default()).await
    }

    async fn start_in_with(
        dir: &std::path::Path,
        config: GatewayConfig,
        cache: Arc<dyn Cache>,
        actors: ActorConfig,
    ) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).expect("store"));
        let region = Region::start(store.clone(), actors).await.expect("region");
        let ctx =
            ApiContext::new(region.clone(), store, cache, config, install_metrics()).expect("ctx");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, ctx.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            ctx,
            region,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// Graceful shutdown; returns once `serve` has returned.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(PATIENCE, task)
                .await
                .expect("serve returns");
            result.expect("serve task").expect("serve");
        }
        self.region.shutdown().await;
    }

    pub fn api(&self) -> Api {
        Api {
            base: format!("http://{}", self.addr),
            http: reqwest::Client::new(),
        }
    }

    pub async fn ws(&self, token: Option<&str>) -> Ws {
        Ws::connect(self.addr, token, Codec::Json).await
    }

    pub async fn ws_msgpack(&self, token: Option<&str>) -> Ws {
        Ws::connect(self.addr, token, Codec::MsgPack).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A registered user and their tokens.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub token: String,
    pub refresh: String,
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = tokio::time::timeout(PATIENCE, req.send())
            .await
            .expect("http in time")
            .expect("http");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn register(&self, name: &str, role: &str) -> User {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": name, "password": "correct horse", "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {name}: {body}");
        User {
            id: body["user_id"].as_str().expect("user_id").to_owned(),
            name: name.to_lowercase(),
            token: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// A room of `seller`; returns its id.
    pub async fn room(&self, seller: &User) -> String {
        self.room_with_key(seller).await.0
    }

    /// A room of `seller`; returns its id and stream key.
    pub async fn room_with_key(&self, seller: &User) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v1/rooms",
                Some(&seller.token),
                json!({"title": "Friday drop"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let room = body["room_id"].as_str().expect("room_id").to_owned();
        let key = body["stream_key"].as_str().expect("stream_key").to_owned();
        (room, key)
    }

    /// A lot in `room`; returns its id.
    pub async fn lot(&self, seller: &User, room: &str, spec: Value) -> String {
        let (status, body) = self
            .post(
                &format!("/api/v1/rooms/{room}/lots"),
                Some(&seller.token),
                spec,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["lot_id"].as_str().expect("lot_id").to_owned()
    }
}

pub fn auction_spec() -> Value {
    json!({"title": "Jordan 1 size 10", "currency": "USD", "kind": "auction",
           "start_price": 1000, "duration_ms": 600000, "anti_snipe_ms": 0})
}

pub fn sale_spec() -> Value {
    json!({"title": "Vintage tee drop", "currency": "USD", "kind": "sale",
           "price": 2500, "stock": 50, "per_user_limit": 2, "hold_ttl_ms": 300000,
           "allocation": "fifo"})
}

/// Asserts an HTTP error reply has the contract's shape and code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    MsgPack,
}

/// A WebSocket client that splits batched frames into messages and keeps
/// the ones a test has not looked at yet, in order.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub codec: Codec,
    pub protocol: Option<String>,
    queue: VecDeque<Value>,
    next_rid: u64,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, token: Option<&str>, codec: Codec) -> Ws {
        Self::connect_with(addr, token, codec, None).await
    }

    /// Connects with the socket's receive buffer set to `recv_buffer`
    /// bytes, so a client that stops reading blocks the server soon.
    pub async fn connect_with(
        addr: SocketAddr,
        token: Option<&str>,
        codec: Codec,
        recv_buffer: Option<u32>,
    ) -> Ws {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws?token={t}"),
            None => format!("ws://{addr}/ws"),
        };
        let mut req = url.into_client_request().expect("request");
        let proto = match codec {
            Codec::Json => "liveshop.v1.json",
            Codec::MsgPack => "liveshop.v1.msgpack",
        };
        req.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(proto));
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        let tcp = socket.connect(addr).await.expect("tcp connect");
        let (stream, resp) =
            tokio::time::timeout(PATIENCE, client_async(req, MaybeTlsStream::Plain(tcp)))
                .await
                .expect("connect in time")
                .expect("connect");
        let protocol = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ws {
            stream,
            codec,
            protocol,
            queue: VecDeque::new(),
            next_rid: 1,
        }
    }

    pub fn encode(&self, v: &Value) -> Message {
        match self.codec {
            Codec::Json => Message::text(v.to_string()),
            Codec::MsgPack => Message::binary(rmp_serde::to_vec_named(v).expect("msgpack")),
        }
    }

    pub async fn send(&mut self, v: Value) {
        let msg = self.encode(&v);
        self.send_raw(msg).await;
    }

    pub async fn send_raw(&mut self, msg: Message) {
        tokio::time::timeout(PATIENCE, self.stream.send(msg))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// The next frame from the server, unparsed.
    pub async fn next_frame(&mut self) -> Option<Message> {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("a frame in time");
            match msg {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => return Some(m),
            }
        }
    }

    fn split(&mut self, msg: Message) {
        match (self.codec, msg) {
            (Codec::Json, Message::Text(text)) => {
                for line in text.as_str().split('\n').filter(|l| !l.trim().is_empty()) {
                    self.queue
                        .push_back(serde_json::from_str(line).expect("json line"));
                }
            }
            (Codec::MsgPack, Message::Binary(data)) => {
                let mut rest: &[u8] = &data;
                while !rest.is_empty() {
                    let mut de = rmp_serde::Deserializer::new(&mut rest);
                    let v: Value = serde::Deserialize::deserialize(&mut de).expect("msgpack value");
                    self.queue.push_back(v);
                }
            }
            (codec, other) => panic!("{codec:?} connection got {other:?}"),
        }
    }

    /// The next server message (frames may carry several).
    pub async fn next(&mut self) -> Value {
        loop {
            if let Some(v) = self.queue.pop_front() {
                return v;
            }
            match self.next_frame().await {
                Some(Message::Close(frame)) => panic!("closed: {frame:?}"),
                Some(msg) => self.split(msg),
                None => panic!("connection ended"),
            }
        }
    }

    /// Skips messages until one matches.
    pub async fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next().await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// Sends `req` with a fresh rid and returns its reply; messages that come
    /// before it stay queued, in order, after it.
    pub async fn request(&mut self, mut req: Value) -> Value {
        let rid = format!("r{}", self.next_rid);
        self.next_rid += 1;
        req["rid"] = json!(rid);
        self.send(req).await;
        let mut skipped = Vec::new();
        loop {
            let v = self.next().await;
            if v["rid"] == json!(rid) {
                for s in skipped.into_iter().rev() {
                    self.queue.push_front(s);
                }
                return v;
            }
            skipped.push(v);
        }
    }

    /// The close frame the server ends the connection with.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_frame().await {
                Some(Message::Close(frame)) => return frame,
                Some(_) => continue,
                None => return None,
            }
        }
    }
}

/// Asserts a WebSocket `error` reply with `code`.
pub fn assert_ws_error(v: &Value, code: &str) {
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].is_string(), "{v}");
}

/// Asserts a WebSocket `ok` reply.
pub fn assert_ok(v: &Value) {
    assert_eq!(v["type"], "ok", "{v}");
}

/// `token` with one character of its signature changed.
pub fn tamper(token: &str) -> String {
    let pos = token.rfind('.').expect("a JWT") + 5;
    let mut chars: Vec<char> = token.chars().collect();
    chars[pos] = if chars[pos] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// An access token for `user` that expired an hour ago, signed with the
/// server's own key.
pub fn expired_token(server: &TestServer, user: &User, role: liveshop_protocol::Role) -> String {
    use liveshop_gateway::auth::jwt::{Claims, Identity};
    let identity = Identity {
        user_id: liveshop_protocol::UserId::new(user.id.clone()).expect("id"),
        role,
        name: user.name.clone(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    server
        .ctx
        .jwt()
        .sign(&Claims::new(&identity, now - 3_600, 60))
        .expect("sign")
}

/// A seller with a room, a buyer, and the room id.
pub async fn room_with_users(server: &TestServer) -> (User, User, String) {
    let api = server.api();
    let seller = api.register("seller", "seller").await;
    let buyer = api.register("buyer", "buyer").await;
    let room = api.room(&seller).await;
    (seller, buyer, room)
}

pub fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}
