//! The bid rules, for auction lots (plain bids only: the harness never
//! sends `max_bid`, so every recorded bid is one some client sent).
//!
//! - `bid_order`: the acknowledged (`ok`) bids of a lot have distinct
//!   `lot_seq`s and, in `lot_seq` order, strictly increasing amounts; every
//!   viewer's sequence of `bid` events of a lot is strictly increasing in
//!   both `lot_seq` and amount (a resynchronisation may skip bids, never
//!   reorder them).
//! - `bid_seen`: every acknowledged bid appears, with its amount and bidder,
//!   in the bid events of every viewer of its lot's room that was subscribed
//!   for the whole time: joined (the join reply arrived) before the bid was
//!   sent, no `lagged` notice or resynchronisation since before the bid was
//!   sent (bids sent before the last one are exempt), and still reading
//!   when the bid's event was due (the viewer saw a later bid of the lot or
//!   its `lot_closed`).
//! - `bid_origin`: every bid event names an amount its bidder sent on that
//!   lot (no bid appears that nobody made).
//! - `bid_winner`: the state read back through the API at the end
//!   (`GET /api/v1/lots/{id}`) has the highest acknowledged bid as its high
//!   bid and bidder, so no acknowledged bid is missing from it; a lot the
//!   run closed reads back `closed` or `settled`, and once settled the
//!   winner's order is in the seller's order list at that amount; every
//!   `lot_closed` event and `won` notice names that same winner and amount.
//!   When some bid on the lot went unanswered (its connection ended), that
//!   bid may have been accepted, so the final high must only be at least
//!   the highest acknowledged one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Verdict;
use crate::history::{History, Micros, Op, Outcome, Record, fnv1a};

/// The rules this module adds to a verdict.
pub const RULES: [&str; 4] = ["bid_order", "bid_seen", "bid_origin", "bid_winner"];

/// An auction lot the run created.
#[derive(Debug, Clone)]
pub struct AuctionSpec {
    pub lot: Arc<str>,
    pub room: Arc<str>,
    /// The run's `close_lot` for it was acknowledged.
    pub closed: bool,
}

/// An auction lot as read back through the API at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuctionReadback {
    pub status: String,
    pub high_bid: Option<i64>,
    pub high_bidder: Option<String>,
    /// The lot's orders in the seller's order list: (buyer, amount).
    pub orders: Vec<(String, i64)>,
}

/// An acknowledged bid.
#[derive(Debug, Clone, Copy)]
struct Ack {
    client: usize,
    lot_seq: u64,
    amount: i64,
    sent: Micros,
}

/// What the bidders did on one lot.
#[derive(Default)]
struct LotBids {
    acks: Vec<Ack>,
    /// (bidder digest, amount) of every bid sent.
    sent: HashSet<(u64, i64)>,
    unanswered: bool,
}

/// Adds the bid rules' violations (and names) to `v` and recomputes `pass`.
pub fn check_bids(
    history: &History,
    auctions: &[AuctionSpec],
    readback: &HashMap<String, AuctionReadback>,
    v: &mut Verdict,
) {
    v.rules.extend(RULES);
    let mut lots: HashMap<&str, LotBids> = auctions
        .iter()
        .map(|a| (&*a.lot, LotBids::default()))
        .collect();
    let digests: Vec<u64> = history
        .clients
        .iter()
        .map(|c| fnv1a(c.user_id.as_bytes()))
        .collect();
    for (c, log) in history.clients.iter().enumerate() {
        for ex in log.exchanges() {
            let Op::Bid { lot, amount } = ex.op else {
                continue;
            };
            let Some(bids) = lots.get_mut(&**lot) else {
                continue;
            };
            bids.sent.insert((digests[c], *amount));
            match ex.reply {
                None => bids.unanswered = true,
                Some((_, Outcome::Bid { lot_seq, amount })) => bids.acks.push(Ack {
                    client: c,
                    lot_seq: *lot_seq,
                    amount: *amount,
                    sent: ex.sent,
                }),
                Some(_) => {}
            }
        }
    }
    for spec in auctions {
        if let Some(bids) = lots.get_mut(&*spec.lot) {
            bids.acks.sort_by_key(|a| a.lot_seq);
            check_acks(history, &spec.lot, &bids.acks, v);
        }
    }
    let specs: HashMap<&str, &AuctionSpec> = auctions.iter().map(|a| (&*a.lot, a)).collect();
    let mut origin_checked: HashSet<(Arc<str>, u64)> = HashSet::new();
    // Endings seen, per lot: (client, lot_closed winner or won amount).
    let mut endings: HashMap<&str, Vec<(usize, Ending)>> = HashMap::new();
    for c in 0..history.clients.len() {
        viewer(history, c, &digests, &specs, &lots, &mut origin_checked, v);
        for r in &history.clients[c].records {
            let (lot, ending) = match r {
                Record::LotClosed { lot, winner, .. } => (lot, Ending::Closed(*winner)),
                Record::Won { lot, amount, .. } => (lot, Ending::Won(*amount)),
                _ => continue,
            };
            if let Some((lot, _)) = specs.get_key_value(&**lot) {
                endings.entry(lot).or_default().push((c, ending));
            }
        }
    }
    for spec in auctions {
        let Some(bids) = lots.get(&*spec.lot) else {
            continue;
        };
        let high = bids.acks.iter().max_by_key(|a| a.amount).copied();
        let ends = endings.get(&*spec.lot).map_or(&[][..], Vec::as_slice);
        let exact = !bids.unanswered;
        winner(history, &digests, spec, high, exact, readback, ends, v);
    }
    v.pass = v.violations.is_empty();
}

/// How a client learnt of a lot's end.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// A `lot_closed` event, with its winner (user digest, amount).
    Closed(Option<(u64, i64)>),
    /// A `won` notice at this amount.
    Won(i64),
}

/// Acknowledged bids: one per `lot_seq`, amounts increasing with it.
fn check_acks(history: &History, lot: &str, acks: &[Ack], v: &mut Verdict) {
    for pair in acks.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let name = |x: Ack| &history.clients[x.client].name;
        if a.lot_seq == b.lot_seq {
            v.fail(
                "bid_order",
                format!(
                    "lot {lot}: lot_seq {} acknowledged twice ({} at {}, {} at {})",
                    a.lot_seq,
                    name(a),
                    a.amount,
                    name(b),
                    b.amount
                ),
            );
        } else if b.amount <= a.amount {
            v.fail(
                "bid_order",
                format!(
                    "lot {lot}: acknowledged bid {} (lot_seq {}) is not above {} (lot_seq {})",
                    b.amount, b.lot_seq, a.amount, a.lot_seq
                ),
            );
        }
    }
}

/// What one viewer saw of one lot.
#[derive(Default)]
struct Seen {
    /// The last bid event: (lot_seq, amount).
    last: Option<(u64, i64)>,
    /// lot_seq -> (amount, bidder digest).
    bids: HashMap<u64, (i64, u64)>,
    closed: bool,
}

/// One client's bid events, for every lot whose room it watched.
fn viewer(
    history: &History,
    c: usize,
    digests: &[u64],
    specs: &HashMap<&str, &AuctionSpec>,
    lots: &HashMap<&str, LotBids>,
    origin_checked: &mut HashSet<(Arc<str>, u64)>,
    v: &mut Verdict,
) {
    let log = &history.clients[c];
    let name = &log.name;
    let mut joined: HashMap<Arc<str>, Micros> = HashMap::new();
    for ex in log.exchanges() {
        if let (Op::Join { room }, Some((at, Outcome::Snapshot { .. }))) = (ex.op, ex.reply) {
            joined.entry(room.clone()).or_insert(at);
        }
    }
    if joined.is_empty() {
        return;
    }
    let mut disrupted: Micros = 0;
    let mut seen: HashMap<Arc<str>, Seen> = HashMap::new();
    for r in &log.records {
        match r {
            Record::Lagged { at } | Record::Resync { at, .. } => disrupted = disrupted.max(*at),
            Record::Bid {
                lot,
                amount,
                lot_seq,
                bidder,
                ..
            } => {
                let s = seen.entry(lot.clone()).or_default();
                if let Some((ps, pa)) = s.last
                    && (*lot_seq <= ps || *amount <= pa)
                {
                    v.fail(
                        "bid_order",
                        format!(
                            "{name}: lot {lot}: bid {amount} (lot_seq {lot_seq}) after \
                             {pa} (lot_seq {ps}): not strictly increasing"
                        ),
                    );
                }
                s.last = Some((*lot_seq, *amount));
                s.bids.insert(*lot_seq, (*amount, *bidder));
                let made = lots
                    .get(&**lot)
                    .is_none_or(|b| b.sent.contains(&(*bidder, *amount)));
                if !made && origin_checked.insert((lot.clone(), *lot_seq)) {
                    v.fail(
                        "bid_origin",
                        format!(
                            "{name}: lot {lot}: bid {amount} (lot_seq {lot_seq}) that its \
                             bidder never sent"
                        ),
                    );
                }
            }
            Record::LotClosed { lot, .. } => seen.entry(lot.clone()).or_default().closed = true,
            _ => {}
        }
    }
    let empty = Seen::default();
    for (lot, spec) in specs {
        let (Some(&joined), Some(bids)) = (joined.get(&spec.room), lots.get(lot)) else {
            continue;
        };
        let s = seen.get(*lot).unwrap_or(&empty);
        let covered_from = joined.max(disrupted);
        let read_to = s.last.map_or(0, |(seq, _)| seq);
        for ack in &bids.acks {
            if ack.sent <= covered_from || (!s.closed && ack.lot_seq > read_to) {
                continue;
            }
            let bidder = &history.clients[ack.client].name;
            match s.bids.get(&ack.lot_seq) {
                None => v.fail(
                    "bid_seen",
                    format!(
                        "{name} never saw the acknowledged bid {} (lot_seq {}) of {bidder} on lot {lot}",
                        ack.amount, ack.lot_seq
                    ),
                ),
                Some(&(amount, who)) if amount != ack.amount || who != digests[ack.client] => {
                    v.fail(
                        "bid_seen",
                        format!(
                            "{name} saw lot_seq {} of lot {lot} as {amount}{}, but {bidder} was \
                             acknowledged {} at it",
                            ack.lot_seq,
                            if who == digests[ack.client] {
                                ""
                            } else {
                                " by another bidder"
                            },
                            ack.amount
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }
}

/// The final state against the highest acknowledged bid.
#[allow(clippy::too_many_arguments)]
fn winner(
    history: &History,
    digests: &[u64],
    spec: &AuctionSpec,
    high: Option<Ack>,
    exact: bool,
    readback: &HashMap<String, AuctionReadback>,
    ends: &[(usize, Ending)],
    v: &mut Verdict,
) {
    let lot = &*spec.lot;
    let want = high.map(|h| (history.clients[h.client].user_id.as_str(), h.amount));
    let shown = match want {
        Some((user, amount)) => format!("{amount} by {user}"),
        None => "none".to_owned(),
    };
    // Does (user digest, amount) agree with the highest acknowledged bid?
    let agrees = |who: Option<u64>, amount: Option<i64>| match (high, amount) {
        (None, None) => true,
        (None, Some(_)) => !exact,
        (Some(_), None) => false,
        (Some(h), Some(a)) if exact => a == h.amount && who.is_none_or(|w| w == digests[h.client]),
        (Some(h), Some(a)) => a >= h.amount,
    };
    let Some(state) = readback.get(lot) else {
        v.fail(
            "bid_winner",
            format!("lot {lot} missing from the read-back state"),
        );
        return;
    };
    let bidder = state.high_bidder.as_deref().map(|u| fnv1a(u.as_bytes()));
    if !agrees(bidder, state.high_bid) {
        v.fail(
            "bid_winner",
            format!(
                "lot {lot}: read back high bid {:?} by {:?}, but the highest acknowledged bid is {shown}",
                state.high_bid, state.high_bidder
            ),
        );
    }
    if spec.closed && !matches!(state.status.as_str(), "closed" | "settled") {
        v.fail(
            "bid_winner",
            format!(
                "lot {lot}: closed by the run but reads back {:?}",
                state.status
            ),
        );
    }
    if state.status == "settled"
        && let (Some(amount), Some(user)) = (state.high_bid, &state.high_bidder)
        && !state.orders.iter().any(|(b, a)| b == user && *a == amount)
    {
        v.fail(
            "bid_winner",
            format!("lot {lot}: settled, but no order of {user} at {amount} was read back"),
        );
    }
    for &(c, ending) in ends {
        let log = &history.clients[c];
        match ending {
            Ending::Closed(w) if !agrees(w.map(|w| w.0), w.map(|w| w.1)) => v.fail(
                "bid_winner",
                format!(
                    "{}: lot_closed of lot {lot} names the winning bid {:?}, but the \
                     highest acknowledged bid is {shown}",
                    log.name,
                    w.map(|w| w.1)
                ),
            ),
            Ending::Won(amount) if !agrees(Some(digests[c]), Some(amount)) => v.fail(
                "bid_winner",
                format!(
                    "{} was told it won lot {lot} at {amount}, but the highest \
                     acknowledged bid is {shown}",
                    log.name
                ),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "bids_tests.rs"]
mod tests;
