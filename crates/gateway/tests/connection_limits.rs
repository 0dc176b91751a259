//! Connection limits over real sockets: idle and slow HTTP connections are
//! closed, a connection past a cap is refused at once (not left hanging in
//! the backlog), and one address cannot take every connection or
//! WebSocket slot.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to `addr` from the address `from`.
async fn connect_from(addr: SocketAddr, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    tokio::time::timeout(PATIENCE, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Reads until the server closes the connection (end of stream or reset),
/// failing the test if that takes longer than `within`; returns what was
/// read.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .expect("the server closes the connection in time");
    got
}

/// An HTTP client whose connections come from `from`.
fn api_from(server: &TestServer, from: IpAddr) -> Api {
    Api {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::builder()
            .local_address(from)
            .build()
            .expect("client"),
    }
}

/// `GET /healthz`, retried until it answers 200 (a freed slot is noticed
/// once the server sees the close).
async fn healthz_eventually(api: &Api) {
    let url = format!("{}/healthz", api.base);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let resp = tokio::time::timeout(Duration::from_secs(5), api.http.get(&url).send()).await;
        if let Ok(Ok(resp)) = &resp
            && resp.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "healthz never answered: {resp:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A WebSocket handshake from the address `from`.
async fn ws_from(
    addr: SocketAddr,
    from: IpAddr,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, WsError> {
    let tcp = connect_from(addr, from).await;
    let req = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    tokio::time::timeout(PATIENCE, client_async(req, MaybeTlsStream::Plain(tcp)))
        .await
        .expect("handshake in time")
        .map(|(stream, _)| stream)
}

fn assert_refused_503(got: &[u8]) {
    let text = String::from_utf8_lossy(got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains(r#""code":"unavailable""#), "{text}");
}

#[tokio::test]
async fn silent_and_idle_http_connections_are_closed_and_their_slots_freed() {
    let mut config = test_config();
    config.limits.max_connections = 4;
    config.limits.http_idle_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config).await;

    // Four connections that never send a byte take every slot ...
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(connect_from(server.addr, LOOPBACK).await);
    }
    // ... until the idle timeout closes them.
    for stream in &mut silent {
        closed_within(stream, PATIENCE).await;
    }
    assert!(opened.elapsed() >= Duration::from_millis(250));
    // A normal request is served.
    let (status, _) = server.api().get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);

    // A keep-alive connection is closed once idle after its response.
    let mut kept = connect_from(server.addr, LOOPBACK).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("write");
    let got = closed_within(&mut kept, PATIENCE).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_request_head_that_arrives_too_slowly_is_cut_off() {
    let mut config = test_config();
    config.limits.max_connections = 2;
    config.limits.http_header_timeout = Duration::from_millis(400);
    // The idle timeout stays at its default, far longer than the test.
    let server = TestServer::start_with(config).await;

    let mut slow = connect_from(server.addr, LOOPBACK).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let (mut reader, mut writer) = slow.split();
    let dribble = async {
        // One header line every 100 ms: never a whole head.
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = dribble => panic!("the dribble ended first"),
            () = closed => {}
        }
    })
    .await
    .expect("the slow head is cut off");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let (status, _) = server.api().get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_is_refused_at_once() {
    let mut config = test_config();
    config.limits.max_connections = 2;
    let server = TestServer::start_with(config).await;

    let mut held = vec![
        connect_from(server.addr, LOOPBACK).await,
        connect_from(server.addr, LOOPBACK).await,
    ];
    // Not left waiting in the backlog: answered 503 and closed.
    let mut third = connect_from(server.addr, LOOPBACK).await;
    let got = closed_within(&mut third, Duration::from_secs(5)).await;
    assert_refused_503(&got);
    // An HTTP client gets a 503 or an error, not a hang.
    let url = format!("http://{}/healthz", server.addr);
    let answer = tokio::time::timeout(Duration::from_secs(5), reqwest::get(&url))
        .await
        .expect("an answer, not a hang");
    if let Ok(resp) = answer {
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    // A closed connection frees its slot.
    held.pop();
    let api = server.api();
    healthz_eventually(&api).await;
    let (status, body) = api.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().expect("text");
    assert!(
        text.contains(r#"liveshop_connections_refused_total{reason="max_connections"}"#),
        "{text}"
    );
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let mut config = test_config();
    config.limits.max_connections_per_ip = 2;
    let server = TestServer::start_with(config).await;

    let _held = [
        connect_from(server.addr, LOOPBACK).await,
        connect_from(server.addr, LOOPBACK).await,
    ];
    let mut third = connect_from(server.addr, LOOPBACK).await;
    assert_refused_503(&closed_within(&mut third, Duration::from_secs(5)).await);

    // Another address still gets in.
    let other = api_from(&server, OTHER);
    let (status, _) = other.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_websocket() {
    let mut config = test_config();
    config.limits.max_websockets_per_ip = 2;
    let server = TestServer::start_with(config).await;

    let mut first = server.ws(None).await;
    let _second = server.ws(None).await;
    match ws_from(server.addr, LOOPBACK).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(body.contains(r#""code":"unavailable""#), "{body}");
        }
        Ok(_) => panic!("a third websocket from one address was accepted"),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
    // Plain HTTP from the same address is still served ...
    let (status, _) = server.api().get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    // ... and another address still gets a WebSocket.
    let mut other = ws_from(server.addr, OTHER).await.expect("another address");
    other
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "ping", "rid": "p"}).to_string(),
        ))
        .await
        .expect("send");
    let reply = tokio::time::timeout(PATIENCE, other.next())
        .await
        .expect("a reply in time")
        .expect("a frame")
        .expect("a frame");
    assert!(reply.to_text().expect("text").contains(r#""rid":"p""#));

    // A closed WebSocket frees its address's slot.
    first.stream.close(None).await.expect("close");
    let _ = first.closed().await;
    let deadline = Instant::now() + PATIENCE;
    let _again = loop {
        match ws_from(server.addr, LOOPBACK).await {
            Ok(ws) => break ws,
            Err(WsError::Http(resp)) if resp.status().as_u16() == 503 => {
                assert!(Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected handshake error: {e}"),
        }
    };
    assert_eq!(server.ctx.ws_per_ip().count(LOOPBACK), 2);
    assert_eq!(server.ctx.ws_per_ip().count(OTHER), 1);
    server.stop().await;
}
