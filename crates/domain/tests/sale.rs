mod common;

use common::*;
use liveshop_domain::{Effect, Lot, LotCommand, LotEvent, LotReply, Rejection};
use liveshop_protocol::{
    Allocation, HoldId, IdemKey, LotStatus, Notice, OrderId, QueueEndReason, RoomEvent,
};

fn hold(lot: &mut Lot, u: u32, qty: u32, now: u64) -> Result<LotReply, Rejection> {
    lot.handle(LotCommand::Hold { user: user(u), qty }, now)
        .reply
}

fn held(reply: Result<LotReply, Rejection>) -> HoldId {
    match reply {
        Ok(LotReply::Held { hold, .. }) => hold,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn checkout(
    lot: &mut Lot,
    u: u32,
    hold: &HoldId,
    idem: &str,
    now: u64,
) -> Result<LotReply, Rejection> {
    let cmd = LotCommand::Checkout {
        user: user(u),
        hold: hold.clone(),
        idem: IdemKey::new(idem).unwrap(),
    };
    lot.handle(cmd, now).reply
}

#[test]
fn a_hold_then_checkout_sells_a_unit() {
    let mut lot = sale_lot(3, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let out = lot.handle(
        LotCommand::Hold {
            user: user(1),
            qty: 2,
        },
        10,
    );
    assert_eq!(
        out.reply,
        Ok(LotReply::Held {
            hold: HoldId::new("L2:h1").unwrap(),
            qty: 2,
            expires_ms: 60_010
        })
    );
    assert!(out.effects.contains(&Effect::Room(RoomEvent::Stock {
        lot: lot.id().clone(),
        available: 1
    })));
    let h = HoldId::new("L2:h1").unwrap();
    let reply = checkout(&mut lot, 1, &h, "k1", 20);
    assert_eq!(
        reply,
        Ok(LotReply::Order {
            order: OrderId::new("L2:o1").unwrap(),
            amount: 5000
        })
    );
    let s = lot.sale().unwrap();
    assert_eq!((s.sold(), s.held(), s.available()), (2, 0, 1));
}

#[test]
fn checkout_with_a_used_key_returns_the_same_order() {
    let mut lot = sale_lot(3, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 1));
    let first = checkout(&mut lot, 1, &h, "k1", 2);
    let out = lot.handle(
        LotCommand::Checkout {
            user: user(1),
            hold: h.clone(),
            idem: IdemKey::new("k1").unwrap(),
        },
        3,
    );
    assert_eq!(out.reply, first);
    assert!(out.events.is_empty(), "a repeated checkout writes nothing");
    // A new key on the consumed hold cannot buy it again.
    assert_eq!(
        checkout(&mut lot, 1, &h, "k2", 4),
        Err(Rejection::HoldExpired)
    );
    assert_eq!(lot.sale().unwrap().sold(), 1);
}

#[test]
fn only_the_holder_may_check_out_or_release() {
    let mut lot = sale_lot(3, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 1));
    assert_eq!(checkout(&mut lot, 2, &h, "k", 2), Err(Rejection::NotFound));
    let out = lot.handle(
        LotCommand::Release {
            user: user(2),
            hold: h.clone(),
        },
        2,
    );
    assert_eq!(out.reply, Err(Rejection::NotFound));
    assert_eq!(
        checkout(&mut lot, 1, &HoldId::new("L2:h99").unwrap(), "k", 2),
        Err(Rejection::NotFound)
    );
    assert_eq!(
        checkout(&mut lot, 1, &HoldId::new("OTHER:h1").unwrap(), "k", 2),
        Err(Rejection::NotFound)
    );
}

#[test]
fn the_per_user_limit_counts_held_and_bought_units() {
    let mut lot = sale_lot(10, Some(2), 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 1));
    checkout(&mut lot, 1, &h, "k", 2).unwrap();
    held(hold(&mut lot, 1, 1, 3));
    assert_eq!(hold(&mut lot, 1, 1, 4), Err(Rejection::LimitExceeded));
    assert!(
        hold(&mut lot, 2, 2, 5).is_ok(),
        "other buyers are not affected"
    );
}

#[test]
fn holds_expire_with_a_warning_first_and_units_return() {
    let mut lot = sale_lot(1, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 0));
    assert_eq!(
        lot.next_deadline(),
        Some(30_000),
        "warned 30 s before expiry"
    );
    let out = lot.handle(LotCommand::Tick, 30_000);
    assert!(out.effects.contains(&Effect::Notice(
        user(1),
        Notice::HoldExpiring {
            hold: h.clone(),
            expires_ms: 60_000
        }
    )));
    assert_eq!(lot.next_deadline(), Some(60_000));
    let out = lot.handle(LotCommand::Tick, 60_000);
    assert!(out.effects.contains(&Effect::Notice(
        user(1),
        Notice::HoldExpired { hold: h.clone() }
    )));
    assert_eq!(lot.available(), Some(1));
    assert_eq!(
        checkout(&mut lot, 1, &h, "k", 60_001),
        Err(Rejection::HoldExpired)
    );
}

#[test]
fn a_hold_past_its_expiry_cannot_be_bought_even_before_the_tick() {
    let mut lot = sale_lot(1, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 0));
    assert_eq!(
        checkout(&mut lot, 1, &h, "k", 60_000),
        Err(Rejection::HoldExpired)
    );
}

#[test]
fn buyers_queue_while_units_are_held_and_get_offers_in_order() {
    let mut lot = sale_lot(2, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h1 = held(hold(&mut lot, 1, 2, 0));
    assert_eq!(
        hold(&mut lot, 2, 1, 1),
        Ok(LotReply::Queued { position: 1 })
    );
    assert_eq!(
        hold(&mut lot, 3, 1, 2),
        Ok(LotReply::Queued { position: 2 })
    );
    assert_eq!(
        hold(&mut lot, 2, 1, 3),
        Ok(LotReply::Queued { position: 1 }),
        "asking again keeps the place"
    );
    let out = lot.handle(
        LotCommand::Release {
            user: user(1),
            hold: h1,
        },
        10,
    );
    let offers: Vec<_> = out
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notice(u, Notice::QueueOffer { .. }) => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(offers, vec![user(2), user(3)]);
    assert_eq!(lot.sale().unwrap().queue_len(), 0);
    assert_eq!(lot.available(), Some(0));
}

#[test]
fn nothing_left_to_come_back_is_sold_out() {
    let mut lot = sale_lot(1, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 0));
    checkout(&mut lot, 1, &h, "k", 1).unwrap();
    assert_eq!(hold(&mut lot, 2, 1, 2), Err(Rejection::SoldOut));
}

#[test]
fn a_hold_for_more_than_is_left_gets_what_is_left() {
    let mut lot = sale_lot(3, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    held(hold(&mut lot, 1, 2, 0));
    assert!(matches!(
        hold(&mut lot, 2, 3, 1),
        Ok(LotReply::Held { qty: 1, .. })
    ));
}

#[test]
fn closing_keeps_live_holds_until_they_end_then_settles() {
    let mut lot = sale_lot(3, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h1 = held(hold(&mut lot, 1, 1, 0));
    held(hold(&mut lot, 2, 2, 0));
    hold(&mut lot, 3, 1, 0).unwrap(); // queued
    lot.handle(LotCommand::Close { by: host() }, 5)
        .reply
        .unwrap();
    assert_eq!(lot.status(), LotStatus::Closed);
    assert_eq!(lot.sale().unwrap().queue_len(), 0);
    assert_eq!(hold(&mut lot, 4, 1, 6), Err(Rejection::LotNotOpen));
    checkout(&mut lot, 1, &h1, "k", 7).unwrap();
    let out = lot.handle(LotCommand::Tick, 60_000);
    assert_eq!(lot.status(), LotStatus::Settled);
    let winners = out.effects.iter().find_map(|e| match e {
        Effect::Room(RoomEvent::LotClosed { winners, .. }) => Some(winners.clone()),
        _ => None,
    });
    assert_eq!(winners.map(|w| w.len()), Some(1));
}

#[test]
fn raffle_draw_can_be_rerun_from_the_revealed_seed() {
    let mut lot = sale_lot(2, None, 60_000, Allocation::Raffle);
    open(&mut lot, 0);
    let published = lot.view().seed_hash.clone().unwrap();
    assert_eq!(
        lot.view().seed,
        None,
        "the seed stays secret until the draw"
    );
    for u in 1..=5 {
        assert!(matches!(
            lot.handle(LotCommand::Enter { user: user(u) }, u as u64)
                .reply,
            Ok(LotReply::Entered { .. })
        ));
    }
    assert_eq!(
        lot.handle(LotCommand::Enter { user: user(1) }, 9).reply,
        Err(Rejection::AlreadyEntered)
    );
    assert!(matches!(
        hold(&mut lot, 6, 1, 9),
        Err(Rejection::BadState(_))
    ));
    lot.handle(LotCommand::Close { by: host() }, 10)
        .reply
        .unwrap();
    assert_eq!(lot.status(), LotStatus::Settled);

    let view = lot.view();
    let seed_hex = view.seed.unwrap();
    let seed: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let seed: [u8; 32] = seed.try_into().unwrap();
    assert_eq!(liveshop_domain::raffle::seed_hash(&seed), published);
    let expected = liveshop_domain::raffle::draw(&seed, 5, 2);
    let s = lot.sale().unwrap();
    assert_eq!(
        s.winners()
            .unwrap()
            .iter()
            .map(|&w| w as usize)
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(s.sold(), 2);
}

#[test]
fn a_flash_sale_runs_to_settlement_on_a_virtual_clock() {
    // 2 units, 4 buyers, nobody pays: holds expire, the queue gets its offers,
    // those expire too, and after close the lot settles with no buyer.
    let mut lot = sale_lot(2, Some(1), 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    for u in 1..=4 {
        hold(&mut lot, u, 1, u as u64).unwrap();
    }
    assert_eq!(lot.sale().unwrap().queue_len(), 2);
    let outs = drive(&mut lot, 200_000);
    let offered = outs
        .iter()
        .flat_map(|(_, o)| &o.effects)
        .filter(|e| matches!(e, Effect::Notice(_, Notice::QueueOffer { .. })))
        .count();
    let expired = outs
        .iter()
        .flat_map(|(_, o)| &o.effects)
        .filter(|e| matches!(e, Effect::Notice(_, Notice::HoldExpired { .. })))
        .count();
    assert_eq!((offered, expired), (2, 4));
    assert_eq!(lot.next_deadline(), None);
    lot.handle(LotCommand::Close { by: host() }, 200_001)
        .reply
        .unwrap();
    assert_eq!(lot.status(), LotStatus::Settled);
}

#[test]
fn an_ended_sale_makes_no_hold_even_before_its_tick() {
    // Ends at 10 s. A release at the end must not hand the unit to the queue.
    let mut lot = timed_sale_lot(1, None, 60_000, Allocation::Fifo, Some(10_000));
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 0));
    assert_eq!(
        hold(&mut lot, 2, 1, 1),
        Ok(LotReply::Queued { position: 1 })
    );
    let out = lot.handle(
        LotCommand::Release {
            user: user(1),
            hold: h,
        },
        10_000,
    );
    assert_eq!(out.reply, Ok(LotReply::Released));
    assert_eq!(lot.status(), LotStatus::Settled, "the end came first");
    assert!(
        !out.effects
            .iter()
            .any(|e| matches!(e, Effect::Notice(_, Notice::QueueOffer { .. })))
    );
    assert!(out.effects.contains(&Effect::Notice(
        user(2),
        Notice::QueueEnded {
            lot: lot.id().clone(),
            reason: QueueEndReason::Closed
        }
    )));
    assert_eq!(hold(&mut lot, 3, 1, 10_001), Err(Rejection::LotNotOpen));
}

#[test]
fn queued_buyers_hear_when_nothing_can_come_back() {
    let mut lot = sale_lot(1, None, 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let h = held(hold(&mut lot, 1, 1, 0));
    assert_eq!(
        hold(&mut lot, 2, 1, 1),
        Ok(LotReply::Queued { position: 1 })
    );
    let out = lot.handle(
        LotCommand::Checkout {
            user: user(1),
            hold: h,
            idem: IdemKey::new("k").unwrap(),
        },
        2,
    );
    assert!(out.effects.contains(&Effect::Notice(
        user(2),
        Notice::QueueEnded {
            lot: lot.id().clone(),
            reason: QueueEndReason::SoldOut
        }
    )));
    assert_eq!(lot.sale().unwrap().queue_len(), 0);
    assert_eq!(hold(&mut lot, 2, 1, 3), Err(Rejection::SoldOut));
}

#[test]
fn damaged_stored_events_neither_panic_nor_spin_the_timer() {
    let mut lot = sale_lot(3, Some(2), 60_000, Allocation::Fifo);
    open(&mut lot, 0);
    let placed = |hold, qty, expires_ms| LotEvent::HoldPlaced {
        hold,
        user: user(1),
        qty,
        expires_ms,
        offered: false,
    };
    // A repeated hold number, a huge number, a huge quantity.
    lot.apply(&placed(1, 1, 60_000));
    lot.apply(&placed(1, 1, 90_000));
    lot.apply(&placed(u64::MAX, u32::MAX, 70_000));
    lot.apply(&LotEvent::Closed { at_ms: 0 });
    lot.apply(&LotEvent::Opened {
        at_ms: 5,
        ends_ms: Some(1),
        seed: None,
    });
    let _ = hold(&mut lot, 1, 1, 10);
    let _ = hold(&mut lot, 2, 1, 10);
    drive(&mut lot, 1_000_000);
    assert_eq!(lot.next_deadline(), None);

    let mut auction = auction_lot(1000, 30_000, 0, None);
    open(&mut auction, 0);
    auction.apply(&LotEvent::BidPlaced {
        bidder: user(1),
        amount: u64::MAX,
        max: u64::MAX,
        lot_seq: u64::MAX,
        ends_ms: 30_000,
    });
    let _ = auction.handle(
        LotCommand::Bid {
            bidder: user(2),
            amount: 5000,
        },
        1,
    );
    let _ = auction.handle(
        LotCommand::MaxBid {
            bidder: user(2),
            max: u64::MAX,
        },
        1,
    );
    drive(&mut auction, 1_000_000);
}
