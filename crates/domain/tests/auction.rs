mod common;

use common::*;
use liveshop_domain::{Effect, LotCommand, LotEvent, LotReply, Rejection};
use liveshop_protocol::{LotStatus, Notice, RoomEvent};

fn bid(
    lot: &mut liveshop_domain::Lot,
    u: u32,
    amount: u64,
    now: u64,
) -> Result<LotReply, Rejection> {
    lot.handle(
        LotCommand::Bid {
            bidder: user(u),
            amount,
        },
        now,
    )
    .reply
}

fn max_bid(
    lot: &mut liveshop_domain::Lot,
    u: u32,
    max: u64,
    now: u64,
) -> Result<LotReply, Rejection> {
    lot.handle(
        LotCommand::MaxBid {
            bidder: user(u),
            max,
        },
        now,
    )
    .reply
}

#[test]
fn bids_before_open_are_refused() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    assert_eq!(bid(&mut lot, 1, 5000, 0), Err(Rejection::LotNotOpen));
}

#[test]
fn only_the_host_opens_and_only_once() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    let out = lot.handle(
        LotCommand::Open {
            by: user(1),
            seed: [0; 32],
        },
        0,
    );
    assert_eq!(out.reply, Err(Rejection::Forbidden));
    assert!(out.events.is_empty());
    let out = open(&mut lot, 100);
    assert_eq!(
        out.reply,
        Ok(LotReply::Opened {
            opens_ms: 100,
            ends_ms: Some(30_100)
        })
    );
    assert!(matches!(
        lot.handle(
            LotCommand::Open {
                by: host(),
                seed: [0; 32]
            },
            200
        )
        .reply,
        Err(Rejection::BadState(_))
    ));
}

#[test]
fn first_bid_must_reach_the_start_price_then_the_ladder_applies() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    assert_eq!(
        bid(&mut lot, 1, 999, 1),
        Err(Rejection::BidTooLow { min_amount: 1000 })
    );
    assert_eq!(
        bid(&mut lot, 1, 1000, 1),
        Ok(LotReply::Bid {
            lot_seq: 1,
            amount: 1000
        })
    );
    // Below 30.00 the step is 1.00.
    assert_eq!(
        bid(&mut lot, 2, 1099, 2),
        Err(Rejection::BidTooLow { min_amount: 1100 })
    );
    assert_eq!(
        bid(&mut lot, 2, 3000, 2),
        Ok(LotReply::Bid {
            lot_seq: 2,
            amount: 3000
        })
    );
    // From 30.00 the step is 2.00.
    assert_eq!(
        bid(&mut lot, 1, 3100, 3),
        Err(Rejection::BidTooLow { min_amount: 3200 })
    );
    assert_eq!(
        bid(&mut lot, 1, 3200, 3),
        Ok(LotReply::Bid {
            lot_seq: 3,
            amount: 3200
        })
    );
}

#[test]
fn a_fixed_min_increment_replaces_the_ladder() {
    let mut lot = auction_lot(1000, 30_000, 0, Some(10));
    open(&mut lot, 0);
    bid(&mut lot, 1, 1000, 1).unwrap();
    assert_eq!(
        bid(&mut lot, 2, 1009, 2),
        Err(Rejection::BidTooLow { min_amount: 1010 })
    );
    assert!(bid(&mut lot, 2, 1010, 2).is_ok());
}

#[test]
fn a_late_bid_pushes_the_end_back_by_the_anti_snipe_window() {
    let mut lot = auction_lot(1000, 30_000, 10_000, None);
    open(&mut lot, 0);
    bid(&mut lot, 1, 1000, 5_000).unwrap();
    assert_eq!(
        lot.ends_ms(),
        Some(30_000),
        "an early bid leaves the end alone"
    );
    let out = lot.handle(
        LotCommand::Bid {
            bidder: user(2),
            amount: 1100,
        },
        25_000,
    );
    assert_eq!(lot.ends_ms(), Some(35_000));
    assert!(out.effects.iter().any(|e| matches!(
        e,
        Effect::Room(RoomEvent::Bid {
            ends_ms: 35_000,
            ..
        })
    )));
    // The extension counts from the bid, so the lot is still open at 34s.
    assert!(bid(&mut lot, 1, 1200, 34_000).is_ok());
    assert_eq!(lot.ends_ms(), Some(44_000));
}

#[test]
fn sudden_death_never_extends() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    bid(&mut lot, 1, 1000, 29_999).unwrap();
    assert_eq!(lot.ends_ms(), Some(30_000));
    assert_eq!(bid(&mut lot, 2, 1100, 30_000), Err(Rejection::LotNotOpen));
}

#[test]
fn closing_at_the_end_makes_the_high_bidder_the_winner() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    bid(&mut lot, 1, 1000, 1).unwrap();
    bid(&mut lot, 2, 1500, 2).unwrap();
    assert_eq!(lot.next_deadline(), Some(30_000));
    let out = lot.handle(LotCommand::Tick, 29_999);
    assert!(out.events.is_empty(), "nothing is due before the end");
    let out = lot.handle(LotCommand::Tick, 30_000);
    assert_eq!(lot.status(), LotStatus::Settled);
    assert!(out.events.iter().any(|e| matches!(
        e,
        LotEvent::OrderPlaced {
            qty: 1,
            total: 1500,
            ..
        }
    )));
    assert!(out.effects.iter().any(
        |e| matches!(e, Effect::Notice(u, Notice::Won { amount: 1500, .. }) if *u == user(2))
    ));
    let closed = out.effects.iter().find_map(|e| match e {
        Effect::Room(RoomEvent::LotClosed { winners, .. }) => Some(winners.clone()),
        _ => None,
    });
    assert_eq!(
        closed.map(|w| (w[0].user.clone(), w[0].amount)),
        Some((user(2), 1500))
    );
    assert_eq!(lot.next_deadline(), None);
}

#[test]
fn outbid_bidder_gets_a_notice() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    bid(&mut lot, 1, 1000, 1).unwrap();
    let out = lot.handle(
        LotCommand::Bid {
            bidder: user(2),
            amount: 1200,
        },
        2,
    );
    assert!(out.effects.contains(&Effect::Notice(
        user(1),
        Notice::Outbid {
            lot: lot.id().clone(),
            amount: 1200
        }
    )));
}

#[test]
fn a_proxy_bid_shows_only_what_it_takes() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    assert_eq!(
        max_bid(&mut lot, 1, 5000, 1),
        Ok(LotReply::MaxBid { current: 1000 })
    );
    // A competitor's plain bid is recorded, then the proxy answers one step up.
    assert_eq!(
        bid(&mut lot, 2, 2000, 2),
        Ok(LotReply::Bid {
            lot_seq: 2,
            amount: 2000
        })
    );
    let a = lot.auction().unwrap();
    assert_eq!(a.high(), Some((&user(1), 2100)));
    assert_eq!(a.lot_seq(), 3);
}

#[test]
fn a_higher_ceiling_wins_one_step_above_the_other() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    max_bid(&mut lot, 1, 5000, 1).unwrap();
    // From 50.00 the step is 3.00: the challenger shows 53.00.
    let out = lot.handle(
        LotCommand::MaxBid {
            bidder: user(2),
            max: 8000,
        },
        2,
    );
    assert_eq!(out.reply, Ok(LotReply::MaxBid { current: 5300 }));
    let bids: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            LotEvent::BidPlaced { bidder, amount, .. } => Some((bidder.clone(), *amount)),
            _ => None,
        })
        .collect();
    assert_eq!(
        bids,
        vec![(user(1), 5000), (user(2), 5300)],
        "the beaten ceiling is revealed first"
    );
}

#[test]
fn equal_ceilings_go_to_the_earlier_one() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    max_bid(&mut lot, 1, 5000, 1).unwrap();
    let out = lot.handle(
        LotCommand::MaxBid {
            bidder: user(2),
            max: 5000,
        },
        2,
    );
    assert_eq!(out.reply, Err(Rejection::BidTooLow { min_amount: 5300 }));
    assert_eq!(lot.auction().unwrap().high(), Some((&user(1), 5000)));
    assert_eq!(out.events.len(), 1, "the leader's ceiling is revealed");
}

#[test]
fn the_leader_may_raise_but_not_lower_their_ceiling() {
    let mut lot = auction_lot(1000, 30_000, 0, None);
    open(&mut lot, 0);
    max_bid(&mut lot, 1, 5000, 1).unwrap();
    assert_eq!(
        max_bid(&mut lot, 1, 4000, 2),
        Err(Rejection::BidTooLow { min_amount: 5001 })
    );
    assert_eq!(
        max_bid(&mut lot, 1, 9000, 2),
        Ok(LotReply::MaxBid { current: 1000 })
    );
    bid(&mut lot, 2, 8000, 3).unwrap();
    assert_eq!(
        lot.auction().unwrap().high(),
        Some((&user(1), 8300)),
        "80.00 plus the 3.00 step"
    );
}

#[test]
fn bids_on_a_sale_lot_are_bad_state() {
    let mut lot = sale_lot(5, None, 60_000, liveshop_protocol::Allocation::Fifo);
    open(&mut lot, 0);
    assert!(matches!(
        bid(&mut lot, 1, 100, 1),
        Err(Rejection::BadState(_))
    ));
}
