//! Sale lots: stock, holds with a time to live, per-user limits, checkout
//! with idempotency keys, a FIFO queue for returned units, and raffles.
//!
//! Choices where the contract is silent:
//! - A hold asks for `qty` units; when fewer are available (and nobody is
//!   queued) the buyer gets a hold for what is left and the reply says so.
//! - When nothing is available but units sit in live holds and may come back,
//!   `hold` queues the buyer (answered `queued` with a 1-based position);
//!   when nothing can come back it is `sold_out`. A buyer already queued gets
//!   their position again. Newcomers never jump the queue: while anyone
//!   queues, nothing is available to others.
//! - Returned units (released or expired holds) go to the head of the queue
//!   as a new hold for as many of its units as are available.
//! - The per-user limit counts units held, bought and queued for.
//! - Closing a FIFO lot stops new holds and clears the queue; live holds may
//!   still be checked out until they expire, then the lot is settled.
//! - Raffle winners (one unit each) get an order at the draw, as in sneaker
//!   draws where entering commits to buy.
//! - `checkout` of a hold that is gone (expired, released, bought) answers
//!   `hold_expired`; a hold this lot never made, or another buyer's, is
//!   `not_found`.
//! - When nothing is available and nothing is held, nothing can come back:
//!   the queue ends (`QueueEnded`) and each queued buyer is told.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use liveshop_protocol::{Allocation, Amount, IdemKey, LotView, SaleTerms, UserId};
use serde::{Deserialize, Serialize};

use super::LotEvent;
use crate::raffle;

mod commands;

pub(in crate::lot) use commands::{checkout, enter, hold, on_close, release, tick};

/// Most raffle entries one lot takes.
pub const MAX_ENTRIES: usize = 500_000;
/// Longest wait between `hold_expiring` and the expiry.
const WARNING_LEAD_MS: u64 = 30_000;

/// How long before its expiry a hold's owner is warned.
pub fn hold_warning_lead_ms(hold_ttl_ms: u64) -> u64 {
    WARNING_LEAD_MS.min(hold_ttl_ms / 2)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub user: UserId,
    pub qty: u32,
    pub expires_ms: u64,
}

/// One buyer's units on this lot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Tally {
    held: u32,
    bought: u32,
    queued: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    terms: SaleTerms,
    holds: BTreeMap<u64, Hold>,
    /// `(expires_ms, hold)` of live holds.
    expiries: BTreeSet<(u64, u64)>,
    /// `(warn_at_ms, hold)` of live holds not warned yet.
    warnings: BTreeSet<(u64, u64)>,
    held: u32,
    sold: u32,
    tallies: BTreeMap<UserId, Tally>,
    queue: VecDeque<(UserId, u32)>,
    checkouts: BTreeMap<(UserId, IdemKey), (u64, Amount)>,
    last_hold: u64,
    last_order: u64,
    entries: Vec<UserId>,
    entered: BTreeSet<UserId>,
    seed: Option<[u8; 32]>,
    winners: Option<Vec<u32>>,
}

impl Sale {
    pub(super) fn new(terms: SaleTerms) -> Self {
        Sale {
            terms,
            holds: BTreeMap::new(),
            expiries: BTreeSet::new(),
            warnings: BTreeSet::new(),
            held: 0,
            sold: 0,
            tallies: BTreeMap::new(),
            queue: VecDeque::new(),
            checkouts: BTreeMap::new(),
            last_hold: 0,
            last_order: 0,
            entries: Vec::new(),
            entered: BTreeSet::new(),
            seed: None,
            winners: None,
        }
    }

    pub fn is_raffle(&self) -> bool {
        self.terms.allocation == Allocation::Raffle
    }

    pub fn stock(&self) -> u32 {
        self.terms.stock
    }

    pub fn sold(&self) -> u32 {
        self.sold
    }

    /// Units in live holds.
    pub fn held(&self) -> u32 {
        self.held
    }

    pub fn available(&self) -> u32 {
        self.terms
            .stock
            .saturating_sub(self.sold)
            .saturating_sub(self.held)
    }

    pub fn holds(&self) -> impl Iterator<Item = (u64, &Hold)> {
        self.holds.iter().map(|(n, h)| (*n, h))
    }

    /// Units `user` holds and has bought.
    pub fn units_of(&self, user: &UserId) -> (u32, u32) {
        self.tallies
            .get(user)
            .map_or((0, 0), |t| (t.held, t.bought))
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Buyers waiting in the queue, head first.
    pub fn queued_users(&self) -> Vec<UserId> {
        self.queue.iter().map(|(u, _)| u.clone()).collect()
    }

    /// Raffle entries, in entry order.
    pub fn entries(&self) -> &[UserId] {
        &self.entries
    }

    /// The committed seed, once the raffle has drawn (secret before).
    pub fn revealed_seed(&self) -> Option<[u8; 32]> {
        self.seed.filter(|_| self.winners.is_some())
    }

    /// Raffle winners (positions in entry order, in draw order), once drawn.
    pub fn winners(&self) -> Option<&[u32]> {
        self.winners.as_deref()
    }

    fn max_queue(&self) -> usize {
        (self.terms.stock as usize)
            .saturating_mul(10)
            .clamp(100, 100_000)
    }

    fn warn_at(&self, expires_ms: u64) -> u64 {
        expires_ms.saturating_sub(hold_warning_lead_ms(self.terms.hold_ttl_ms))
    }

    fn tally(&mut self, user: &UserId) -> &mut Tally {
        self.tallies.entry(user.clone()).or_default()
    }

    fn drop_hold(&mut self, n: u64) -> Option<Hold> {
        let hold = self.holds.remove(&n)?;
        self.expiries.remove(&(hold.expires_ms, n));
        self.warnings.remove(&(self.warn_at(hold.expires_ms), n));
        self.held = self.held.saturating_sub(hold.qty);
        let t = self.tally(&hold.user);
        t.held = t.held.saturating_sub(hold.qty);
        Some(hold)
    }

    fn add_sold(&mut self, user: &UserId, qty: u32) {
        self.sold = self.sold.saturating_add(qty);
        let t = self.tally(user);
        t.bought = t.bought.saturating_add(qty);
    }

    pub(super) fn apply(&mut self, ev: &LotEvent) {
        match ev {
            LotEvent::Opened { seed, .. } => self.seed = *seed,
            // A hold number is used once; a repeat can only come from a
            // damaged log and must not corrupt the indexes.
            LotEvent::HoldPlaced { hold, .. } if self.holds.contains_key(hold) => {}
            LotEvent::HoldPlaced {
                hold,
                user,
                qty,
                expires_ms,
                offered,
            } => {
                if *offered
                    && self.queue.front().is_some_and(|(u, _)| u == user)
                    && let Some((_, queued)) = self.queue.pop_front()
                {
                    let t = self.tally(user);
                    t.queued = t.queued.saturating_sub(queued);
                }
                self.holds.insert(
                    *hold,
                    Hold {
                        user: user.clone(),
                        qty: *qty,
                        expires_ms: *expires_ms,
                    },
                );
                self.expiries.insert((*expires_ms, *hold));
                self.warnings.insert((self.warn_at(*expires_ms), *hold));
                self.held = self.held.saturating_add(*qty);
                let t = self.tally(user);
                t.held = t.held.saturating_add(*qty);
                self.last_hold = self.last_hold.max(*hold);
            }
            LotEvent::HoldWarned { hold } => {
                if let Some(h) = self.holds.get(hold) {
                    let key = (self.warn_at(h.expires_ms), *hold);
                    self.warnings.remove(&key);
                }
            }
            LotEvent::HoldReleased { hold } | LotEvent::HoldExpired { hold } => {
                self.drop_hold(*hold);
            }
            LotEvent::Queued { user, qty } => {
                self.queue.push_back((user.clone(), *qty));
                let t = self.tally(user);
                t.queued = t.queued.saturating_add(*qty);
            }
            LotEvent::CheckedOut {
                hold,
                order,
                idem,
                total,
                ..
            } => {
                if let Some(h) = self.drop_hold(*hold) {
                    self.add_sold(&h.user, h.qty);
                    self.checkouts
                        .insert((h.user, idem.clone()), (*order, *total));
                }
                self.last_order = self.last_order.max(*order);
            }
            LotEvent::Entered { user } if self.entered.insert(user.clone()) => {
                self.entries.push(user.clone());
            }
            LotEvent::Closed { .. } | LotEvent::QueueEnded => {
                for (user, qty) in std::mem::take(&mut self.queue) {
                    let t = self.tally(&user);
                    t.queued = t.queued.saturating_sub(qty);
                }
            }
            LotEvent::Drawn { winners } => self.winners = Some(winners.clone()),
            LotEvent::OrderPlaced {
                order, buyer, qty, ..
            } => {
                self.add_sold(buyer, *qty);
                self.last_order = self.last_order.max(*order);
            }
            _ => {}
        }
    }

    pub(super) fn next_deadline(&self) -> Option<u64> {
        let expiry = self.expiries.first().map(|(t, _)| *t);
        let warning = self.warnings.first().map(|(t, _)| *t);
        match (expiry, warning) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn fill_view(&self, view: &mut LotView) {
        view.price = Some(self.terms.price);
        view.stock = Some(self.terms.stock);
        view.available = Some(self.available());
        view.sold = Some(self.sold);
        view.per_user_limit = self.terms.per_user_limit;
        view.allocation = Some(self.terms.allocation);
        if self.is_raffle() {
            view.seed_hash = self.seed.as_ref().map(raffle::seed_hash);
            view.seed = self.revealed_seed().map(|s| raffle::hex(&s));
        }
    }

    /// Checks the bookkeeping; for tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        let held: u64 = self.holds.values().map(|h| u64::from(h.qty)).sum();
        if held != u64::from(self.held) {
            return Err(format!("held {} but holds sum to {held}", self.held));
        }
        if u64::from(self.held) + u64::from(self.sold) > u64::from(self.terms.stock) {
            return Err(format!(
                "oversold: held {} + sold {} > stock {}",
                self.held, self.sold, self.terms.stock
            ));
        }
        if self.expiries.len() != self.holds.len() || self.warnings.len() > self.holds.len() {
            return Err("expiry or warning index out of step with holds".into());
        }
        if !self.queue.is_empty() && self.held == 0 {
            return Err("buyers queue but nothing can come back".into());
        }
        for &(at, n) in &self.warnings {
            if self.holds.get(&n).map(|h| self.warn_at(h.expires_ms)) != Some(at) {
                return Err(format!("warning entry ({at}, {n}) matches no hold"));
            }
        }
        for &(at, n) in &self.expiries {
            if self.holds.get(&n).map(|h| h.expires_ms) != Some(at) {
                return Err(format!("expiry entry ({at}, {n}) matches no hold"));
            }
        }
        let mut per_user: BTreeMap<&UserId, (u32, u32)> = BTreeMap::new();
        for h in self.holds.values() {
            per_user.entry(&h.user).or_default().0 += h.qty;
        }
        for (user, qty) in &self.queue {
            per_user.entry(user).or_default().1 += qty;
        }
        for (user, t) in &self.tallies {
            let (held, queued) = per_user.remove(user).unwrap_or_default();
            if (t.held, t.queued) != (held, queued) {
                return Err(format!(
                    "{user}: tally {t:?}, but holds {held} and queue {queued}"
                ));
            }
        }
        if !per_user.is_empty() {
            return Err("holds or queue entries of a user without a tally".into());
        }
        if !self.queue.is_empty() && self.available() > 0 {
            return Err("units available while buyers queue".into());
        }
        if let Some(limit) = self.terms.per_user_limit {
            for (user, t) in &self.tallies {
                if t.held + t.bought + t.queued > limit {
                    return Err(format!("{user} over the per-user limit: {t:?}"));
                }
            }
        }
        Ok(())
    }
}
