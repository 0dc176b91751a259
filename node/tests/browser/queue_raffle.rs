//! The room page's other two buyer paths, in real headless Chromium: the
//! FIFO queue of a sold-out sale and a raffle. The seller, the room and the
//! lots are set up through the HTTP API and a WebSocket (no studio), so the
//! browsers only play the two buyers:
//!
//! - a sale of one unit: Alice holds it, Bob's "Buy" becomes "Sold out ·
//!   join the queue", he joins and the card shows "In the queue: #1"; Alice
//!   releases her hold and Bob is offered the unit (`queue_offer`: a toast,
//!   the hold's countdown and Check out);
//! - a raffle: both enter the draw and their cards say so (the button turns
//!   into "You are in the draw", disabled, and the seed hash is shown, wrapped
//!   so the phone-size page does not scroll sideways); the seller closes it
//!   and exactly one of them is told they won.
//!
//! Screenshots: room-queue, room-queue-offer, room-raffle under
//! target/screenshots/.

#[path = "../common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Api, Ws, ok};
use serde_json::{Value, json};

use super::harness::{Browser, Driver, NodeProc, free_port};
use super::{WHOLE, chromium_here, is_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_queue_for_a_sold_out_sale_and_enter_a_raffle() {
    if !chromium_here() {
        return;
    }
    let started = Instant::now();
    tokio::time::timeout(WHOLE, scenario())
        .await
        .unwrap_or_else(|_| panic!("the queue and raffle scenario took over {WHOLE:?}"));
    eprintln!("queue and raffle scenario took {:?}", started.elapsed());
}

async fn scenario() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let node = NodeProc::start(&tmp.path().join("data"), free_port());
    let driver = Driver::start(&tmp.path().join("chromedriver.log"));
    let base = node.url("");

    // The seller, straight through the API: a room, a one-unit sale and a
    // one-unit raffle; the sale pinned and open.
    let api = Api::new(node.addr);
    let seller = api.register("qr-seller", "seller").await;
    let room = api.create_room(&seller, "Drop night").await;
    let sale = api
        .create_lot(
            &seller,
            &room,
            json!({"title": "Last tee", "currency": "USD", "kind": "sale",
                   "price": 2500, "stock": 1, "per_user_limit": 1,
                   "hold_ttl_ms": 300_000, "allocation": "fifo"}),
        )
        .await;
    let raffle = api
        .create_lot(
            &seller,
            &room,
            json!({"title": "Golden pair", "currency": "USD", "kind": "sale",
                   "price": 18000, "stock": 1, "per_user_limit": 1,
                   "allocation": "raffle"}),
        )
        .await;
    let mut host = Ws::connect(node.addr, Some(&seller.token)).await;
    ok(host.request(json!({"type": "join", "room": room})).await);
    pin_and_open(&mut host, &room, &sale).await;

    // Two buyers sign up on the room page.
    let alice = Browser::open(&driver, &base, "alice").await;
    let bob = Browser::open(&driver, &base, "bob").await;
    for (buyer, name) in [(&alice, "qr-alice"), (&bob, "qr-bob")] {
        buyer.goto(&format!("/r/{room}")).await;
        buyer.click("#login-open").await;
        buyer.sign_up(name, "buyer").await;
        buyer
            .wait_text("#buy-button", "the sale", |t| t == "Buy · $25.00")
            .await;
        buyer
            .wait_text("#lot-left", "one unit", |t| t == "1 of 1")
            .await;
    }

    // Alice holds the only unit; Bob sees it gone and joins the queue.
    alice.click("#buy-button").await;
    alice
        .wait_text("#hold-countdown", "alice's hold", is_clock)
        .await;
    bob.wait_text("#lot-left", "the unit held", |t| t == "0 of 1")
        .await;
    bob.wait_text("#buy-button", "the queue offered", |t| {
        t == "Sold out · join the queue"
    })
    .await;
    bob.click("#buy-button").await;
    bob.wait_text("#buy-button", "bob's queue place", |t| {
        t == "In the queue: #1"
    })
    .await;
    let button = bob.probe("#buy-button").await;
    assert_eq!(button["disabled"], true, "queued: {button}");
    bob.wait_text(".lot-message", "the queue message", |t| {
        t.contains("#1 in the queue")
    })
    .await;
    bob.shots("room-queue").await;

    // Alice lets it go: the unit goes to the head of the queue, Bob.
    alice.click(".lot-sale .hold button.secondary").await;
    alice
        .wait_text(".lot-message", "released", |t| t == "Released.")
        .await;
    bob.wait_text(".toasts .toast:last-child", "the queue offer", |t| {
        t.contains("one came back for you")
    })
    .await;
    bob.wait_text("#hold-countdown", "bob's offered hold", is_clock)
        .await;
    bob.wait_text("#buy-button", "held for bob", |t| t == "Held for you")
        .await;
    bob.wait_until("#checkout-button", "offered a checkout", |p| {
        p["shown"] == true && p["disabled"] == false
    })
    .await;
    alice
        .wait_text("#buy-button", "sold out again for alice", |t| {
            t == "Sold out · join the queue"
        })
        .await;
    bob.shots("room-queue-offer").await;

    // The raffle: both enter the draw and see that they did.
    pin_and_open(&mut host, &room, &raffle).await;
    for (buyer, name) in [(&bob, "bob"), (&alice, "alice")] {
        buyer
            .wait_text("#buy-button", "the raffle", |t| t == "Enter the draw")
            .await;
        buyer
            .wait_text(".lot-card .badge", "the raffle badge", |t| t == "Raffle")
            .await;
        buyer.click("#buy-button").await;
        buyer
            .wait_text("#buy-button", "entered", |t| t == "You are in the draw")
            .await;
        let button = buyer.probe("#buy-button").await;
        assert_eq!(button["disabled"], true, "{name} entered: {button}");
        buyer
            .wait_text(".lot-message", "the entry message", |t| {
                t.starts_with("You are in the draw")
            })
            .await;
        buyer
            .wait_text(".lot-sale .hint", "the seed hash", |t| {
                t.starts_with("Draw seed hash: ")
            })
            .await;
    }
    // The 64-digit seed hash wraps: the phone-size page never scrolls sideways.
    let widths = bob
        .client
        .execute(
            "const d = document.documentElement; return [d.scrollWidth, d.clientWidth];",
            vec![],
        )
        .await
        .expect("page widths");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the raffle card overflows the phone's width: {widths}"
    );
    bob.shots("room-raffle").await;

    // The draw: one unit, so exactly one of them wins.
    ok(host
        .request(json!({"type": "close_lot", "lot": raffle}))
        .await);
    let mut said = Vec::new();
    for buyer in [&alice, &bob] {
        said.push(
            buyer
                .wait_text(".lot-message", "the draw's result", |t| {
                    t.starts_with("You won the draw") || t.starts_with("Closed: 1 buyer")
                })
                .await,
        );
    }
    let winners = said.iter().filter(|t| t.starts_with("You won")).count();
    assert_eq!(winners, 1, "one winner of one unit: {said:?}");

    host.close().await;
    for b in [alice, bob] {
        b.close().await;
    }
    drop(driver);
    drop(node);
}

/// Pins `lot` in `room` and opens it, as the room's host.
async fn pin_and_open(host: &mut Ws, room: &str, lot: &str) {
    ok(host
        .request(json!({"type": "pin", "room": room, "lot": lot}))
        .await);
    let opened: Value = ok(host.request(json!({"type": "open_lot", "lot": lot})).await);
    assert!(opened["opens_ms"].is_u64(), "open_lot: {opened}");
}
