//! Builders shared by the domain tests.
#![allow(dead_code)]

use liveshop_domain::{Lot, LotCommand, LotDef, LotEvent, Outcome, Room, RoomDef};
use liveshop_protocol::{
    Allocation, AuctionTerms, Currency, LotId, LotSpec, LotTerms, RoomId, SaleTerms, UserId,
};

pub fn user(n: u32) -> UserId {
    UserId::new(format!("u{n}")).unwrap()
}

pub fn host() -> UserId {
    UserId::new("host").unwrap()
}

pub fn auction_lot(
    start_price: u64,
    duration_ms: u64,
    anti_snipe_ms: u64,
    min_increment: Option<u64>,
) -> Lot {
    let spec = LotSpec {
        title: "Jordan 1 size 10".into(),
        currency: Currency::USD,
        terms: LotTerms::Auction(AuctionTerms {
            start_price,
            duration_ms,
            anti_snipe_ms,
            min_increment,
        }),
    };
    let def = LotDef::new(
        LotId::new("L1").unwrap(),
        RoomId::new("r1").unwrap(),
        host(),
        spec,
    )
    .unwrap();
    Lot::new(def)
}

pub fn sale_lot(
    stock: u32,
    per_user_limit: Option<u32>,
    hold_ttl_ms: u64,
    allocation: Allocation,
) -> Lot {
    timed_sale_lot(stock, per_user_limit, hold_ttl_ms, allocation, None)
}

/// A sale lot that closes by itself `duration_ms` after opening, if given.
pub fn timed_sale_lot(
    stock: u32,
    per_user_limit: Option<u32>,
    hold_ttl_ms: u64,
    allocation: Allocation,
    duration_ms: Option<u64>,
) -> Lot {
    let spec = LotSpec {
        title: "Vintage tee drop".into(),
        currency: Currency::USD,
        terms: LotTerms::Sale(SaleTerms {
            price: 2500,
            stock,
            per_user_limit,
            hold_ttl_ms,
            allocation,
            duration_ms,
        }),
    };
    let def = LotDef::new(
        LotId::new("L2").unwrap(),
        RoomId::new("r1").unwrap(),
        host(),
        spec,
    )
    .unwrap();
    Lot::new(def)
}

pub fn open(lot: &mut Lot, now_ms: u64) -> Outcome {
    let out = lot.handle(
        LotCommand::Open {
            by: host(),
            seed: [42; 32],
        },
        now_ms,
    );
    assert!(out.reply.is_ok(), "{:?}", out.reply);
    out
}

/// Rebuilds a lot from `events` after a MessagePack round trip, as recovery
/// from the store does.
pub fn replay(fresh: Lot, events: &[LotEvent]) -> Lot {
    let mut lot = fresh;
    for ev in events {
        let bytes = rmp_serde::to_vec_named(ev).unwrap();
        let back: LotEvent = rmp_serde::from_slice(&bytes).unwrap();
        lot.apply(&back);
    }
    lot
}

/// Runs the lot's timers on a virtual clock: ticks at every deadline up to
/// `until`, as a LotActor's timer would, and returns each tick's time and
/// outcome. Fails if deadlines stop moving.
pub fn drive(lot: &mut Lot, until: u64) -> Vec<(u64, Outcome)> {
    let mut outs = Vec::new();
    let mut last = None;
    while let Some(t) = lot.next_deadline().filter(|t| *t <= until) {
        assert_ne!(
            Some(t),
            last,
            "a tick at {t} left the same deadline: the timer would spin"
        );
        last = Some(t);
        outs.push((t, lot.handle(LotCommand::Tick, t)));
        assert!(outs.len() < 100_000, "too many ticks");
    }
    outs
}

/// A lot after a snapshot round trip (MessagePack), as passivation stores it.
pub fn through_snapshot(lot: &Lot) -> Lot {
    let bytes = rmp_serde::to_vec_named(lot).unwrap();
    rmp_serde::from_slice(&bytes).unwrap()
}

/// A room `r1` hosted by [`host`], replay buffer of 4 events.
pub fn room() -> Room {
    Room::new(
        RoomDef {
            id: RoomId::new("r1").unwrap(),
            host: host(),
            title: "Drops".into(),
        },
        0,
        4,
    )
}
