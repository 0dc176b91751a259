//! The auction's read-back and figures (bid rates, latencies, refusals,
//! delivery), all computed from the history after the run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::super::RunError;
use crate::api::{Api, User};
use crate::check::bids::AuctionReadback;
use crate::history::{History, Micros, Op, Outcome, Record};
use crate::report::{Latency, Recorder};

/// Every lot's state and the seller's orders, at the end.
pub(super) async fn read_back(
    api: &Api,
    seller: &User,
    lots: &[Arc<str>],
    concurrency: usize,
) -> Result<HashMap<String, AuctionReadback>, RunError> {
    let mut states = futures_util::stream::iter(lots)
        .map(|lot| async move { api.lot(lot).await.map(|v| (lot, v)) })
        .buffer_unordered(concurrency.max(1));
    let mut out = HashMap::new();
    while let Some(state) = states.next().await {
        let (lot, v) = state?;
        out.insert(
            lot.to_string(),
            AuctionReadback {
                status: v["status"].as_str().unwrap_or("").to_owned(),
                high_bid: v["high_bid"].as_i64(),
                high_bidder: v["high_bidder"].as_str().map(str::to_owned),
                orders: Vec::new(),
            },
        );
    }
    for o in api.seller_orders(seller).await? {
        let lot = o["lot"].as_str().unwrap_or("");
        if let Some(state) = out.get_mut(lot) {
            let buyer = o["buyer"].as_str().unwrap_or("").to_owned();
            state
                .orders
                .push((buyer, o["amount"].as_i64().unwrap_or(0)));
        }
    }
    Ok(out)
}

/// The bid figures; also the latencies of answered and of accepted bids.
pub(super) fn figures(history: &History, send_lag: &Recorder) -> (Value, Latency, Latency) {
    let (mut answered_ack, mut ok_ack, mut delivery) = (
        Recorder::default(),
        Recorder::default(),
        Recorder::default(),
    );
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let (mut sent, mut answered, mut ok) = (0u64, 0u64, 0u64);
    let (mut first_sent, mut last_sent, mut last_reply) = (Micros::MAX, 0, 0);
    // (lot, lot_seq) -> when its bid was sent, for delivery latency.
    let mut acked: HashMap<(Arc<str>, u64), Micros> = HashMap::new();
    for log in &history.clients {
        for ex in log.exchanges() {
            let Op::Bid { lot, .. } = ex.op else {
                continue;
            };
            sent += 1;
            (first_sent, last_sent) = (first_sent.min(ex.sent), last_sent.max(ex.sent));
            let Some((at, outcome)) = ex.reply else {
                continue;
            };
            answered += 1;
            last_reply = last_reply.max(at);
            let latency = at.saturating_sub(ex.sent);
            answered_ack.record(latency);
            match outcome {
                Outcome::Bid { lot_seq, .. } => {
                    ok += 1;
                    ok_ack.record(latency);
                    acked.insert((lot.clone(), *lot_seq), ex.sent);
                }
                Outcome::Error { code } => *refused.entry(code.to_string()).or_default() += 1,
                _ => *refused.entry("unexpected_reply".into()).or_default() += 1,
            }
        }
    }
    let (mut events, mut bid_events, mut lagged, mut resyncs, mut ended) = (0u64, 0, 0, 0, 0);
    let (mut closes_seen, mut won) = (0u64, 0u64);
    for log in &history.clients {
        for r in &log.records {
            match r {
                Record::Event { .. } => events += 1,
                Record::Bid {
                    at, lot, lot_seq, ..
                } => {
                    bid_events += 1;
                    if let Some(sent) = acked.get(&(lot.clone(), *lot_seq)) {
                        delivery.record(at.saturating_sub(*sent));
                    }
                }
                Record::LotClosed { .. } => closes_seen += 1,
                Record::Won { .. } => won += 1,
                Record::Lagged { .. } => lagged += 1,
                Record::Resync { .. } => resyncs += 1,
                Record::Closed { .. } => ended += 1,
                _ => {}
            }
        }
    }
    let secs = |from: Micros, to: Micros| (to.saturating_sub(from) as f64 / 1e6).max(1e-6);
    let per_s = |n: u64, window: f64| (n as f64 / window).round();
    let bidding_s = if sent > 0 {
        secs(first_sent, last_reply.max(last_sent))
    } else {
        0.0
    };
    let offered_s = if sent > 1 {
        secs(first_sent, last_sent)
    } else {
        1.0
    };
    let (answered_ack, ok_ack) = (answered_ack.summary(), ok_ack.summary());
    let figures = json!({
        "bids_sent": sent,
        "bids_answered": answered,
        "bids_ok": ok,
        "bids_refused": refused,
        "bids_unanswered": sent - answered,
        "bidding_s": super::round3(bidding_s),
        "offered_bids_per_s": per_s(sent, offered_s),
        "answered_bids_per_s": if sent > 0 { per_s(answered, bidding_s) } else { 0.0 },
        "accepted_bids_per_s": if sent > 0 { per_s(ok, bidding_s) } else { 0.0 },
        "bid_ack": answered_ack,
        "bid_ack_ok": ok_ack,
        "bid_delivery": delivery.summary(),
        "send_lag": send_lag.summary(),
        "events_received": events,
        "bid_events_received": bid_events,
        "lot_closed_seen": closes_seen,
        "won_notices": won,
        "lagged_notices": lagged,
        "resyncs": resyncs,
        "connections_ended_early": ended,
    });
    (figures, answered_ack, ok_ack)
}
