//! The history checker: decides from what the clients saw (and the state
//! read back through the API at the end) whether the node kept the
//! contract's promises. It reports a violation only when the history proves
//! one; every time bound below is chosen so that network delay can make the
//! checker miss a violation but never invent one.
//!
//! Rules (this slice: sale lots and room event streams):
//! - `hold_unique`: no hold id is granted twice.
//! - `oversold`: at no instant do units *definitely* in live holds plus
//!   units sold exceed the lot's stock. A hold granted by an `ok` reply is
//!   definitely live from the reply's arrival until the request's send time
//!   plus the lot's `hold_ttl_ms`, or until its release was sent; a hold that
//!   was checked out counts from its grant on for ever (it became a sale). A
//!   `queue_offer` hold counts only at the instant it arrived.
//! - `sold_once`: no hold is checked out into two different orders, no order
//!   id stands for two holds, and nobody checks out a hold they were never
//!   given.
//! - `room_seq`: each viewer's events of a room arrive with `seq` = the
//!   join snapshot's `seq` + 1, + 2, ... without gaps or repeats; a
//!   resynchronisation (an `ok` without `rid` carrying a snapshot, after a
//!   `lagged` notice) restarts the count from its snapshot.
//! - `room_order`: all viewers saw the same event at the same `seq` (so the
//!   same events in the same order).
//! - `answered`: every request got its reply, unless the connection ended
//!   first (a late reply still counts: clients keep reading to the end).
//! - `readback`: every acknowledged order is in the seller's order list for
//!   its lot; the lot read back has the stock asked for and
//!   `sold + available <= stock`; `sold` is at least the units of the
//!   acknowledged orders, and exactly that when every checkout was answered
//!   (then no order may exist that nobody was told about).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::history::{History, Micros, Op, Outcome, Record};

/// At most this many example messages are kept per rule.
const EXAMPLES: usize = 10;

/// A sale lot the run created, as the checker must know it.
#[derive(Debug, Clone)]
pub struct SaleSpec {
    pub lot: Arc<str>,
    pub stock: u64,
    pub hold_ttl_ms: u64,
}

/// A lot as `GET /api/v1/lots/{id}` returned it at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotReadback {
    pub stock: u64,
    pub sold: u64,
    pub available: u64,
    pub status: String,
}

/// An order as the seller's order list returned it at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReadback {
    pub order: String,
    pub lot: String,
    pub buyer: String,
    pub qty: u64,
}

/// The state read back through the API after the run.
#[derive(Debug, Clone, Default)]
pub struct Readback {
    pub lots: HashMap<String, LotReadback>,
    pub orders: Vec<OrderReadback>,
}

/// One broken rule: how often and a few examples.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub count: usize,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Verdict {
    pub pass: bool,
    pub rules: Vec<&'static str>,
    pub violations: Vec<Violation>,
    /// The most units definitely held or sold at once, per lot.
    pub peak_units: BTreeMap<String, u64>,
}

impl Verdict {
    /// Units over stock at the worst instant, summed over lots (0 = none).
    pub fn oversold(&self, sales: &[SaleSpec]) -> u64 {
        sales
            .iter()
            .map(|s| {
                let peak = self.peak_units.get(&*s.lot).copied().unwrap_or(0);
                peak.saturating_sub(s.stock)
            })
            .sum()
    }

    pub(crate) fn fail(&mut self, rule: &'static str, message: String) {
        match self.violations.iter_mut().find(|v| v.rule == rule) {
            Some(v) => {
                v.count += 1;
                if v.examples.len() < EXAMPLES {
                    v.examples.push(message);
                }
            }
            None => self.violations.push(Violation {
                rule,
                count: 1,
                examples: vec![message],
            }),
        }
    }

    /// The first violation's first example, for a one-line summary.
    pub fn first_message(&self) -> Option<String> {
        let v = self.violations.first()?;
        Some(format!(
            "{}: {} ({} in all)",
            v.rule,
            v.examples.first().map(String::as_str).unwrap_or(""),
            v.count
        ))
    }
}

/// Checks `history` against the rules above.
pub fn check(history: &History, sales: &[SaleSpec], readback: &Readback) -> Verdict {
    let mut verdict = Verdict {
        rules: vec![
            "hold_unique",
            "oversold",
            "sold_once",
            "room_seq",
            "room_order",
            "answered",
            "readback",
        ],
        ..Verdict::default()
    };
    for sale in sales {
        check_sale(history, sale, readback, &mut verdict);
    }
    rooms::check_rooms(history, &mut verdict);
    rooms::check_answered(history, &mut verdict);
    verdict.pass = verdict.violations.is_empty();
    verdict
}

/// A hold as the clients saw it.
struct Grant {
    client: usize,
    qty: u64,
    /// When it was definitely live from, and until (None: for ever, sold).
    from: Micros,
    until: Option<Micros>,
}

fn check_sale(history: &History, sale: &SaleSpec, readback: &Readback, v: &mut Verdict) {
    let ttl_us = sale.hold_ttl_ms.saturating_mul(1000);
    let lot = &*sale.lot;
    let mut grants: HashMap<Arc<str>, Grant> = HashMap::new();
    // Every hold id ever granted, to tell a checkout of a foreign hold.
    let mut owners: HashMap<Arc<str>, usize> = HashMap::new();
    // First pass: grants.
    for (c, log) in history.clients.iter().enumerate() {
        let mut grant = |hold: &Arc<str>, qty: u64, from: Micros, until: Micros| {
            if let Some(prev) = owners.insert(hold.clone(), c) {
                v.fail(
                    "hold_unique",
                    format!(
                        "hold {hold} granted to {} and again to {}",
                        history.clients[prev].name, log.name
                    ),
                );
                return;
            }
            grants.insert(
                hold.clone(),
                Grant {
                    client: c,
                    qty,
                    from,
                    until: Some(until),
                },
            );
        };
        for ex in log.exchanges() {
            if let (Op::Hold { lot: l, .. }, Some((at, Outcome::Held { hold, qty }))) =
                (ex.op, ex.reply)
                && &**l == lot
            {
                // Live from the reply until at least send + TTL; an empty
                // interval (the reply came after that) proves nothing.
                let until = ex.sent.saturating_add(ttl_us).max(at);
                grant(hold, u64::from(*qty), at, until);
            }
        }
        for r in &log.records {
            if let Record::Offer { at, lot: l, hold } = r
                && &**l == lot
            {
                grant(hold, 1, *at, at.saturating_add(1));
            }
        }
    }
    // Second pass: checkouts and releases change how long a grant counts.
    let mut order_of: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    let mut hold_of: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    // Acknowledged orders: order -> (client, units).
    let mut acked: HashMap<Arc<str>, (usize, u64)> = HashMap::new();
    let mut unanswered_checkouts = 0usize;
    for (c, log) in history.clients.iter().enumerate() {
        for ex in log.exchanges() {
            match (ex.op, ex.reply) {
                (Op::Checkout { hold, .. }, reply) if grants.contains_key(hold) => {
                    let Some((_, outcome)) = reply else {
                        unanswered_checkouts += 1;
                        continue;
                    };
                    let Outcome::Ordered { order, .. } = outcome else {
                        continue;
                    };
                    let g = grants.get_mut(hold).expect("checked above");
                    if g.client != c {
                        v.fail(
                            "sold_once",
                            format!(
                                "{} checked out hold {hold} of {} as order {order}",
                                log.name, history.clients[g.client].name
                            ),
                        );
                    }
                    g.until = None;
                    if let Some(prev) = order_of.insert(hold.clone(), order.clone())
                        && prev != *order
                    {
                        v.fail(
                            "sold_once",
                            format!("hold {hold} sold twice: orders {prev} and {order}"),
                        );
                    }
                    if let Some(prev) = hold_of.insert(order.clone(), hold.clone())
                        && prev != *hold
                    {
                        v.fail(
                            "sold_once",
                            format!("order {order} stands for holds {prev} and {hold}"),
                        );
                    } else {
                        acked.entry(order.clone()).or_insert((c, g.qty));
                    }
                }
                (Op::Checkout { hold, .. }, Some((_, Outcome::Ordered { order, .. })))
                    if hold.starts_with(lot) =>
                {
                    // Ids embed their lot (docs/protocol.md), so a hold of
                    // this lot nobody was granted is visible here.
                    v.fail(
                        "sold_once",
                        format!(
                            "{} checked out hold {hold}, never granted, as {order}",
                            log.name
                        ),
                    );
                }
                (Op::Release { hold }, Some((_, Outcome::Ok))) => {
                    if let Some(g) = grants.get_mut(hold)
                        && let Some(until) = g.until
                    {
                        g.until = Some(until.min(ex.sent).max(g.from));
                    }
                }
                _ => {}
            }
        }
    }
    sweep(sale, &grants, v);
    readback::check_readback(
        history,
        sale,
        readback,
        &acked,
        unanswered_checkouts == 0,
        v,
    );
}

/// The most units definitely held or sold at one instant.
fn sweep(sale: &SaleSpec, grants: &HashMap<Arc<str>, Grant>, v: &mut Verdict) {
    // (time, +qty or -qty); at equal times ends go first, so touching
    // intervals never count as overlapping.
    let mut points: Vec<(Micros, i64)> = Vec::with_capacity(grants.len() * 2);
    for g in grants.values() {
        let qty = i64::try_from(g.qty).unwrap_or(i64::MAX);
        match g.until {
            Some(until) if until <= g.from => {}
            Some(until) => {
                points.push((g.from, qty));
                points.push((until, -qty));
            }
            None => points.push((g.from, qty)),
        }
    }
    points.sort_unstable();
    let (mut now, mut peak, mut peak_at) = (0i64, 0i64, 0);
    for (at, delta) in points {
        now += delta;
        if now > peak {
            (peak, peak_at) = (now, at);
        }
    }
    let peak = u64::try_from(peak).unwrap_or(0);
    v.peak_units.insert(sale.lot.to_string(), peak);
    if peak > sale.stock {
        v.fail(
            "oversold",
            format!(
                "lot {}: {peak} units held or sold at once (at {:.3} s) but stock is {}",
                sale.lot,
                peak_at as f64 / 1e6,
                sale.stock
            ),
        );
    }
}

pub mod bids;
mod readback;
mod rooms;
#[cfg(test)]
mod tests;
