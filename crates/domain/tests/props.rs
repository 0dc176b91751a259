//! Property tests: random interleavings of many users' commands and clock
//! jumps must never break the lot and room invariants, and replaying the
//! events must rebuild the same state. At least 1,000 cases each
//! (`PROPTEST_CASES` raises it).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use liveshop_domain::{
    Effect, LotCommand, LotEvent, LotReply, Rejection, Replay, Room, RoomCommand, RoomDef,
};
use liveshop_protocol::{
    Allocation, HoldId, IdemKey, LotId, LotStatus, Notice, RoomEvent, RoomId, UserId,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum SaleOp {
    Hold {
        user: u32,
        qty: u32,
    },
    Release {
        user: u32,
        pick: usize,
    },
    Checkout {
        user: u32,
        pick: usize,
        idem: u8,
    },
    /// Time passes; `prompt` timers tick at each deadline on the way.
    Advance {
        ms: u64,
        prompt: bool,
    },
    Tick,
    Close,
}

fn sale_op() -> impl Strategy<Value = SaleOp> {
    prop_oneof![
        6 => (0..12u32, 1..4u32).prop_map(|(user, qty)| SaleOp::Hold { user, qty }),
        2 => (0..16u32, any::<usize>()).prop_map(|(user, pick)| SaleOp::Release { user, pick }),
        4 => (0..16u32, any::<usize>(), 0..3u8).prop_map(|(user, pick, idem)| SaleOp::Checkout { user, pick, idem }),
        3 => (0..25_000u64, any::<bool>()).prop_map(|(ms, prompt)| SaleOp::Advance { ms, prompt }),
        2 => Just(SaleOp::Tick),
        1 => Just(SaleOp::Close),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sale_never_oversells_and_replays_exactly(
        stock in 1..10u32,
        limit in proptest::option::of(1..4u32),
        ttl in 1_000..20_000u64,
        duration in proptest::option::of(5_000..120_000u64),
        ops in proptest::collection::vec(sale_op(), 1..150),
    ) {
        let mut lot = timed_sale_lot(stock, limit, ttl, Allocation::Fifo, duration);
        let fresh = lot.clone();
        let mut events = open(&mut lot, 0).events;
        let mut now = 0u64;
        // Every hold made, with its owner. Releases and checkouts mostly come
        // from the owner (`user < 12`), sometimes from someone else.
        let mut holds: Vec<(HoldId, UserId)> = Vec::new();
        let pick_hold = |holds: &[(HoldId, UserId)], pick: usize, u: u32| {
            let (hold, owner) = holds
                .get(pick % holds.len().max(1))
                .cloned()
                .unwrap_or((HoldId::new("L2:h1").unwrap(), user(0)));
            (hold, if u < 12 { owner } else { user(u - 12) })
        };
        let mut orders = BTreeSet::new();
        let mut recorded = Vec::new();
        let mut ordered_units = 0u64;
        for op in ops {
            let cmd = match op {
                SaleOp::Hold { user: u, qty } => LotCommand::Hold { user: user(u), qty },
                SaleOp::Release { user: u, pick } => {
                    let (hold, user) = pick_hold(&holds, pick, u);
                    LotCommand::Release { user, hold }
                }
                SaleOp::Checkout { user: u, pick, idem } => {
                    let (hold, user) = pick_hold(&holds, pick, u);
                    LotCommand::Checkout { user, hold, idem: IdemKey::new(format!("k{idem}")).unwrap() }
                }
                SaleOp::Advance { ms, prompt } => {
                    now += ms;
                    if !prompt { continue; }
                    LotCommand::Tick
                }
                SaleOp::Tick => LotCommand::Tick,
                SaleOp::Close => LotCommand::Close { by: host() },
            };
            let actor = match &cmd {
                LotCommand::Hold { user, .. } => Some(user.clone()),
                _ => None,
            };
            let mut outs = match cmd {
                LotCommand::Tick => drive(&mut lot, now),
                _ => Vec::new(),
            };
            outs.push((now, lot.handle(cmd, now)));
            for (at, out) in outs {
                for ev in &out.events {
                    if let (LotEvent::HoldPlaced { .. }, Some(end)) = (ev, lot.ends_ms()) {
                        prop_assert!(at < end, "a hold was made at {} after the end at {}", at, end);
                    }
                }
            if let (Ok(LotReply::Held { hold, .. }), Some(owner)) = (&out.reply, &actor) {
                holds.push((hold.clone(), owner.clone()));
            }
            for effect in &out.effects {
                match effect {
                    Effect::Notice(owner, Notice::QueueOffer { hold, .. }) => {
                        holds.push((hold.clone(), owner.clone()))
                    }
                    Effect::Order(order) => {
                        prop_assert!(orders.insert(order.order.clone()), "order {} made twice", order.order);
                        ordered_units += u64::from(order.qty);
                        recorded.push(order.clone());
                    }
                    _ => {}
                }
            }
            events.extend(out.events);
            }
            let sale = lot.sale().unwrap();
            prop_assert_eq!(sale.check_invariants(), Ok(()));
            prop_assert!(sale.held() + sale.sold() <= stock);
            prop_assert_eq!(ordered_units, u64::from(sale.sold()));
        }
        // The log alone rebuilds exactly the orders the live lot recorded.
        let from_log: Vec<_> = events.iter().filter_map(|e| lot.order_of(e)).collect();
        prop_assert_eq!(from_log, recorded);
        // No hold is sold twice.
        let mut bought = BTreeSet::new();
        for ev in &events {
            if let LotEvent::CheckedOut { hold, .. } = ev {
                prop_assert!(bought.insert(*hold), "hold {} checked out twice", hold);
            }
        }
        if let Some(limit) = limit {
            for u in 0..12 {
                let (held, bought) = lot.sale().unwrap().units_of(&user(u));
                prop_assert!(held + bought <= limit);
            }
        }
        prop_assert_eq!(&through_snapshot(&lot), &lot);
        prop_assert_eq!(replay(fresh, &events), lot);
    }
}

#[derive(Debug, Clone)]
enum AuctionOp {
    Bid { user: u32, amount: u64 },
    Max { user: u32, amount: u64 },
    Advance(u64),
    Tick,
}

fn auction_op() -> impl Strategy<Value = AuctionOp> {
    prop_oneof![
        // Coarse amounts, so that bids often meet ceilings exactly (ties).
        5 => (0..6u32, 0..120u64).prop_map(|(user, a)| AuctionOp::Bid { user, amount: a * 100 }),
        3 => (0..6u32, 0..120u64).prop_map(|(user, a)| AuctionOp::Max { user, amount: a * 100 }),
        2 => (0..8_000u64).prop_map(AuctionOp::Advance),
        1 => Just(AuctionOp::Tick),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn accepted_bids_rise_strictly_with_gapless_lot_seq(
        anti_snipe in prop_oneof![Just(0u64), 1..6_000u64],
        min_increment in proptest::option::of(1..500u64),
        ops in proptest::collection::vec(auction_op(), 1..120),
    ) {
        let mut lot = auction_lot(1000, 30_000, anti_snipe, min_increment);
        let fresh = lot.clone();
        let mut events = open(&mut lot, 0).events;
        let mut now = 0u64;
        let mut acked: Vec<(u64, u64, UserId)> = Vec::new();
        for op in ops {
            let (cmd, bidder) = match op {
                AuctionOp::Bid { user: u, amount } => (LotCommand::Bid { bidder: user(u), amount }, Some(user(u))),
                AuctionOp::Max { user: u, amount } => (LotCommand::MaxBid { bidder: user(u), max: amount }, None),
                AuctionOp::Advance(ms) => { now += ms; continue; }
                AuctionOp::Tick => (LotCommand::Tick, None),
            };
            let was_open = lot.status() == LotStatus::Open && lot.ends_ms().is_some_and(|e| now < e);
            let end_before = lot.ends_ms();
            let out = lot.handle(cmd, now);
            prop_assert!(lot.ends_ms() >= end_before, "the end moved earlier");
            for ev in &out.events {
                if let LotEvent::BidPlaced { ends_ms, .. } = ev {
                    prop_assert!(now < end_before.unwrap_or(0), "a bid was placed after the end");
                    if anti_snipe > 0 {
                        prop_assert!(*ends_ms >= now + anti_snipe, "no anti-snipe room after a bid");
                    }
                }
            }
            match &out.reply {
                Ok(LotReply::Bid { lot_seq, amount }) => {
                    prop_assert!(was_open);
                    acked.push((*lot_seq, *amount, bidder.clone().unwrap()));
                }
                Ok(LotReply::MaxBid { current }) => {
                    prop_assert!(was_open);
                    prop_assert_eq!(Some(*current), lot.auction().unwrap().high().map(|h| h.1));
                }
                Err(Rejection::LotNotOpen) => prop_assert!(!was_open),
                Err(Rejection::BidTooLow { min_amount }) => {
                    prop_assert!(*min_amount > lot.auction().unwrap().high().map_or(0, |h| h.1));
                }
                _ => {}
            }
            events.extend(out.events);
        }
        // Close whatever is still open.
        let end = lot.ends_ms().unwrap_or(now).max(now);
        events.extend(lot.handle(LotCommand::Tick, end).events);
        prop_assert_eq!(lot.status(), LotStatus::Settled);

        let bids: Vec<(u64, u64, UserId)> = events.iter().filter_map(|e| match e {
            LotEvent::BidPlaced { lot_seq, amount, bidder, .. } => Some((*lot_seq, *amount, bidder.clone())),
            _ => None,
        }).collect();
        for (i, (seq, _, _)) in bids.iter().enumerate() {
            prop_assert_eq!(*seq, i as u64 + 1, "lot_seq has a gap");
        }
        for pair in bids.windows(2) {
            prop_assert!(pair[1].1 > pair[0].1, "bids not strictly increasing: {:?}", pair);
        }
        for ack in &acked {
            prop_assert!(bids.contains(ack), "acknowledged bid {:?} is not in the log", ack);
        }
        let order = events.iter().find_map(|e| match e {
            LotEvent::OrderPlaced { buyer, total, .. } => Some((buyer.clone(), *total)),
            _ => None,
        });
        prop_assert_eq!(order, bids.last().map(|(_, amount, bidder)| (bidder.clone(), *amount)));
        prop_assert_eq!(&through_snapshot(&lot), &lot);
        prop_assert_eq!(replay(fresh, &events), lot);
    }

    #[test]
    fn raffle_draw_is_reproducible_from_the_revealed_seed(
        stock in 1..10u32,
        entrants in proptest::collection::vec(0..40u32, 0..60),
        seed in any::<[u8; 32]>(),
    ) {
        let mut lot = sale_lot(stock, None, 60_000, Allocation::Raffle);
        let fresh = lot.clone();
        let mut events = lot.handle(LotCommand::Open { by: host(), seed }, 0).events;
        let published = lot.view().seed_hash.unwrap();
        let mut entered = Vec::new();
        for u in entrants {
            let out = lot.handle(LotCommand::Enter { user: user(u) }, 1);
            match out.reply {
                Ok(_) => entered.push(user(u)),
                Err(e) => prop_assert_eq!(e, Rejection::AlreadyEntered),
            }
            events.extend(out.events);
        }
        events.extend(lot.handle(LotCommand::Close { by: host() }, 2).events);
        let sale = lot.sale().unwrap();
        let revealed = sale.revealed_seed().unwrap();
        prop_assert_eq!(liveshop_domain::raffle::seed_hash(&revealed), published);
        let expected = liveshop_domain::raffle::draw(&revealed, entered.len(), stock as usize);
        let winners: Vec<usize> = sale.winners().unwrap().iter().map(|&w| w as usize).collect();
        prop_assert_eq!(&winners, &expected);
        prop_assert_eq!(winners.len(), entered.len().min(stock as usize));
        prop_assert_eq!(sale.sold() as usize, winners.len());
        prop_assert_eq!(&through_snapshot(&lot), &lot);
        prop_assert_eq!(replay(fresh, &events), lot);
    }
}

#[derive(Debug, Clone)]
enum RoomOp {
    Chat { user: u32, text: u8 },
    Like { user: u32, count: u32 },
    Pin { by_host: bool, lot: u32 },
    AddLot(u32),
    Live(bool),
    Ban { user: u32 },
    Mute { user: u32 },
    Viewers(u64),
    Stock { lot: u32, available: u32 },
    Bid { lot: u32 },
    Tick,
}

fn room_op() -> impl Strategy<Value = RoomOp> {
    prop_oneof![
        4 => (0..8u32, 0..4u8).prop_map(|(user, text)| RoomOp::Chat { user, text }),
        3 => (0..8u32, 0..60u32).prop_map(|(user, count)| RoomOp::Like { user, count }),
        1 => (any::<bool>(), 0..4u32).prop_map(|(by_host, lot)| RoomOp::Pin { by_host, lot }),
        1 => (0..4u32).prop_map(RoomOp::AddLot),
        1 => any::<bool>().prop_map(RoomOp::Live),
        1 => (0..8u32).prop_map(|user| RoomOp::Ban { user }),
        1 => (0..8u32).prop_map(|user| RoomOp::Mute { user }),
        2 => (0..100u64).prop_map(RoomOp::Viewers),
        4 => (0..4u32, 0..50u32).prop_map(|(lot, available)| RoomOp::Stock { lot, available }),
        2 => (0..4u32).prop_map(|lot| RoomOp::Bid { lot }),
        3 => Just(RoomOp::Tick),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn room_events_are_gapless_and_replay_from_any_since(
        start in 0..1_000u64,
        cap in 1..40usize,
        ops in proptest::collection::vec(room_op(), 1..150),
        probes in proptest::collection::vec(0..1_300u64, 8),
    ) {
        let def = RoomDef { id: RoomId::new("r1").unwrap(), host: host(), title: "t".into() };
        let mut room = Room::new(def.clone(), start, cap);
        let lot = |n: u32| LotId::new(format!("L{n}")).unwrap();
        let texts = ["hello", "   ", "x\u{7}y", "nice drop!"];
        let mut published = Vec::new();
        let mut changes = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let now = i as u64 * 10;
            let cmd = match op {
                RoomOp::Chat { user: u, text } => RoomCommand::Chat { user: user(u), name: format!("n{u}"), text: texts[text as usize].into() },
                RoomOp::Like { user: u, count } => RoomCommand::Like { user: user(u), count },
                RoomOp::Pin { by_host, lot: l } => RoomCommand::Pin { by: if by_host { host() } else { user(1) }, lot: lot(l) },
                RoomOp::AddLot(l) => RoomCommand::AddLot { lot: lot(l) },
                RoomOp::Live(on) => RoomCommand::SetLive { on },
                RoomOp::Ban { user: u } => RoomCommand::Ban { by: host(), user: user(u) },
                RoomOp::Mute { user: u } => RoomCommand::Mute { by: host(), user: user(u) },
                RoomOp::Viewers(count) => RoomCommand::Viewers { count },
                RoomOp::Stock { lot: l, available } => RoomCommand::Publish(RoomEvent::Stock { lot: lot(l), available }),
                RoomOp::Bid { lot: l } => RoomCommand::Publish(RoomEvent::Bid { lot: lot(l), amount: i as u64, bidder: user(0), lot_seq: i as u64, ends_ms: 0 }),
                RoomOp::Tick => RoomCommand::Tick,
            };
            let is_tick = matches!(cmd, RoomCommand::Tick);
            let out = room.handle(cmd, now);
            if is_tick {
                let mut lots = BTreeMap::new();
                for ev in &out.published {
                    if let RoomEvent::Stock { lot, .. } = &ev.event {
                        *lots.entry(lot.clone()).or_insert(0) += 1;
                    }
                }
                prop_assert!(lots.values().all(|&n| n == 1), "stock not coalesced per tick");
            } else {
                let coalesced = |e: &liveshop_domain::Sequenced| {
                    matches!(e.event, RoomEvent::Stock { .. } | RoomEvent::Hearts { .. } | RoomEvent::Viewers { .. })
                };
                prop_assert!(!out.published.iter().any(coalesced), "coalesced event published outside a tick");
            }
            changes.extend(out.changes);
            published.extend(out.published);
        }
        for (i, ev) in published.iter().enumerate() {
            prop_assert_eq!(ev.seq, start + 1 + i as u64);
        }
        prop_assert_eq!(room.seq(), start + published.len() as u64);
        let oldest_kept = room.seq().saturating_sub(cap as u64).max(start);
        for since in probes.into_iter().chain([start, room.seq()]) {
            match room.join(since) {
                Replay::Events(events) => {
                    let want: Vec<_> = published.iter().filter(|e| e.seq > since).cloned().collect();
                    prop_assert_eq!(events, want);
                }
                Replay::Reset => prop_assert!(since > room.seq() || since < oldest_kept),
            }
        }
        let mut rebuilt = Room::new(def, start, cap);
        for c in &changes {
            let bytes = rmp_serde::to_vec_named(c).unwrap();
            rebuilt.apply(&rmp_serde::from_slice(&bytes).unwrap());
        }
        rebuilt.resume(0);
        prop_assert!(rebuilt.seq() >= room.seq(), "a recovered room would reuse seqs");
        prop_assert_eq!(rebuilt.is_live(), room.is_live());
        prop_assert_eq!(rebuilt.pinned(), room.pinned());
        prop_assert_eq!(rebuilt.lots(), room.lots());
        for u in 0..8 {
            prop_assert_eq!(rebuilt.is_banned(&user(u)), room.is_banned(&user(u)));
            prop_assert_eq!(rebuilt.is_muted(&user(u)), room.is_muted(&user(u)));
        }
    }
}
