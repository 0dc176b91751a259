//! End-to-end tests: a real `liveshop` process, real sockets, the public
//! contract only (docs/protocol.md).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn sale(stock: u32, per_user_limit: u32, hold_ttl_ms: u64) -> Value {
    json!({"title": "Vintage tee drop", "currency": "USD", "kind": "sale", "price": 2500,
           "stock": stock, "per_user_limit": per_user_limit, "hold_ttl_ms": hold_ttl_ms,
           "allocation": "fifo"})
}

fn auction(duration_ms: u64, anti_snipe_ms: u64) -> Value {
    json!({"title": "Jordan 1 size 10", "currency": "USD", "kind": "auction",
           "start_price": 1000, "duration_ms": duration_ms, "anti_snipe_ms": anti_snipe_ms})
}

/// A seller with a room, connected and joined.
async fn seller_with_room(api: &Api, addr: std::net::SocketAddr) -> (User, String, Ws) {
    let seller = api.register("seller", "seller").await;
    let room = api.create_room(&seller, "Friday drop").await;
    let mut host = Ws::connect(addr, Some(&seller.token)).await;
    ok(host.request(json!({"type": "join", "room": room})).await);
    (seller, room, host)
}

#[tokio::test]
async fn a_fresh_node_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let (status, _) = node.api().call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_buyers_race_for_fifty_units_and_none_is_oversold() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let lot = api.create_lot(&seller, &room, sale(50, 2, 600_000)).await;
    ok(host.request(json!({"type": "open_lot", "lot": lot})).await);

    let buyers = register_many(&api, "buyer", 500, "buyer").await;
    let mut conns = Vec::new();
    for b in &buyers {
        let mut ws = Ws::connect(node.addr, Some(&b.token)).await;
        ok(ws.request(json!({"type": "join", "room": room})).await);
        conns.push(ws);
    }
    // Every buyer asks at once.
    let replies = join_all(conns.iter_mut().map(|ws| {
        let lot = lot.clone();
        async move {
            ws.request(json!({"type": "hold", "lot": lot, "qty": 1}))
                .await
        }
    }))
    .await;

    let held: Vec<usize> = (0..replies.len())
        .filter(|&i| replies[i]["hold"].is_string())
        .collect();
    let mut queued = BTreeMap::new();
    for (i, r) in replies.iter().enumerate() {
        if r["type"] == "ok" && r["queued"] == true {
            queued.insert(r["position"].as_u64().expect("position"), i);
        } else if r["type"] == "error" {
            assert_eq!(r["code"], "sold_out", "unexpected refusal {r}");
        } else {
            assert!(r["hold"].is_string(), "unexpected reply {r}");
        }
    }
    assert_eq!(held.len(), 50, "exactly the stock is held");
    let positions: Vec<u64> = queued.keys().copied().collect();
    assert_eq!(
        positions,
        (1..=queued.len() as u64).collect::<Vec<_>>(),
        "queue positions are 1..n"
    );

    // Every viewer's stock falls to 0 (stock events are coalesced, never
    // rising here), and the lot agrees.
    for ws in conns.iter_mut() {
        let mut last = u64::MAX;
        ws.until(|m| {
            let e = &m["event"];
            if m["type"] == "event" && e["kind"] == "stock" && e["lot"] == lot.as_str() {
                let available = e["available"].as_u64().expect("available");
                assert!(available <= last, "stock went up: {available} after {last}");
                last = available;
                return available == 0;
            }
            false
        })
        .await;
        assert_eq!(last, 0);
    }
    let view = api.lot(&lot).await;
    assert_eq!(
        (view["available"].as_u64(), view["sold"].as_u64()),
        (Some(0), Some(0))
    );

    // A released unit goes to the head of the queue.
    let (&_, &head) = queued.iter().next().expect("someone queued");
    let holder = held[0];
    let hold = replies[holder]["hold"].as_str().unwrap().to_owned();
    ok(conns[holder]
        .request(json!({"type": "release", "hold": hold}))
        .await);
    let offer = conns[head]
        .until(|m| m["type"] == "notice" && m["notice"]["kind"] == "queue_offer")
        .await;
    let notice = &offer.last().expect("a queue offer")["notice"];
    assert_eq!(notice["lot"], lot.as_str());
    assert!(notice["hold"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bidders_every_viewer_sees_the_same_rising_bids_and_the_highest_wins() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let lot = api.create_lot(&seller, &room, auction(4_000, 2_000)).await;
    let bidders = register_many(&api, "bidder", 50, "buyer").await;

    let mut viewers = Vec::new();
    for _ in 0..5 {
        let mut ws = Ws::connect(node.addr, None).await;
        ok(ws.request(json!({"type": "join", "room": room})).await);
        viewers.push(ws);
    }
    let mut conns = Vec::new();
    for b in &bidders {
        let mut ws = Ws::connect(node.addr, Some(&b.token)).await;
        ok(ws.request(json!({"type": "join", "room": room})).await);
        conns.push(ws);
    }
    let opened = ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    let first_end = opened["ends_ms"].as_u64().expect("ends_ms");

    // Each bidder makes at most 8 attempts, each a little above the last
    // minimum it was told, so the auction ends.
    let acked = join_all(conns.iter_mut().enumerate().map(|(i, ws)| {
        let lot = lot.clone();
        async move {
            let mut acked = Vec::new();
            let mut next = 1000 + i as u64;
            for round in 0..8u64 {
                tokio::time::sleep(std::time::Duration::from_millis(
                    50 + (i as u64 * 37 + round * 101) % 400,
                ))
                .await;
                let r = ws
                    .request(json!({"type": "bid", "lot": lot, "amount": next}))
                    .await;
                match (r["type"].as_str(), r["code"].as_str()) {
                    (Some("ok"), _) => {
                        acked.push((
                            r["lot_seq"].as_u64().unwrap(),
                            r["amount"].as_u64().unwrap(),
                        ));
                        next = r["amount"].as_u64().unwrap() + 100 + i as u64;
                    }
                    (Some("error"), Some("bid_too_low")) => {
                        next = r["min_amount"].as_u64().unwrap() + i as u64
                    }
                    (Some("error"), Some("lot_not_open")) => break,
                    _ => panic!("unexpected bid reply {r}"),
                }
            }
            acked
        }
    }))
    .await;

    let closed = |m: &Value| m["type"] == "event" && m["event"]["kind"] == "lot_closed";
    let mut sequences = Vec::new();
    for ws in viewers.iter_mut().chain(conns.iter_mut()) {
        let msgs = ws.until(closed).await;
        let events = events_of(&msgs, &room);
        for pair in events.windows(2) {
            if pair[1].0 != pair[0].0 + 1 {
                let context: Vec<String> = msgs
                    .iter()
                    .filter(|m| {
                        m["type"] != "event"
                            || m["seq"]
                                .as_u64()
                                .is_some_and(|s| s + 3 >= pair[0].0 && s <= pair[1].0 + 1)
                    })
                    .map(|m| m.to_string().chars().take(160).collect())
                    .collect();
                panic!(
                    "room seq has a gap: {} then {}; around it:\n{}",
                    pair[0].0,
                    pair[1].0,
                    context.join("\n")
                );
            }
        }
        let bids: Vec<(u64, u64, String, u64)> = events
            .iter()
            .filter(|(_, e)| e["kind"] == "bid")
            .map(|(_, e)| {
                (
                    e["lot_seq"].as_u64().unwrap(),
                    e["amount"].as_u64().unwrap(),
                    e["bidder"].as_str().unwrap().to_owned(),
                    e["ends_ms"].as_u64().unwrap(),
                )
            })
            .collect();
        let winners = events
            .last()
            .map(|(_, e)| e["winners"].clone())
            .unwrap_or(Value::Null);
        sequences.push((bids, winners));
    }
    let (bids, winners) = &sequences[0];
    for (other, _) in &sequences[1..] {
        assert_eq!(other, bids, "viewers saw different bid sequences");
    }
    assert!(bids.len() >= 10, "only {} bids", bids.len());
    for (i, b) in bids.iter().enumerate() {
        assert_eq!(b.0, i as u64 + 1, "lot_seq has a gap");
    }
    for pair in bids.windows(2) {
        assert!(
            pair[1].1 > pair[0].1,
            "bids not strictly increasing: {pair:?}"
        );
    }
    let seen: BTreeSet<(u64, u64)> = bids.iter().map(|b| (b.0, b.1)).collect();
    for ack in acked.iter().flatten() {
        assert!(
            seen.contains(ack),
            "acknowledged bid {ack:?} missing from the events"
        );
    }
    let last = bids.last().unwrap();
    assert_eq!(winners[0]["user"], last.2.as_str());
    assert_eq!(winners[0]["amount"], last.1);
    assert!(
        bids.iter().any(|b| b.3 > first_end),
        "no bid was extended by anti-snipe"
    );
    let view = api.lot(&lot).await;
    assert_eq!(view["high_bid"], last.1);
}

#[tokio::test]
async fn a_reconnecting_viewer_gets_exactly_the_missed_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (_seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let chat = |n: u32| json!({"type": "chat", "room": room, "text": format!("message {n}")});
    let is_chat = |n: u32| {
        move |m: &Value| {
            m["event"]["kind"] == "chat" && m["event"]["text"] == format!("message {n}")
        }
    };

    // B stays connected throughout and sees everything.
    let mut b = Ws::connect(node.addr, None).await;
    ok(b.request(json!({"type": "join", "room": room})).await);
    let mut a = Ws::connect(node.addr, None).await;
    ok(a.request(json!({"type": "join", "room": room})).await);
    for n in 0..3 {
        ok(host.request(chat(n)).await);
    }
    let seen = a.until(is_chat(2)).await;
    let since = events_of(&seen, &room).last().expect("events").0;
    a.close().await;

    for n in 3..8 {
        ok(host.request(chat(n)).await);
    }
    let mut a = Ws::connect(node.addr, None).await;
    let joined = ok(a
        .request(json!({"type": "join", "room": room, "since": since}))
        .await);
    assert!(
        joined["snapshot"].is_null() || joined["snapshot"]["reset"] != true,
        "unexpected reset: {joined}"
    );
    ok(host.request(chat(8)).await);

    let a_events = events_of(&a.until(is_chat(8)).await, &room);
    let b_events: Vec<_> = events_of(&b.until(is_chat(8)).await, &room)
        .into_iter()
        .filter(|(seq, _)| *seq > since)
        .collect();
    assert_eq!(
        a_events, b_events,
        "the replay differs from what a connected viewer saw"
    );
    let texts: Vec<_> = a_events
        .iter()
        .filter(|(_, e)| e["kind"] == "chat")
        .map(|(_, e)| e["text"].clone())
        .collect();
    assert_eq!(
        texts,
        (3..9)
            .map(|n| json!(format!("message {n}")))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_holds_bids_and_orders_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let sale_lot = api.create_lot(&seller, &room, sale(20, 5, 600_000)).await;
    let auction_lot = api.create_lot(&seller, &room, auction(600_000, 0)).await;
    ok(host
        .request(json!({"type": "open_lot", "lot": sale_lot}))
        .await);
    ok(host
        .request(json!({"type": "open_lot", "lot": auction_lot}))
        .await);
    let buyers = register_many(&api, "buyer", 10, "buyer").await;

    let mut live_holds = Vec::new();
    let mut orders = Vec::new();
    let mut high = 0;
    for (i, b) in buyers.iter().enumerate() {
        let mut ws = Ws::connect(node.addr, Some(&b.token)).await;
        let h1 = ok(ws
            .request(json!({"type": "hold", "lot": sale_lot, "qty": 1}))
            .await);
        let h2 = ok(ws
            .request(json!({"type": "hold", "lot": sale_lot, "qty": 1}))
            .await);
        let idem = format!("pay-{i}");
        let order = ok(ws
            .request(json!({"type": "checkout", "hold": h1["hold"], "idem": idem}))
            .await);
        orders.push((b.clone(), order["order"].as_str().unwrap().to_owned()));
        live_holds.push((b.clone(), h2["hold"].as_str().unwrap().to_owned()));
        high = 2000 + 500 * i as u64;
        ok(ws
            .request(json!({"type": "bid", "lot": auction_lot, "amount": high}))
            .await);
    }
    node.kill();

    let node = Node::start(dir.path());
    let api = node.api();
    let view = api.lot(&sale_lot).await;
    assert_eq!(view["sold"], 10, "{view}");
    assert_eq!(
        view["available"], 0,
        "10 live holds and 10 sold of 20: {view}"
    );
    for (buyer, order) in &orders {
        let listed = api.orders(buyer).await;
        assert!(
            listed.iter().any(|o| o["order"] == order.as_str()),
            "{order} missing: {listed:?}"
        );
    }
    assert_eq!(api.lot(&auction_lot).await["high_bid"], high);
    // The holds are still live: their owners can buy them after the restart,
    // with the tokens issued before it.
    for (buyer, hold) in &live_holds {
        let mut ws = Ws::connect(node.addr, Some(&buyer.token)).await;
        ok(ws
            .request(json!({"type": "checkout", "hold": hold, "idem": "after-restart"}))
            .await);
    }
    let view = api.lot(&sale_lot).await;
    assert_eq!(
        (view["sold"].as_u64(), view["available"].as_u64()),
        (Some(20), Some(0))
    );
}

#[tokio::test]
async fn checkout_with_the_same_key_twice_makes_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let lot = api.create_lot(&seller, &room, sale(5, 2, 600_000)).await;
    ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    let buyer = api.register("buyer", "buyer").await;
    let mut ws = Ws::connect(node.addr, Some(&buyer.token)).await;
    let hold = ok(ws
        .request(json!({"type": "hold", "lot": lot, "qty": 2}))
        .await);
    let checkout = json!({"type": "checkout", "hold": hold["hold"], "idem": "k-1"});
    let first = ok(ws.request(checkout.clone()).await);
    let again = ok(ws.request(checkout).await);
    assert_eq!(first["order"], again["order"]);
    assert_eq!(first["amount"], 5000);
    let orders = api.orders(&buyer).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
}

#[tokio::test]
async fn bad_input_gets_the_documented_errors_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let api = node.api();
    let (seller, room, mut host) = seller_with_room(&api, node.addr).await;
    let lot = api.create_lot(&seller, &room, auction(600_000, 0)).await;
    let buyer = api.register("buyer", "buyer").await;
    let mut ws = Ws::connect(node.addr, Some(&buyer.token)).await;

    ws.send_raw(Message::text("{not json")).await;
    assert_eq!(ws.next().await.unwrap()["code"], "bad_request");
    let r = ws.request(json!({"type": "teleport"})).await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("bad_request"))
    );
    let r = ws.request(json!({"type": "bid", "lot": lot})).await;
    assert_eq!(r["code"], "bad_request", "missing amount: {r}");
    let r = ws
        .request(json!({"type": "bid", "lot": lot, "amount": -5}))
        .await;
    assert_eq!(r["code"], "bad_request", "negative amount: {r}");
    ws.send_raw(Message::text(format!(
        r#"{{"type":"bid","rid":"huge","lot":"{lot}","amount":184467440737095516160}}"#
    )))
    .await;
    let r = ws.reply("huge").await;
    assert_eq!(r["code"], "bad_request", "amount over u64: {r}");
    let r = ws
        .request(json!({"type": "bid", "lot": lot, "amount": 5000}))
        .await;
    assert_eq!(r["code"], "lot_not_open", "bid before open: {r}");
    let r = ws.request(json!({"type": "open_lot", "lot": lot})).await;
    assert_eq!(r["code"], "forbidden", "a buyer opening a lot: {r}");
    ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    ok(host.request(json!({"type": "close_lot", "lot": lot})).await);
    let r = ws
        .request(json!({"type": "bid", "lot": lot, "amount": 5000}))
        .await;
    assert_eq!(r["code"], "lot_not_open", "bid on a closed lot: {r}");

    // Tokens that are not ours.
    let tampered = format!("{}x", buyer.token);
    let (status, body) = api
        .call("GET", "/api/v1/orders", Some(&tampered), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let mut anon = Ws::connect(node.addr, Some(&tampered)).await;
    let r = anon
        .request(json!({"type": "hold", "lot": lot, "qty": 1}))
        .await;
    assert_eq!(r["code"], "unauthorized", "{r}");

    // A 2 MiB frame closes that connection with 1009; others carry on.
    ws.send_raw(Message::text("x".repeat(2 * 1024 * 1024)))
        .await;
    assert!(ws.next().await.is_none(), "the connection should close");
    assert_eq!(ws.closed, Some(Some(1009)));
    ok(host.request(json!({"type": "ping"})).await);
    let (status, _) = api.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
}
