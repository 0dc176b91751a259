//! Lots act on time by themselves: auction ends, hold expiry, and both after
//! a restart.

mod common;

use common::*;
use liveshop_domain::{LotCommand, LotReply};
use liveshop_protocol::{LotStatus, Notice, RoomEvent};
use liveshop_store::Orders;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auction_ends_by_its_timer_and_the_winner_gets_an_order() {
    let node = Node::new(config()).await;
    let lot = node.lot("A1", auction(1_000)).await;
    let r = &node.region;
    let (winner_conn, mut winner_rx) = conn(1, Some(user("w")), 64);
    r.attach(&user("w"), &winner_conn).await;
    let (watcher, mut watch_rx) = conn(2, None, 256);
    r.join(&room_id(), None, &watcher).await.unwrap().unwrap();

    node.open(&lot).await;
    let cmd = LotCommand::Bid {
        bidder: user("w"),
        amount: 1500,
    };
    assert!(matches!(
        r.lot_command(&lot, cmd).await,
        Ok(Ok(LotReply::Bid { .. }))
    ));

    let won = notice_where(&mut winner_rx, |n| matches!(n, Notice::Won { .. })).await;
    let Notice::Won { amount, order, .. } = won else {
        unreachable!()
    };
    assert_eq!(amount, 1500);

    let events = events_until(&mut watch_rx, |evs| {
        evs.iter()
            .any(|e| matches!(e.event, RoomEvent::LotClosed { .. }))
    })
    .await;
    let closed = events.iter().find_map(|e| match &e.event {
        RoomEvent::LotClosed { winners, .. } => Some(winners.clone()),
        _ => None,
    });
    let winners = closed.unwrap();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].user, user("w"));

    // The order is written before anyone is told about it.
    let orders = node.store.orders_by_buyer(&user("w")).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_id, order);
    assert_eq!(orders[0].total.amount, 1500);
    let view = r.lot_view(&lot).await.unwrap();
    assert!(matches!(
        view.status,
        LotStatus::Closed | LotStatus::Settled
    ));
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_hold_expires_by_its_timer() {
    let node = Node::new(config()).await;
    let lot = node.lot("S1", sale(3, 1_000)).await;
    let r = &node.region;
    let (c, mut rx) = conn(1, Some(user("b")), 64);
    r.attach(&user("b"), &c).await;
    node.open(&lot).await;

    let hold = match r
        .lot_command(
            &lot,
            LotCommand::Hold {
                user: user("b"),
                qty: 2,
            },
        )
        .await
    {
        Ok(Ok(LotReply::Held { hold, .. })) => hold,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.lot_view(&lot).await.unwrap().available, Some(1));
    let expired = notice_where(&mut rx, |n| matches!(n, Notice::HoldExpired { .. })).await;
    assert_eq!(expired, Notice::HoldExpired { hold });
    assert_eq!(r.lot_view(&lot).await.unwrap().available, Some(3));
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auction_due_while_the_node_was_down_ends_after_restart() {
    let node = Node::new(config()).await;
    let lot = node.lot("A1", auction(1_000)).await;
    node.open(&lot).await;
    let cmd = LotCommand::Bid {
        bidder: user("w"),
        amount: 1200,
    };
    assert!(matches!(
        node.region.lot_command(&lot, cmd).await,
        Ok(Ok(_))
    ));

    // Down before the end; nobody touches the lot after the restart.
    let cfg = liveshop_actors::ActorConfig {
        wake_lots_on_start: true,
        ..config()
    };
    let node = node.restart(cfg).await;
    let store = node.store.clone();
    eventually("the winner's order is recorded", || {
        let store = store.clone();
        async move { store.orders_by_buyer(&user("w")).await.unwrap().len() == 1 }
    })
    .await;
    node.region.shutdown().await;
}
