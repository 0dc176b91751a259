//! Clients that try to make the node hold memory for them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Resident memory of this process (server and test), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// tungstenite answers every ping with a pong; a client that floods pings
/// and never reads must not make the server queue pongs without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_client_that_never_reads_does_not_grow_memory() {
    let server = TestServer::start().await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    // A masked ping with a 125-byte payload of zeros, a thousand times over.
    let mask = [1u8, 2, 3, 4];
    let mut ping = vec![0x89, 0x80 | 125];
    ping.extend(mask);
    ping.extend((0..125).map(|i| mask[i % 4]));
    let burst = ping.repeat(1000);

    let before = rss_kib();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0usize;
    while sent < 200 * 1024 * 1024 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&burst)).await {
            Ok(Ok(())) => sent += burst.len(),
            // The server stopped reading or closed: either way it is not
            // buffering for us.
            _ => break,
        }
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} KiB while the client sent {sent} bytes of pings"
    );
}
