//! Auction lots: ascending bids on the increment ladder, proxy bidding,
//! anti-snipe extension, one winner at close.
//!
//! Proxy bidding: a `max_bid` sets a ceiling; the lot bids for its owner only
//! as much as it takes, one increment above the competitor, up to the ceiling.
//! When an offer meets a leader's ceiling exactly, the earlier ceiling wins.
//! Every bid the lot records, plain or proxy, gets the next `lot_seq`, and the
//! recorded amounts are strictly increasing.

use liveshop_protocol::{
    Amount, AuctionTerms, LotView, Notice, OrderId, RoomEvent, UserId, Winner,
};
use serde::{Deserialize, Serialize};

use super::{Effect, Lot, LotDef, LotEvent, LotReply, Outcome};
use crate::error::Rejection;
use crate::ladder::next_bid;
use crate::lot::MAX_AMOUNT;

/// The number the winning order of an auction gets.
const WINNING_ORDER: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Leader {
    bidder: UserId,
    amount: Amount,
    /// Proxy ceiling; equals `amount` for a plain bid.
    max: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    terms: AuctionTerms,
    leader: Option<Leader>,
    lot_seq: u64,
}

impl Auction {
    pub(super) fn new(terms: AuctionTerms) -> Self {
        Auction {
            terms,
            leader: None,
            lot_seq: 0,
        }
    }

    /// The `lot_seq` of the last accepted bid (0 before the first).
    pub fn lot_seq(&self) -> u64 {
        self.lot_seq
    }

    /// The current high bid and bidder.
    pub fn high(&self) -> Option<(&UserId, Amount)> {
        self.leader.as_ref().map(|l| (&l.bidder, l.amount))
    }

    /// The lowest bid that would be accepted now.
    pub fn min_bid(&self, def: &LotDef) -> Amount {
        match &self.leader {
            None => self.terms.start_price.max(1),
            Some(l) => next_bid(l.amount, def.currency, self.terms.min_increment),
        }
    }

    pub(super) fn apply(&mut self, ev: &LotEvent) {
        match ev {
            LotEvent::BidPlaced {
                bidder,
                amount,
                max,
                lot_seq,
                ..
            } => {
                self.lot_seq = *lot_seq;
                self.leader = Some(Leader {
                    bidder: bidder.clone(),
                    amount: *amount,
                    max: (*max).max(*amount),
                });
            }
            LotEvent::MaxRaised { max } => {
                if let Some(l) = &mut self.leader {
                    l.max = l.max.max(*max);
                }
            }
            _ => {}
        }
    }

    pub(super) fn fill_view(&self, def: &LotDef, view: &mut LotView) {
        view.start_price = Some(self.terms.start_price);
        view.high_bid = self.leader.as_ref().map(|l| l.amount);
        view.high_bidder = self.leader.as_ref().map(|l| l.bidder.clone());
        view.min_bid = Some(self.min_bid(def));
    }
}

fn auction(lot: &Lot) -> Option<&Auction> {
    lot.auction()
}

/// A plain bid (`proxy == false`, `amount` is the bid) or a proxy bid
/// (`proxy == true`, `amount` is the ceiling) from `bidder` on an open lot.
pub(super) fn offer(
    lot: &mut Lot,
    bidder: UserId,
    amount: Amount,
    proxy: bool,
    now_ms: u64,
    out: &mut Outcome,
) -> Result<LotReply, Rejection> {
    let Some(a) = auction(lot) else {
        return Err(Rejection::BadState("not an auction lot"));
    };
    if amount > MAX_AMOUNT {
        return Err(Rejection::BadRequest("amount out of range".into()));
    }
    let need = a.min_bid(&lot.def);
    let currency = lot.def.currency;
    let fixed = a.terms.min_increment;
    let leader = a.leader.clone();

    let Some(leader) = leader else {
        if amount < need {
            return Err(Rejection::BidTooLow { min_amount: need });
        }
        let shown = if proxy { need } else { amount };
        let seq = place(lot, &bidder, shown, amount, now_ms, out);
        return Ok(reply(proxy, seq, shown, shown));
    };

    if leader.bidder == bidder {
        // The leader raises their own bid or ceiling.
        if proxy {
            if amount <= leader.max {
                return Err(Rejection::BidTooLow {
                    min_amount: leader.max.saturating_add(1),
                });
            }
            lot.emit(out, LotEvent::MaxRaised { max: amount });
            return Ok(LotReply::MaxBid {
                current: leader.amount,
            });
        }
        if amount < need {
            return Err(Rejection::BidTooLow { min_amount: need });
        }
        let seq = place(lot, &bidder, amount, leader.max.max(amount), now_ms, out);
        return Ok(reply(false, seq, amount, amount));
    }

    if amount < need {
        return Err(Rejection::BidTooLow { min_amount: need });
    }
    if amount > leader.max {
        // The challenger wins. The leader's ceiling is revealed first, so the
        // price history shows how far the proxy went.
        if leader.max > leader.amount {
            place(lot, &leader.bidder, leader.max, leader.max, now_ms, out);
        }
        let shown = if proxy {
            amount.min(next_bid(leader.max, currency, fixed))
        } else {
            amount
        };
        let seq = place(lot, &bidder, shown, amount, now_ms, out);
        notify_outbid(lot, &leader.bidder, shown, out);
        return Ok(reply(proxy, seq, shown, shown));
    }
    if amount == leader.max {
        // A tie goes to the earlier ceiling: reveal it, refuse the offer.
        if leader.max > leader.amount {
            place(lot, &leader.bidder, leader.max, leader.max, now_ms, out);
        }
        return Err(Rejection::BidTooLow {
            min_amount: next_bid(leader.max, currency, fixed),
        });
    }
    // The leader's ceiling beats the offer: record the offer, then the proxy's
    // answer one increment above it.
    let seq = place(lot, &bidder, amount, amount, now_ms, out);
    let answer = leader.max.min(next_bid(amount, currency, fixed));
    place(lot, &leader.bidder, answer, leader.max, now_ms, out);
    notify_outbid(lot, &bidder, answer, out);
    Ok(reply(proxy, seq, amount, answer))
}

fn reply(proxy: bool, lot_seq: u64, amount: Amount, current: Amount) -> LotReply {
    if proxy {
        LotReply::MaxBid { current }
    } else {
        LotReply::Bid { lot_seq, amount }
    }
}

/// Records one accepted bid; extends the end if it came within the
/// anti-snipe window. Returns its `lot_seq`.
fn place(
    lot: &mut Lot,
    bidder: &UserId,
    amount: Amount,
    max: Amount,
    now_ms: u64,
    out: &mut Outcome,
) -> u64 {
    let (lot_seq, window) = match auction(lot) {
        Some(a) => (a.lot_seq.saturating_add(1), a.terms.anti_snipe_ms),
        None => return 0,
    };
    let end = lot.ends_ms.unwrap_or(now_ms);
    let ends_ms = if window > 0 && end.saturating_sub(now_ms) < window {
        end.max(now_ms.saturating_add(window))
    } else {
        end
    };
    lot.emit(
        out,
        LotEvent::BidPlaced {
            bidder: bidder.clone(),
            amount,
            max,
            lot_seq,
            ends_ms,
        },
    );
    out.effects.push(Effect::Room(RoomEvent::Bid {
        lot: lot.def.id.clone(),
        amount,
        bidder: bidder.clone(),
        lot_seq,
        ends_ms,
    }));
    lot_seq
}

fn notify_outbid(lot: &Lot, user: &UserId, amount: Amount, out: &mut Outcome) {
    out.effects.push(Effect::Notice(
        user.clone(),
        Notice::Outbid {
            lot: lot.def.id.clone(),
            amount,
        },
    ));
}

/// After `Closed`: the high bidder wins and gets an order; then `Settled`.
pub(super) fn settle(lot: &mut Lot, out: &mut Outcome) {
    let winner = auction(lot).and_then(|a| a.leader.clone());
    let mut winners = Vec::new();
    if let Some(w) = winner {
        let order = OrderId::for_lot(&lot.def.id, WINNING_ORDER);
        lot.emit_order(
            out,
            LotEvent::OrderPlaced {
                order: WINNING_ORDER,
                buyer: w.bidder.clone(),
                qty: 1,
                total: w.amount,
            },
        );
        out.effects.push(Effect::Notice(
            w.bidder.clone(),
            Notice::Won {
                lot: lot.def.id.clone(),
                order: order.clone(),
                amount: w.amount,
            },
        ));
        winners.push(Winner {
            user: w.bidder,
            amount: w.amount,
            qty: 1,
        });
    }
    lot.emit(out, LotEvent::Settled);
    out.effects.push(Effect::Room(RoomEvent::LotClosed {
        lot: lot.def.id.clone(),
        winners,
    }));
}
