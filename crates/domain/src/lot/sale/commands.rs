//! The commands of a sale lot: hold, release, checkout, raffle entry, and
//! what ticks and closing do to holds, the queue and the raffle.

use liveshop_protocol::{
    EntryId, HoldId, IdemKey, LotStatus, Notice, OrderId, OrderStatus, QueueEndReason, RoomEvent,
    UserId, Winner,
};

use super::{MAX_ENTRIES, Sale};
use crate::error::Rejection;
use crate::lot::{Effect, Lot, LotEvent, LotReply, Outcome};
use crate::raffle;

fn sale(lot: &Lot) -> Result<&Sale, Rejection> {
    lot.sale().ok_or(Rejection::BadState("not a sale lot"))
}

/// The hold number of `hold` if this lot made it.
fn hold_number(lot: &Lot, hold: &HoldId) -> Option<u64> {
    let (owner, n) = hold.as_str().rsplit_once(":h")?;
    if owner != lot.def.id.as_str() || n.starts_with('+') {
        return None;
    }
    n.parse().ok()
}

pub(in crate::lot) fn hold(
    lot: &mut Lot,
    user: UserId,
    qty: u32,
    open: bool,
    now_ms: u64,
    out: &mut Outcome,
) -> Result<LotReply, Rejection> {
    let s = sale(lot)?;
    if s.is_raffle() {
        return Err(Rejection::BadState("raffle lots take entries, not holds"));
    }
    if !open {
        return Err(Rejection::LotNotOpen);
    }
    if qty == 0 || qty > s.terms.stock {
        return Err(Rejection::BadRequest(
            "qty must be between 1 and the lot's stock".into(),
        ));
    }
    if let Some(pos) = s.queue.iter().position(|(u, _)| *u == user) {
        return Ok(LotReply::Queued {
            position: pos as u32 + 1,
        });
    }
    let t = s.tallies.get(&user).copied().unwrap_or_default();
    if s.terms
        .per_user_limit
        .is_some_and(|limit| t.held.saturating_add(t.bought).saturating_add(qty) > limit)
    {
        return Err(Rejection::LimitExceeded);
    }
    let available = s.available();
    if available > 0 {
        let (hold, expires_ms) = place_hold(lot, &user, qty.min(available), false, now_ms, out);
        return Ok(LotReply::Held {
            hold,
            qty: qty.min(available),
            expires_ms,
        });
    }
    if s.held > 0 && s.queue.len() < s.max_queue() {
        let position = s.queue.len() as u32 + 1;
        lot.emit(out, LotEvent::Queued { user, qty });
        return Ok(LotReply::Queued { position });
    }
    Err(Rejection::SoldOut)
}

fn place_hold(
    lot: &mut Lot,
    user: &UserId,
    qty: u32,
    offered: bool,
    now_ms: u64,
    out: &mut Outcome,
) -> (HoldId, u64) {
    let (n, ttl) = lot.sale().map_or((1, 0), |s| {
        (s.last_hold.saturating_add(1), s.terms.hold_ttl_ms)
    });
    let expires_ms = now_ms.saturating_add(ttl);
    lot.emit(
        out,
        LotEvent::HoldPlaced {
            hold: n,
            user: user.clone(),
            qty,
            expires_ms,
            offered,
        },
    );
    let hold = HoldId::for_lot(&lot.def.id, n);
    if offered {
        out.effects.push(Effect::Notice(
            user.clone(),
            Notice::QueueOffer {
                lot: lot.def.id.clone(),
                hold: hold.clone(),
                expires_ms,
            },
        ));
    }
    (hold, expires_ms)
}

pub(in crate::lot) fn release(
    lot: &mut Lot,
    user: UserId,
    hold: &HoldId,
    now_ms: u64,
    out: &mut Outcome,
) -> Result<LotReply, Rejection> {
    let s = sale(lot)?;
    let n = hold_number(lot, hold)
        .filter(|n| s.holds.get(n).is_some_and(|h| h.user == user))
        .ok_or(Rejection::NotFound)?;
    lot.emit(out, LotEvent::HoldReleased { hold: n });
    after_change(lot, now_ms, out);
    Ok(LotReply::Released)
}

pub(in crate::lot) fn checkout(
    lot: &mut Lot,
    user: UserId,
    hold: &HoldId,
    idem: IdemKey,
    now_ms: u64,
    out: &mut Outcome,
) -> Result<LotReply, Rejection> {
    let s = sale(lot)?;
    let key = (user, idem);
    if let Some((order, amount)) = s.checkouts.get(&key) {
        return Ok(LotReply::Order {
            order: OrderId::for_lot(&lot.def.id, *order),
            amount: *amount,
        });
    }
    let (user, idem) = key;
    let n = hold_number(lot, hold).ok_or(Rejection::NotFound)?;
    let Some(h) = s.holds.get(&n) else {
        return Err(if n <= s.last_hold {
            Rejection::HoldExpired
        } else {
            Rejection::NotFound
        });
    };
    if h.user != user {
        return Err(Rejection::NotFound);
    }
    if h.expires_ms <= now_ms {
        return Err(Rejection::HoldExpired);
    }
    let qty = h.qty;
    let total = s.terms.price.saturating_mul(u64::from(qty));
    let order_n = s.last_order.saturating_add(1);
    let order = OrderId::for_lot(&lot.def.id, order_n);
    lot.emit_order(
        out,
        LotEvent::CheckedOut {
            hold: n,
            order: order_n,
            idem,
            buyer: user.clone(),
            qty,
            total,
        },
    );
    out.effects.push(Effect::Notice(
        user,
        Notice::Order {
            order: order.clone(),
            status: OrderStatus::Placed,
        },
    ));
    after_change(lot, now_ms, out);
    Ok(LotReply::Order {
        order,
        amount: total,
    })
}

pub(in crate::lot) fn enter(
    lot: &mut Lot,
    user: UserId,
    open: bool,
    out: &mut Outcome,
) -> Result<LotReply, Rejection> {
    let s = sale(lot)?;
    if !s.is_raffle() {
        return Err(Rejection::BadState("not a raffle lot"));
    }
    if !open {
        return Err(Rejection::LotNotOpen);
    }
    if s.entered.contains(&user) {
        return Err(Rejection::AlreadyEntered);
    }
    if s.entries.len() >= MAX_ENTRIES {
        return Err(Rejection::BadState("raffle is full"));
    }
    let entry = EntryId::for_lot(&lot.def.id, s.entries.len() as u64 + 1);
    lot.emit(out, LotEvent::Entered { user });
    Ok(LotReply::Entered { entry })
}

/// Expiries, warnings, queue offers and settlement due at `now_ms`.
pub(in crate::lot) fn tick(lot: &mut Lot, now_ms: u64, out: &mut Outcome) {
    while let Some((n, hold)) = lot
        .sale()
        .and_then(|s| s.expiries.first().filter(|(t, _)| *t <= now_ms))
        .and_then(|&(_, n)| Some((n, lot.sale()?.holds.get(&n)?.user.clone())))
    {
        lot.emit(out, LotEvent::HoldExpired { hold: n });
        out.effects.push(Effect::Notice(
            hold,
            Notice::HoldExpired {
                hold: HoldId::for_lot(&lot.def.id, n),
            },
        ));
    }
    while let Some((n, user, expires_ms)) = lot
        .sale()
        .and_then(|s| s.warnings.first().filter(|(t, _)| *t <= now_ms))
        .and_then(|&(_, n)| {
            lot.sale()?
                .holds
                .get(&n)
                .map(|h| (n, h.user.clone(), h.expires_ms))
        })
    {
        lot.emit(out, LotEvent::HoldWarned { hold: n });
        let hold = HoldId::for_lot(&lot.def.id, n);
        out.effects.push(Effect::Notice(
            user,
            Notice::HoldExpiring { hold, expires_ms },
        ));
    }
    after_change(lot, now_ms, out);
}

/// Holds ended: offer returned units to the queue, end a queue nothing can
/// come back to, settle a closed lot.
fn after_change(lot: &mut Lot, now_ms: u64, out: &mut Outcome) {
    while lot.status == LotStatus::Open {
        let Some((user, qty)) = lot.sale().filter(|s| s.available() > 0).and_then(|s| {
            s.queue
                .front()
                .map(|(u, q)| (u.clone(), (*q).min(s.available())))
        }) else {
            break;
        };
        place_hold(lot, &user, qty, true, now_ms, out);
    }
    let hopeless = lot
        .sale()
        .filter(|s| !s.queue.is_empty() && s.held == 0 && s.available() == 0);
    if let Some(queued) = hopeless.map(Sale::queued_users) {
        lot.emit(out, LotEvent::QueueEnded);
        for user in queued {
            let notice = Notice::QueueEnded {
                lot: lot.def.id.clone(),
                reason: QueueEndReason::SoldOut,
            };
            out.effects.push(Effect::Notice(user, notice));
        }
    }
    maybe_settle(lot, out);
}

/// After `Closed`: a raffle draws; a FIFO lot settles once no hold is live.
pub(in crate::lot) fn on_close(lot: &mut Lot, now_ms: u64, out: &mut Outcome) {
    let Ok(s) = sale(lot) else { return };
    if !s.is_raffle() {
        after_change(lot, now_ms, out);
        return;
    }
    let seed = s.seed.unwrap_or_default();
    let positions = raffle::draw(&seed, s.entries.len(), s.terms.stock as usize);
    let winners: Vec<(UserId, u64)> = positions
        .iter()
        .filter_map(|&p| s.entries.get(p).cloned())
        .zip(1u64..)
        .collect();
    let price = s.terms.price;
    lot.emit(
        out,
        LotEvent::Drawn {
            winners: positions.iter().map(|&p| p as u32).collect(),
        },
    );
    for (buyer, n) in &winners {
        lot.emit_order(
            out,
            LotEvent::OrderPlaced {
                order: *n,
                buyer: buyer.clone(),
                qty: 1,
                total: price,
            },
        );
        let order = OrderId::for_lot(&lot.def.id, *n);
        out.effects.push(Effect::Notice(
            buyer.clone(),
            Notice::Won {
                lot: lot.def.id.clone(),
                order: order.clone(),
                amount: price,
            },
        ));
    }
    maybe_settle(lot, out);
}

fn maybe_settle(lot: &mut Lot, out: &mut Outcome) {
    let Some(s) = lot.sale() else { return };
    if lot.status != LotStatus::Closed || !s.holds.is_empty() {
        return;
    }
    let price = s.terms.price;
    let winners = s
        .tallies
        .iter()
        .filter(|(_, t)| t.bought > 0)
        .map(|(user, t)| Winner {
            user: user.clone(),
            amount: price.saturating_mul(u64::from(t.bought)),
            qty: t.bought,
        })
        .collect();
    lot.emit(out, LotEvent::Settled);
    out.effects.push(Effect::Room(RoomEvent::LotClosed {
        lot: lot.def.id.clone(),
        winners,
    }));
}
