//! Rebuilding a lot from the store (its snapshot, then the events after it),
//! and the encodings of what the actors keep there.
//!
//! The LotActor recovers this way after claiming the lot's log; a RoomActor
//! uses the same code, without claiming, to show the lots of its room.

use liveshop_domain::{Lot, LotDef, LotEvent, NewOrder, RoomChange};
use liveshop_protocol::{LotId, LotView, OrderStatus, RoomId};
use liveshop_store::{LogKey, LotRecord, OrderRecord, Snapshot, Store, StoredEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ActorError;
use crate::shared::{now_ms, store_failed};

/// A lot as recovered from the store.
pub(crate) struct Recovered {
    pub lot: Lot,
    /// Seq of the last event applied.
    pub seq: u64,
    /// Seq the snapshot it started from was taken at (0: none).
    pub snapshot_seq: u64,
    /// Orders recorded by the events after the snapshot.
    pub orders: Vec<NewOrder>,
}

/// The lot's definition, checked again as the domain requires.
pub(crate) fn lot_def(record: &LotRecord) -> Result<LotDef, ActorError> {
    LotDef::new(
        record.lot_id.clone(),
        record.room_id.clone(),
        record.host.clone(),
        record.spec.clone(),
    )
    .map_err(|why| {
        tracing::error!(lot = %record.lot_id, %why, "stored lot definition is invalid");
        ActorError::unavailable("stored lot definition is invalid")
    })
}

/// Reads the lot's snapshot and the events after it and applies them.
pub(crate) async fn recover_lot(
    store: &dyn Store,
    record: &LotRecord,
) -> Result<Recovered, ActorError> {
    let key = LogKey::Lot(record.lot_id.clone());
    let mut lot = Lot::new(lot_def(record)?);
    let mut seq = 0;
    let snapshot = store
        .load_snapshot(&key)
        .await
        .map_err(|e| store_failed("loading a lot snapshot", e))?;
    if let Some(snap) = snapshot {
        // A snapshot that does not decode (or is of another lot) is only an
        // optimisation lost: the full log is still there.
        match decode::<Lot>(&snap.payload) {
            Some(restored) if restored.id() == &record.lot_id => {
                lot = restored;
                seq = snap.seq;
            }
            _ => tracing::warn!(lot = %record.lot_id, "ignoring an unreadable lot snapshot"),
        }
    }
    let snapshot_seq = seq;
    let events = store
        .read(&key, seq)
        .await
        .map_err(|e| store_failed("reading a lot log", e))?;
    let mut orders = Vec::new();
    for stored in events {
        seq = stored.seq;
        // Stored bytes are input too: a damaged event is skipped, as the
        // domain ignores events that make no sense.
        let Some(ev) = decode::<LotEvent>(&stored.payload) else {
            tracing::error!(lot = %record.lot_id, seq, "skipping an undecodable lot event");
            continue;
        };
        orders.extend(lot.order_of(&ev));
        lot.apply(&ev);
    }
    Ok(Recovered {
        lot,
        seq,
        snapshot_seq,
        orders,
    })
}

/// The lot's durable state as clients see it, and the log seq it reflects.
pub(crate) async fn lot_view(
    store: &dyn Store,
    record: &LotRecord,
) -> Result<(u64, LotView), ActorError> {
    let r = recover_lot(store, record).await?;
    Ok((r.seq, r.lot.view()))
}

/// Whether the lot could have a timer due, judged from its snapshot alone
/// when the snapshot is its latest state; `true` when unsure.
pub(crate) async fn may_have_deadline(store: &dyn Store, lot: &LotId) -> bool {
    let key = LogKey::Lot(lot.clone());
    let (Ok(Some(snap)), Ok(last)) = (store.load_snapshot(&key).await, store.last_seq(&key).await)
    else {
        return true;
    };
    match decode::<Lot>(&snap.payload) {
        Some(l) if snap.seq == last => l.next_deadline().is_some(),
        _ => true,
    }
}

/// Orders written at once: enough for the store to commit them together,
/// few enough that recovering a big sale does not flood the runtime.
const ORDERS_AT_ONCE: usize = 256;

/// Writes the orders for the listings, concurrently so the store can commit
/// them together. Idempotent. Returns whether all were written.
pub(crate) async fn record_orders(
    store: &std::sync::Arc<dyn Store>,
    record: &LotRecord,
    orders: Vec<NewOrder>,
) -> bool {
    let created_ms = now_ms();
    let mut ok = true;
    let mut orders = orders.into_iter().peekable();
    while orders.peek().is_some() {
        let mut tasks = tokio::task::JoinSet::new();
        for o in orders.by_ref().take(ORDERS_AT_ONCE) {
            let store = store.clone();
            let rec = OrderRecord {
                order_id: o.order,
                lot_id: record.lot_id.clone(),
                room_id: record.room_id.clone(),
                buyer: o.buyer,
                seller: record.host.clone(),
                qty: o.qty,
                total: o.total,
                idem: o.idem,
                status: OrderStatus::Placed,
                created_ms,
            };
            tasks.spawn(async move {
                let r = store.put_order(&rec).await;
                (rec.order_id, r)
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((_, Ok(_))) => {}
                Ok((order, Err(err))) => {
                    // The order is in the lot's log; the next recovery writes it.
                    tracing::error!(%order, %err, "cannot record an order");
                    ok = false;
                }
                Err(err) => {
                    tracing::error!(%err, "order task failed");
                    ok = false;
                }
            }
        }
    }
    ok
}

/// The room's durable changes, decoded (damaged ones skipped), and the seq
/// of the last one.
pub(crate) async fn room_changes(
    store: &dyn Store,
    room: &RoomId,
) -> Result<(Vec<RoomChange>, u64), ActorError> {
    let events = store
        .read(&LogKey::Room(room.clone()), 0)
        .await
        .map_err(|e| store_failed("reading a room log", e))?;
    let last = events.last().map_or(0, |e| e.seq);
    let changes = events
        .iter()
        .filter_map(|e| {
            let c = decode::<RoomChange>(&e.payload);
            if c.is_none() {
                tracing::error!(%room, seq = e.seq, "skipping an undecodable room change");
            }
            c
        })
        .collect();
    Ok((changes, last))
}

/// Encodes `items` as the log entries after `last_seq`.
pub(crate) fn encode_events<T: Serialize>(
    items: &[T],
    last_seq: u64,
) -> Result<Vec<StoredEvent>, ActorError> {
    let mut seq = last_seq;
    items
        .iter()
        .map(|item| {
            seq += 1;
            let payload = rmp_serde::to_vec_named(item).map_err(|e| {
                tracing::error!(%e, "cannot encode an event");
                ActorError::unavailable("cannot encode an event")
            })?;
            Ok(StoredEvent { seq, payload })
        })
        .collect()
}

pub(crate) fn encode_snapshot(lot: &Lot, seq: u64) -> Option<Snapshot> {
    match rmp_serde::to_vec_named(lot) {
        Ok(payload) => Some(Snapshot { seq, payload }),
        Err(e) => {
            tracing::error!(lot = %lot.id(), %e, "cannot encode a lot snapshot");
            None
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    rmp_serde::from_slice(bytes).ok()
}
