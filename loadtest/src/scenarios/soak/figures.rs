//! The soak's read-back (sale and auction lots, the seller's orders) and
//! its figures, per operation, from the history after the run.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::super::RunError;
use super::users::RoomLots;
use crate::api::{Api, User};
use crate::check::bids::AuctionReadback;
use crate::check::{LotReadback, OrderReadback, Readback};
use crate::history::{History, Outcome, Record};
use crate::report::Recorder;

/// The sale lots' and auction lots' states and every order, at the end.
pub(super) async fn read_back(
    api: &Api,
    seller: &User,
    rooms: &[RoomLots],
) -> Result<(Readback, HashMap<String, AuctionReadback>), RunError> {
    let mut sales = Readback::default();
    let mut auctions = HashMap::new();
    for r in rooms {
        let v = api.lot(&r.sale).await?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let state = LotReadback {
            stock: n("stock"),
            sold: n("sold"),
            available: n("available"),
            status: v["status"].as_str().unwrap_or("").to_owned(),
        };
        sales.lots.insert(r.sale.to_string(), state);
        let v = api.lot(&r.auction).await?;
        let state = AuctionReadback {
            status: v["status"].as_str().unwrap_or("").to_owned(),
            high_bid: v["high_bid"].as_i64(),
            high_bidder: v["high_bidder"].as_str().map(str::to_owned),
            orders: Vec::new(),
        };
        auctions.insert(r.auction.to_string(), state);
    }
    for o in api.seller_orders(seller).await? {
        let s = |k: &str| o[k].as_str().unwrap_or("").to_owned();
        if let Some(a) = auctions.get_mut(&s("lot")) {
            a.orders
                .push((s("buyer"), o["amount"].as_i64().unwrap_or(0)));
        }
        sales.orders.push(OrderReadback {
            order: s("order"),
            lot: s("lot"),
            buyer: s("buyer"),
            qty: o["qty"].as_u64().unwrap_or(0),
        });
    }
    Ok((sales, auctions))
}

/// Per operation: requests sent, `ok` replies, error codes, unanswered,
/// and reply latency; then what the connections received.
pub(super) fn figures(history: &History) -> Value {
    let mut latency: BTreeMap<&str, Recorder> = BTreeMap::new();
    let mut ops: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    let (mut events, mut lagged, mut resyncs, mut closed) = (0u64, 0u64, 0u64, 0u64);
    for log in &history.clients {
        for ex in log.exchanges() {
            let name = ex.op.name();
            let counts = ops.entry(name).or_default();
            *counts.entry("sent".into()).or_default() += 1;
            let key = match ex.reply {
                None => "unanswered".to_owned(),
                Some((at, outcome)) => {
                    latency
                        .entry(name)
                        .or_default()
                        .record(at.saturating_sub(ex.sent));
                    match outcome {
                        Outcome::Error { code } => format!("error {code}"),
                        _ => "ok".to_owned(),
                    }
                }
            };
            *counts.entry(key).or_default() += 1;
        }
        for r in &log.records {
            match r {
                Record::Event { .. } => events += 1,
                Record::Lagged { .. } => lagged += 1,
                Record::Resync { .. } => resyncs += 1,
                Record::Closed { .. } => closed += 1,
                _ => {}
            }
        }
    }
    // The seller's few lot commands are no load: counted, not charted.
    let latency: BTreeMap<&str, _> = latency
        .iter()
        .filter(|(k, _)| !["open_lot", "close_lot"].contains(*k))
        .map(|(k, r)| (*k, r.summary()))
        .collect();
    json!({
        "ops": ops,
        "latency": latency,
        "events_received": events,
        "lagged_notices": lagged,
        "resyncs": resyncs,
        "connections_ended_early": closed,
    })
}
