//! Lots: group commit, recovery, fencing, passivation, shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use liveshop_actors::{ActorError, Region};
use liveshop_domain::{LotCommand, LotReply, Rejection};
use liveshop_protocol::{IdemKey, LotStatus};
use liveshop_store::{EventLog, LogKey, Orders};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_sells_exactly_the_stock_with_few_appends() {
    let node = Node::new(config()).await;
    let lot = node.lot("L1", sale(50, 300_000)).await;
    node.open(&lot).await;
    let before = node.region.stats();

    let mut tasks = Vec::new();
    for i in 0..200 {
        let region = node.region.clone();
        let lot = lot.clone();
        tasks.push(tokio::spawn(async move {
            let cmd = LotCommand::Hold {
                user: user(&format!("u{i}")),
                qty: 1,
            };
            region.lot_command(&lot, cmd).await
        }));
    }
    let (mut held, mut queued, mut sold_out) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Ok(LotReply::Held { qty: 1, .. }) => held += 1,
            Ok(LotReply::Queued { .. }) => queued += 1,
            Err(Rejection::SoldOut) => sold_out += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(held, 50);
    assert_eq!(queued + sold_out, 150);

    let view = node.region.lot_view(&lot).await.unwrap();
    assert_eq!(view.available, Some(0));
    let stats = node.region.stats();
    let commands = stats.lot_commands - before.lot_commands;
    let appends = stats.lot_appends - before.lot_appends;
    assert_eq!(commands, 200);
    assert!(
        appends * 4 <= commands,
        "{appends} appends for {commands} commands"
    );
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_holds_bids_and_orders_survive_a_restart() {
    let node = Node::new(config()).await;
    let auction_lot = node.lot("A1", auction(600_000)).await;
    let sale_lot = node.lot("S1", sale(5, 600_000)).await;
    node.open(&auction_lot).await;
    node.open(&sale_lot).await;
    let r = &node.region;

    for (bidder, amount) in [("u1", 1000), ("u2", 1100)] {
        let cmd = LotCommand::Bid {
            bidder: user(bidder),
            amount,
        };
        assert!(matches!(
            r.lot_command(&auction_lot, cmd).await.unwrap(),
            Ok(LotReply::Bid { .. })
        ));
    }
    let hold = match r
        .lot_command(
            &sale_lot,
            LotCommand::Hold {
                user: user("u3"),
                qty: 2,
            },
        )
        .await
    {
        Ok(Ok(LotReply::Held { hold, .. })) => hold,
        other => panic!("{other:?}"),
    };
    let idem = IdemKey::new("k1").unwrap();
    let checkout = LotCommand::Checkout {
        user: user("u3"),
        hold,
        idem,
    };
    let order = match r.lot_command(&sale_lot, checkout.clone()).await {
        Ok(Ok(LotReply::Order { order, .. })) => order,
        other => panic!("{other:?}"),
    };
    let hold4 = r
        .lot_command(
            &sale_lot,
            LotCommand::Hold {
                user: user("u4"),
                qty: 1,
            },
        )
        .await;
    assert!(matches!(hold4, Ok(Ok(LotReply::Held { .. }))));
    let auction_before = r.lot_view(&auction_lot).await.unwrap();
    let sale_before = r.lot_view(&sale_lot).await.unwrap();

    let node = node.restart(config()).await;
    let r = &node.region;
    // Shutdown snapshotted the lots.
    let snap = node
        .store
        .load_snapshot(&LogKey::Lot(sale_lot.clone()))
        .await
        .unwrap();
    assert!(snap.is_some());

    assert_eq!(r.lot_view(&auction_lot).await.unwrap(), auction_before);
    assert_eq!(r.lot_view(&sale_lot).await.unwrap(), sale_before);
    assert_eq!(sale_before.available, Some(2));
    assert_eq!(sale_before.sold, Some(2));
    let orders = node.store.orders_by_buyer(&user("u3")).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_id, order);
    // The same idempotency key gives the same order again.
    match r.lot_command(&sale_lot, checkout).await {
        Ok(Ok(LotReply::Order { order: again, .. })) => assert_eq!(again, order),
        other => panic!("{other:?}"),
    }
    // Bidding continues where it was.
    let cmd = LotCommand::Bid {
        bidder: user("u1"),
        amount: 1200,
    };
    match r.lot_command(&auction_lot, cmd).await {
        Ok(Ok(LotReply::Bid { lot_seq, amount })) => assert_eq!((lot_seq, amount), (3, 1200)),
        other => panic!("{other:?}"),
    }
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_owner_fences_the_older_one() {
    let old = Node::new(config()).await;
    let lot = old.lot("A1", auction(600_000)).await;
    old.open(&lot).await;
    let bid = |who: &str, amount| LotCommand::Bid {
        bidder: user(who),
        amount,
    };
    assert!(matches!(
        old.region.lot_command(&lot, bid("u1", 1000)).await,
        Ok(Ok(_))
    ));

    // A split: a second region on the same store takes the lot over.
    let newer = Region::start(store_dyn(&old.store), config())
        .await
        .unwrap();
    match newer.lot_command(&lot, bid("u2", 1100)).await {
        Ok(Ok(LotReply::Bid { lot_seq, .. })) => assert_eq!(lot_seq, 2),
        other => panic!("{other:?}"),
    }

    // The old owner still believes it owns the lot; its append is refused.
    match old.region.lot_command(&lot, bid("u3", 5000)).await {
        Err(ActorError::Unavailable(_)) => {}
        other => panic!("a fenced lot must answer unavailable, got {other:?}"),
    }
    let view = newer.lot_view(&lot).await.unwrap();
    assert_eq!(view.high_bid, Some(1100));
    assert_eq!(view.high_bidder, Some(user("u2")));
    match newer.lot_command(&lot, bid("u4", 1200)).await {
        Ok(Ok(LotReply::Bid { lot_seq, .. })) => assert_eq!(lot_seq, 3),
        other => panic!("{other:?}"),
    }
    let events = old.store.read(&LogKey::Lot(lot.clone()), 0).await.unwrap();
    assert_eq!(
        events.len(),
        4,
        "opened + three accepted bids, none from the fenced owner"
    );
    newer.shutdown().await;
    old.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passivation_recovers_the_same_state_without_losing_requests() {
    let cfg = liveshop_actors::ActorConfig {
        passivate_after: Duration::from_millis(40),
        ..config()
    };
    let node = Node::new(cfg).await;
    let lot = node.lot("S1", sale(1000, 600_000)).await;
    node.open(&lot).await;

    // Several clients with irregular pauses, so requests keep arriving just
    // before, during and after the lot passivates; halfway they all wait
    // until it surely has, so the rest goes through a recovered instance.
    let quiet = Arc::new(tokio::sync::Barrier::new(5));
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let region = node.region.clone();
        let lot = lot.clone();
        let quiet = quiet.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = t * 7919 + 17;
            let mut held = 0u32;
            for i in 0..25 {
                if i == 12 {
                    quiet.wait().await; // all paused
                    quiet.wait().await; // the lot has passivated
                }
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pause = (rng >> 33) % 120;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let cmd = LotCommand::Hold {
                    user: user(&format!("t{t}u{i}")),
                    qty: 1,
                };
                match region.lot_command(&lot, cmd).await {
                    Ok(Ok(LotReply::Held { qty, .. })) => held += qty,
                    other => panic!("request lost across passivation: {other:?}"),
                }
            }
            held
        }));
    }
    quiet.wait().await;
    let region = node.region.clone();
    eventually("the lot passivates", || {
        let region = region.clone();
        async move { region.stats().lots == 0 }
    })
    .await;
    let started = node.region.stats().lots_started;
    quiet.wait().await;

    let mut held = 0;
    for t in tasks {
        held += t.await.unwrap();
    }
    assert_eq!(held, 100);
    assert!(
        node.region.stats().lots_started > started,
        "the lot was recovered"
    );

    let region = node.region.clone();
    eventually("the lot passivates", || {
        let region = region.clone();
        async move { region.stats().lots == 0 }
    })
    .await;
    let snap = node
        .store
        .load_snapshot(&LogKey::Lot(lot.clone()))
        .await
        .unwrap();
    assert!(snap.is_some(), "a passivated lot leaves a snapshot");

    let view = node.region.lot_view(&lot).await.unwrap();
    assert_eq!(view.available, Some(900));
    assert_eq!(view.status, LotStatus::Open);
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_it_took_and_refuses_the_rest() {
    let node = Node::new(config()).await;
    let lot = node.lot("S1", sale(10_000, 600_000)).await;
    node.open(&lot).await;

    let region = Arc::new(node.region.clone());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let region = region.clone();
        let lot = lot.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = 0u32;
            for i in 0..200 {
                let cmd = LotCommand::Hold {
                    user: user(&format!("t{t}u{i}")),
                    qty: 1,
                };
                match region.lot_command(&lot, cmd).await {
                    Ok(Ok(LotReply::Held { qty, .. })) => acknowledged += qty,
                    Err(ActorError::ShuttingDown) => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    node.region.shutdown().await;
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.unwrap();
    }
    assert!(matches!(
        node.region.lot_view(&lot).await,
        Err(ActorError::ShuttingDown)
    ));
    drop(region);

    let node = node.restart(config()).await;
    let view = node.region.lot_view(&lot).await.unwrap();
    assert_eq!(
        view.available,
        Some(10_000 - acknowledged),
        "every acknowledged hold is durable"
    );
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_lot_is_not_found() {
    let node = Node::new(config()).await;
    let missing = liveshop_protocol::LotId::new("nope").unwrap();
    assert_eq!(
        node.region.lot_view(&missing).await,
        Err(ActorError::NotFound)
    );
    let cmd = LotCommand::Bid {
        bidder: user("u1"),
        amount: 5,
    };
    assert_eq!(
        node.region.lot_command(&missing, cmd).await,
        Err(ActorError::NotFound)
    );
    node.region.shutdown().await;
}
