//! A product lot: an auction or a sale (first come or raffle).
//!
//! # Driving a lot
//! A [`Lot`] is a plain value. Its owner (the LotActor) feeds it, one at a time:
//! - [`Lot::handle`] with a [`LotCommand`] and the current time: returns an
//!   [`Outcome`] with the events the command produced (to be made durable
//!   before anything else happens), the reply for the requester, and the
//!   [`Effect`]s to carry out once the events are durable (room events to
//!   publish, personal notices, orders to record).
//! - [`Lot::next_deadline`] afterwards: when to send the lot a
//!   [`LotCommand::Tick`] (auction end, hold expiry and warning, sale end).
//!   A tick that comes early or late is harmless: it acts on what is due at
//!   the time it carries, and every command first acts on what is due at its
//!   own time, so a late timer changes no answer.
//!
//! Recovery is [`Lot::new`] followed by [`Lot::apply`] for every stored event:
//! `handle` changes the state only through `apply`, so replaying the events
//! rebuilds exactly the state that produced them. `apply` never fails and never
//! panics, even on events that make no sense for the state (they are ignored
//! or saturate), because stored bytes are input too.
//!
//! The lot reads no clock and draws no random number: time is an argument and
//! a raffle's seed comes with [`LotCommand::Open`].

mod auction;
mod def;
mod sale;

use liveshop_protocol::{
    Amount, EntryId, HoldId, IdemKey, LotId, LotKind, LotStatus, LotView, Money, Notice, OrderId,
    QueueEndReason, RoomEvent, UserId,
};
use serde::{Deserialize, Serialize};

pub use auction::Auction;
pub use def::{LotDef, MAX_AMOUNT};
pub use sale::{Sale, hold_warning_lead_ms};

use crate::error::Rejection;

/// What a lot is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotCommand {
    /// Host only. `seed` is fresh randomness from the shell; raffle lots commit
    /// to it, other lots ignore it.
    Open {
        by: UserId,
        seed: [u8; 32],
    },
    /// Host only.
    Close {
        by: UserId,
    },
    Bid {
        bidder: UserId,
        amount: Amount,
    },
    /// Proxy bid: bid for `bidder` as needed, up to `max`.
    MaxBid {
        bidder: UserId,
        max: Amount,
    },
    Hold {
        user: UserId,
        qty: u32,
    },
    Release {
        user: UserId,
        hold: HoldId,
    },
    Checkout {
        user: UserId,
        hold: HoldId,
        idem: IdemKey,
    },
    Enter {
        user: UserId,
    },
    /// Act on what is due: auction end, sale end, hold warnings and expiries.
    Tick,
}

/// A durable fact about a lot. Hold and order numbers are per lot; their
/// wire ids are [`HoldId::for_lot`] and [`OrderId::for_lot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum LotEvent {
    Opened {
        at_ms: u64,
        ends_ms: Option<u64>,
        /// Raffle lots only: the committed draw seed (secret until the draw).
        seed: Option<[u8; 32]>,
    },
    /// An accepted bid; `max` is the bidder's proxy ceiling from now on.
    BidPlaced {
        bidder: UserId,
        amount: Amount,
        max: Amount,
        lot_seq: u64,
        ends_ms: u64,
    },
    /// The leader raised their proxy ceiling without a new public bid.
    MaxRaised {
        max: Amount,
    },
    HoldPlaced {
        hold: u64,
        user: UserId,
        qty: u32,
        expires_ms: u64,
        /// Made for the head of the queue from returned units.
        offered: bool,
    },
    HoldWarned {
        hold: u64,
    },
    HoldReleased {
        hold: u64,
    },
    HoldExpired {
        hold: u64,
    },
    Queued {
        user: UserId,
        qty: u32,
    },
    /// Nothing can come back to the queue any more: it is emptied.
    QueueEnded,
    /// `buyer` and `qty` repeat the hold's, so the order can be rebuilt from
    /// this event alone ([`Lot::order_of`]).
    CheckedOut {
        hold: u64,
        order: u64,
        idem: IdemKey,
        buyer: UserId,
        qty: u32,
        total: Amount,
    },
    Entered {
        user: UserId,
    },
    Closed {
        at_ms: u64,
    },
    /// Raffle result: positions in entry order, in draw order.
    Drawn {
        winners: Vec<u32>,
    },
    /// An order made by the lot itself: the auction winner, a raffle winner.
    OrderPlaced {
        order: u64,
        buyer: UserId,
        qty: u32,
        total: Amount,
    },
    /// Nothing is pending any more.
    Settled,
}

/// The successful answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotReply {
    Opened {
        opens_ms: u64,
        ends_ms: Option<u64>,
    },
    Closed,
    Bid {
        lot_seq: u64,
        amount: Amount,
    },
    MaxBid {
        current: Amount,
    },
    Held {
        hold: HoldId,
        qty: u32,
        expires_ms: u64,
    },
    Queued {
        position: u32,
    },
    Released,
    Order {
        order: OrderId,
        amount: Amount,
    },
    Entered {
        entry: EntryId,
    },
    Ticked,
}

/// An order the shell must record (for order listings) once events are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub order: OrderId,
    pub buyer: UserId,
    pub qty: u32,
    pub total: Money,
    pub idem: Option<IdemKey>,
}

/// Something for the shell to carry out after the events are durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Publish in the lot's room.
    Room(RoomEvent),
    /// Deliver to one user on all of their connections.
    Notice(UserId, Notice),
    Order(NewOrder),
}

/// The result of [`Lot::handle`]. Events may be present even when the reply
/// is a rejection (see [`Rejection::BidTooLow`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub events: Vec<LotEvent>,
    pub reply: Result<LotReply, Rejection>,
    pub effects: Vec<Effect>,
}

impl Outcome {
    fn new() -> Self {
        Outcome {
            events: Vec::new(),
            reply: Ok(LotReply::Ticked),
            effects: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Body {
    Auction(Auction),
    Sale(Box<Sale>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    def: LotDef,
    status: LotStatus,
    opens_ms: Option<u64>,
    ends_ms: Option<u64>,
    body: Body,
}

impl Lot {
    /// A lot in `draft`, as created.
    pub fn new(def: LotDef) -> Lot {
        let body = match &def.terms {
            liveshop_protocol::LotTerms::Auction(t) => Body::Auction(Auction::new(*t)),
            liveshop_protocol::LotTerms::Sale(t) => Body::Sale(Box::new(Sale::new(*t))),
        };
        Lot {
            def,
            status: LotStatus::Draft,
            opens_ms: None,
            ends_ms: None,
            body,
        }
    }

    pub fn def(&self) -> &LotDef {
        &self.def
    }

    pub fn id(&self) -> &LotId {
        &self.def.id
    }

    pub fn kind(&self) -> LotKind {
        match self.body {
            Body::Auction(_) => LotKind::Auction,
            Body::Sale(_) => LotKind::Sale,
        }
    }

    pub fn status(&self) -> LotStatus {
        self.status
    }

    pub fn ends_ms(&self) -> Option<u64> {
        self.ends_ms
    }

    pub fn auction(&self) -> Option<&Auction> {
        match &self.body {
            Body::Auction(a) => Some(a),
            Body::Sale(_) => None,
        }
    }

    pub fn sale(&self) -> Option<&Sale> {
        match &self.body {
            Body::Sale(s) => Some(s),
            Body::Auction(_) => None,
        }
    }

    /// Decides `cmd` at `now_ms`, applies the resulting events and returns them.
    ///
    /// Whatever is due at `now_ms` (the end of the lot, hold expiries) is acted
    /// on first, exactly as a [`LotCommand::Tick`] would, so the answer never
    /// depends on whether the timer fired on time.
    pub fn handle(&mut self, cmd: LotCommand, now_ms: u64) -> Outcome {
        let mut out = Outcome::new();
        let before = self.available();
        let status_before = self.status;
        self.tick(now_ms, &mut out);
        let reply = match cmd {
            LotCommand::Open { by, seed } => self.open(&by, seed, now_ms, &mut out),
            LotCommand::Close { by } => {
                if by != self.def.host {
                    Err(Rejection::Forbidden)
                } else if self.status != LotStatus::Open {
                    Err(Rejection::BadState("lot is not open"))
                } else {
                    self.close(now_ms, &mut out);
                    Ok(LotReply::Closed)
                }
            }
            LotCommand::Tick => Ok(LotReply::Ticked),
            cmd => self.dispatch(cmd, now_ms, &mut out),
        };
        out.reply = reply;
        if self.status != status_before {
            out.effects
                .push(Effect::Room(RoomEvent::lot_state(self.view())));
        } else if let Some(available) = self.available().filter(|a| Some(*a) != before) {
            out.effects.push(Effect::Room(RoomEvent::Stock {
                lot: self.def.id.clone(),
                available,
            }));
        }
        out
    }

    fn dispatch(
        &mut self,
        cmd: LotCommand,
        now_ms: u64,
        out: &mut Outcome,
    ) -> Result<LotReply, Rejection> {
        // `handle` has closed an ended lot already.
        let open = self.status == LotStatus::Open;
        match (self.kind(), cmd) {
            (LotKind::Auction, LotCommand::Bid { bidder, amount }) => {
                if !open {
                    return Err(Rejection::LotNotOpen);
                }
                auction::offer(self, bidder, amount, false, now_ms, out)
            }
            (LotKind::Auction, LotCommand::MaxBid { bidder, max }) => {
                if !open {
                    return Err(Rejection::LotNotOpen);
                }
                auction::offer(self, bidder, max, true, now_ms, out)
            }
            (LotKind::Sale, LotCommand::Hold { user, qty }) => {
                sale::hold(self, user, qty, open, now_ms, out)
            }
            (LotKind::Sale, LotCommand::Release { user, hold }) => {
                sale::release(self, user, &hold, now_ms, out)
            }
            (LotKind::Sale, LotCommand::Checkout { user, hold, idem }) => {
                sale::checkout(self, user, &hold, idem, now_ms, out)
            }
            (LotKind::Sale, LotCommand::Enter { user }) => sale::enter(self, user, open, out),
            (LotKind::Auction, _) => Err(Rejection::BadState("not a sale lot")),
            (LotKind::Sale, _) => Err(Rejection::BadState("not an auction lot")),
        }
    }

    fn open(
        &mut self,
        by: &UserId,
        seed: [u8; 32],
        now_ms: u64,
        out: &mut Outcome,
    ) -> Result<LotReply, Rejection> {
        if *by != self.def.host {
            return Err(Rejection::Forbidden);
        }
        if self.status != LotStatus::Draft {
            return Err(Rejection::BadState("lot has already been opened"));
        }
        let ends_ms = self.def.duration_ms().map(|d| now_ms.saturating_add(d));
        let seed = self.sale().filter(|s| s.is_raffle()).map(|_| seed);
        self.emit(
            out,
            LotEvent::Opened {
                at_ms: now_ms,
                ends_ms,
                seed,
            },
        );
        Ok(LotReply::Opened {
            opens_ms: now_ms,
            ends_ms,
        })
    }

    fn close(&mut self, now_ms: u64, out: &mut Outcome) {
        let queued = self.sale().map(Sale::queued_users).unwrap_or_default();
        self.emit(out, LotEvent::Closed { at_ms: now_ms });
        for user in queued {
            let notice = Notice::QueueEnded {
                lot: self.def.id.clone(),
                reason: QueueEndReason::Closed,
            };
            out.effects.push(Effect::Notice(user, notice));
        }
        match &self.body {
            Body::Auction(_) => auction::settle(self, out),
            Body::Sale(_) => sale::on_close(self, now_ms, out),
        }
    }

    fn tick(&mut self, now_ms: u64, out: &mut Outcome) {
        let ended = self.status == LotStatus::Open && self.ends_ms.is_some_and(|end| now_ms >= end);
        if ended {
            self.close(now_ms, out);
        }
        if let Body::Sale(_) = self.body {
            sale::tick(self, now_ms, out);
        }
    }

    /// Records `ev`: applies it and adds it to the outcome.
    fn emit(&mut self, out: &mut Outcome, ev: LotEvent) {
        self.apply(&ev);
        out.events.push(ev);
    }

    /// Records an event that makes an order, and the order for the listings.
    fn emit_order(&mut self, out: &mut Outcome, ev: LotEvent) {
        let order = self.order_of(&ev);
        self.emit(out, ev);
        out.effects.extend(order.map(Effect::Order));
    }

    /// Applies a stored or just-decided event. Total: never fails, never panics.
    /// An event that does not fit the lot's status (a second `Opened`, a
    /// `Closed` of a lot that is not open) is ignored as a whole.
    pub fn apply(&mut self, ev: &LotEvent) {
        match ev {
            LotEvent::Opened { at_ms, ends_ms, .. } => {
                if self.status != LotStatus::Draft {
                    return;
                }
                self.status = LotStatus::Open;
                self.opens_ms = Some(*at_ms);
                self.ends_ms = *ends_ms;
            }
            LotEvent::Closed { .. } => {
                if self.status != LotStatus::Open {
                    return;
                }
                self.status = LotStatus::Closed;
            }
            LotEvent::Settled => self.status = LotStatus::Settled,
            LotEvent::BidPlaced { ends_ms, .. } => self.ends_ms = Some(*ends_ms),
            _ => {}
        }
        match &mut self.body {
            Body::Auction(a) => a.apply(ev),
            Body::Sale(s) => s.apply(ev),
        }
    }

    /// The order an event records, if it records one: what the shell writes to
    /// the order listings. Lets a recovering actor re-record orders from the
    /// log, whatever happened between the append and the first write.
    pub fn order_of(&self, ev: &LotEvent) -> Option<NewOrder> {
        let (order, buyer, qty, total, idem) = match ev {
            LotEvent::CheckedOut {
                order,
                buyer,
                qty,
                total,
                idem,
                ..
            } => (*order, buyer, *qty, *total, Some(idem.clone())),
            LotEvent::OrderPlaced {
                order,
                buyer,
                qty,
                total,
            } => (*order, buyer, *qty, *total, None),
            _ => return None,
        };
        Some(NewOrder {
            order: OrderId::for_lot(&self.def.id, order),
            buyer: buyer.clone(),
            qty,
            total: self.money(total),
            idem,
        })
    }

    /// When the lot next needs a [`LotCommand::Tick`].
    pub fn next_deadline(&self) -> Option<u64> {
        let end = self.ends_ms.filter(|_| self.status == LotStatus::Open);
        let sale = self.sale().and_then(Sale::next_deadline);
        match (end, sale) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Units a buyer could hold now (sale lots).
    pub fn available(&self) -> Option<u32> {
        self.sale().map(Sale::available)
    }

    fn money(&self, amount: Amount) -> Money {
        Money {
            amount,
            currency: self.def.currency,
        }
    }

    /// The lot as clients see it.
    pub fn view(&self) -> LotView {
        let mut view = LotView {
            lot: self.def.id.clone(),
            room: self.def.room.clone(),
            kind: self.kind(),
            status: self.status,
            title: self.def.title.clone(),
            currency: self.def.currency,
            opens_ms: self.opens_ms,
            ends_ms: self.ends_ms,
            start_price: None,
            high_bid: None,
            high_bidder: None,
            min_bid: None,
            price: None,
            stock: None,
            available: None,
            sold: None,
            per_user_limit: None,
            allocation: None,
            seed_hash: None,
            seed: None,
        };
        match &self.body {
            Body::Auction(a) => a.fill_view(&self.def, &mut view),
            Body::Sale(s) => s.fill_view(&mut view),
        }
        view
    }
}
