//! The flash sale's read-back and figures (counts, latencies, sell-out time),
//! all computed from the history after the run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::RunError;
use crate::api::User;
use crate::check::{LotReadback, OrderReadback, Readback, SaleSpec};
use crate::history::{History, Micros, Op, Outcome, Record};
use crate::report::{Latency, Recorder};

pub(super) async fn read_back(
    api: &crate::api::Api,
    seller: &User,
    lot: &str,
) -> Result<Readback, RunError> {
    let v = api.lot(lot).await?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut readback = Readback::default();
    readback.lots.insert(
        lot.to_owned(),
        LotReadback {
            stock: n("stock"),
            sold: n("sold"),
            available: n("available"),
            status: v["status"].as_str().unwrap_or("").to_owned(),
        },
    );
    for o in api.seller_orders(seller).await? {
        let s = |k: &str| o[k].as_str().unwrap_or("").to_owned();
        readback.orders.push(OrderReadback {
            order: s("order"),
            lot: s("lot"),
            buyer: s("buyer"),
            qty: o["qty"].as_u64().unwrap_or(0),
        });
    }
    Ok(readback)
}

/// The run's figures, from the history alone, and the hold-ack latency.
pub(super) fn figures(history: &History, sale: &SaleSpec, open_sent: Micros) -> (Value, Latency) {
    let lot = &*sale.lot;
    let (mut hold_ack, mut checkout_ack) = (Recorder::default(), Recorder::default());
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut holds_sent, mut checkouts_ok, mut checkouts_failed) = (0u64, 0u64, 0u64);
    let (mut last_held, mut units_held): (Option<Micros>, u64) = (None, 0);
    let (mut events, mut lagged, mut resyncs, mut offers, mut closed) = (0u64, 0, 0, 0, 0);
    for log in &history.clients[1..] {
        for ex in log.exchanges() {
            let Some((at, outcome)) = ex.reply else {
                continue;
            };
            let latency = at.saturating_sub(ex.sent);
            match (ex.op, outcome) {
                (Op::Hold { .. }, o) => {
                    holds_sent += 1;
                    hold_ack.record(latency);
                    let key = match o {
                        Outcome::Held { qty, .. } => {
                            last_held = last_held.max(Some(at));
                            units_held += u64::from(*qty);
                            "held".to_owned()
                        }
                        Outcome::Queued { .. } => "queued".to_owned(),
                        Outcome::Error { code } => code.to_string(),
                        _ => "other".to_owned(),
                    };
                    *outcomes.entry(key).or_default() += 1;
                }
                (Op::Checkout { .. }, Outcome::Ordered { .. }) => {
                    checkouts_ok += 1;
                    checkout_ack.record(latency);
                }
                (Op::Checkout { .. }, _) => checkouts_failed += 1,
                _ => {}
            }
        }
        for r in &log.records {
            match r {
                Record::Event { .. } => events += 1,
                Record::Lagged { .. } => lagged += 1,
                Record::Resync { .. } => resyncs += 1,
                Record::Offer { .. } => offers += 1,
                Record::Closed { .. } => closed += 1,
                _ => {}
            }
        }
    }
    // The seller first sees this lot's `available` at 0 (a `stock` event,
    // or a `lot` event when the tick's stock was folded into one).
    let zero_seen = history.clients[0].records.iter().find_map(|r| match r {
        Record::Event {
            at,
            stock: Some((l, 0)),
            ..
        } if &**l == lot && *at >= open_sent => Some(*at),
        _ => None,
    });
    let ms = |t: Option<Micros>| t.map(|t| round3(t.saturating_sub(open_sent) as f64 / 1000.0));
    let hold_ack = hold_ack.summary();
    let figures = json!({
        "buyers": history.clients.len() - 1,
        "holds_sent": holds_sent,
        "hold_outcomes": outcomes,
        "hold_ack": hold_ack,
        "checkouts_ok": checkouts_ok,
        "checkouts_failed": checkouts_failed,
        "checkout_ack": checkout_ack.summary(),
        // Sold out: the last unit's hold acknowledged (if every unit went).
        "sell_out_ms": ms(last_held.filter(|_| units_held >= sale.stock)),
        "stock_zero_seen_ms": ms(zero_seen),
        "last_hold_ack_ms": ms(last_held),
        "events_received": events,
        "lagged_notices": lagged,
        "resyncs": resyncs,
        "queue_offers": offers,
        "connections_ended_early": closed,
    });
    (figures, hold_ack)
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
