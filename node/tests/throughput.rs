//! Measurements, not checks: how many connections one node holds, and how
//! many holds and bids a second it acknowledges. Ignored by default; run
//! against a release build and read the printed figures:
//!
//! ```sh
//! cargo test --release -p liveshop-node --test throughput -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `LIVESHOP_VIEWERS` (default 10,000) sets the number of viewer connections.
//! The machine is shared and noisy: compare medians of several runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;
use serde_json::json;

/// A node with no rate limits and no per-address caps, so the figures
/// measure the node, not its limits on one user or address.
fn unthrottled(dir: &std::path::Path) -> Node {
    let config = dir.with_extension("toml");
    let unlimited = "{ per_second = 1000000, burst = 1000000 }";
    let text = ["chat", "like", "bid", "hold", "messages", "auth"]
        .iter()
        .map(|k| format!("{k} = {unlimited}\n"))
        .collect::<String>();
    // Every client connects from 127.0.0.1: lift the per-address caps too.
    let limits = "[limits]\nmax_connections_per_ip = 19000\nmax_websockets_per_ip = 18000\n";
    std::fs::write(&config, format!("{limits}[rate_limits]\n{text}")).expect("config");
    Node::start_with(dir, &["--config", config.to_str().expect("path")])
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; run with --ignored against a release build"]
async fn viewers_one_node_holds_and_broadcast_latency() {
    let viewers: usize = std::env::var("LIVESHOP_VIEWERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let node = unthrottled(dir.path());
    let api = node.api();
    let seller = api.register("seller", "seller").await;
    let room = api.create_room(&seller, "Broadcast").await;
    let mut host = Ws::connect(node.addr, Some(&seller.token)).await;
    ok(host.request(json!({"type": "join", "room": room})).await);

    let idle_rss = node.rss_kib();
    let started = Instant::now();
    let mut conns = Vec::with_capacity(viewers);
    for chunk in (0..viewers).collect::<Vec<_>>().chunks(500) {
        let joined = join_all(chunk.iter().map(|_| async {
            let mut ws = Ws::connect(node.addr, None).await;
            ok(ws.request(json!({"type": "join", "room": room})).await);
            ws
        }))
        .await;
        conns.extend(joined);
    }
    let rss = node.rss_kib();
    println!(
        "connected and joined {viewers} viewers in {:?}; node RSS {} MiB (idle {} MiB, {:.1} KiB a viewer)",
        started.elapsed(),
        rss / 1024,
        idle_rss / 1024,
        rss.saturating_sub(idle_rss) as f64 / viewers as f64
    );

    let mut latencies = Vec::new();
    for round in 0..5 {
        let text = format!("round {round}");
        let sent = Instant::now();
        ok(host
            .request(json!({"type": "chat", "room": room, "text": text}))
            .await);
        let arrivals = join_all(conns.iter_mut().map(|ws| {
            let text = text.clone();
            async move {
                ws.until(|m| m["event"]["kind"] == "chat" && m["event"]["text"] == text.as_str())
                    .await;
                sent.elapsed()
            }
        }))
        .await;
        let mut arrivals = arrivals;
        arrivals.sort();
        let p = |q: f64| arrivals[((arrivals.len() - 1) as f64 * q) as usize];
        println!(
            "round {round}: chat reached {} viewers: p50 {:?} p99 {:?} max {:?}",
            arrivals.len(),
            p(0.5),
            p(0.99),
            p(1.0)
        );
        latencies.push(p(0.5));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort();
    println!(
        "RESULT viewers={viewers} median_p50_delivery={:?}",
        latencies[latencies.len() / 2]
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; run with --ignored against a release build"]
async fn holds_and_bids_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let node = unthrottled(dir.path());
    let api = node.api();
    let seller = api.register("seller", "seller").await;
    let room = api.create_room(&seller, "Throughput").await;
    let mut host = Ws::connect(node.addr, Some(&seller.token)).await;
    let sale = json!({"title": "Socks", "currency": "USD", "kind": "sale", "price": 500,
                      "stock": 1_000_000, "hold_ttl_ms": 600_000});
    let lot = api.create_lot(&seller, &room, sale).await;
    let auction = json!({"title": "Watch", "currency": "USD", "kind": "auction", "start_price": 100,
                         "duration_ms": 600_000, "anti_snipe_ms": 0, "min_increment": 1});
    let auction_lot = api.create_lot(&seller, &room, auction).await;
    ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    ok(host
        .request(json!({"type": "open_lot", "lot": auction_lot}))
        .await);

    let clients = 200;
    let buyers = register_many(&api, "buyer", clients, "buyer").await;
    let mut conns = Vec::new();
    for b in &buyers {
        conns.push(Ws::connect(node.addr, Some(&b.token)).await);
    }
    let window = Duration::from_secs(10);

    // Holds: every client asks for one unit after another, one lot.
    let started = Instant::now();
    let counts = join_all(conns.iter_mut().map(|ws| {
        let lot = lot.clone();
        async move {
            let mut n = 0u64;
            while started.elapsed() < window {
                let r = ws
                    .request(json!({"type": "hold", "lot": lot, "qty": 1}))
                    .await;
                assert!(r["hold"].is_string(), "{r}");
                n += 1;
            }
            n
        }
    }))
    .await;
    let holds: u64 = counts.iter().sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "RESULT holds: {holds} acknowledged in {secs:.1}s by {clients} clients on one lot = {:.0}/s",
        holds as f64 / secs
    );

    // Bids: every client bids one above what it was last told, one lot.
    let started = Instant::now();
    let counts = join_all(conns.iter_mut().map(|ws| {
        let lot = auction_lot.clone();
        async move {
            let (mut accepted, mut refused, mut next) = (0u64, 0u64, 100u64);
            while started.elapsed() < window {
                let r = ws
                    .request(json!({"type": "bid", "lot": lot, "amount": next}))
                    .await;
                if r["type"] == "ok" {
                    accepted += 1;
                    next = r["amount"].as_u64().unwrap_or(next) + 1;
                } else {
                    refused += 1;
                    next = r["min_amount"].as_u64().unwrap_or(next + 1);
                }
            }
            (accepted, refused)
        }
    }))
    .await;
    let accepted: u64 = counts.iter().map(|c| c.0).sum();
    let refused: u64 = counts.iter().map(|c| c.1).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "RESULT bids: {accepted} accepted + {refused} too low in {secs:.1}s by {clients} clients on one lot = {:.0} accepted/s, {:.0} answered/s",
        accepted as f64 / secs,
        (accepted + refused) as f64 / secs
    );
}
