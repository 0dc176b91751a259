//! Reads. Plain blocking functions over [`Tables`]; the store runs them on
//! tokio's blocking pool. Reads that touch more than one key use one fjall
//! snapshot, so an index entry and the record it names are seen together
//! (both were written by the same atomic batch).

use fjall::{Readable, Snapshot as DbSnapshot};
use serde::de::DeserializeOwned;

use super::keys::{
    LogState, MAX_KEY_LEN, Table, Tables, decode, event_key, fjall_err, log_prefix, ordered_key,
    owner_prefix, seq_of_event_key,
};
use crate::{
    ChatLine, LogKey, LotRecord, OrderRecord, RecentOrders, RefreshFamily, Result, RoomRecord,
    Snapshot, StoreError, StoredEvent, UserRecord,
};

fn get_record<T: DeserializeOwned>(
    snap: &DbSnapshot,
    t: &Tables,
    table: Table,
    what: &str,
    key: &[u8],
) -> Result<Option<T>> {
    match snap
        .get(t.ks(table), key)
        .map_err(|e| fjall_err(&format!("reading {what}"), e))?
    {
        Some(bytes) => decode(what, key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Follows an index entry whose value is the key of a record in `table`.
/// A dangling entry is corruption: both were written in one batch.
fn follow<T: DeserializeOwned>(
    snap: &DbSnapshot,
    t: &Tables,
    table: Table,
    what: &str,
    id: &[u8],
) -> Result<T> {
    get_record(snap, t, table, what, id)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "index names missing {what} {}",
            String::from_utf8_lossy(id)
        ))
    })
}

/// The records named by the values of the index entries under `prefix`, in
/// key order.
fn list_via_index<T: DeserializeOwned>(
    t: &Tables,
    index: Table,
    prefix: &[u8],
    table: Table,
    what: &str,
) -> Result<Vec<T>> {
    let snap = t.db.snapshot();
    let mut out = Vec::new();
    for guard in snap.prefix(t.ks(index), prefix) {
        let id = guard
            .value()
            .map_err(|e| fjall_err(&format!("scanning the {what} index"), e))?;
        out.push(follow(&snap, t, table, what, &id)?);
    }
    Ok(out)
}

pub(crate) fn read_events(t: &Tables, key: &LogKey, after: u64) -> Result<Vec<StoredEvent>> {
    let Some(first) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let prefix = log_prefix(key);
    let snap = t.db.snapshot();
    let mut out = Vec::new();
    for guard in snap.range(t.ks(Table::Events), event_key(key, first)..) {
        let (k, v) = guard
            .into_inner()
            .map_err(|e| fjall_err("reading events", e))?;
        if !k.starts_with(&prefix) {
            break;
        }
        out.push(StoredEvent {
            seq: seq_of_event_key(&k)?,
            payload: v.to_vec(),
        });
    }
    Ok(out)
}

pub(crate) fn last_seq(t: &Tables, key: &LogKey) -> Result<u64> {
    let skey = key.storage_key();
    match t
        .ks(Table::Logs)
        .get(skey.as_bytes())
        .map_err(|e| fjall_err("reading log state", e))?
    {
        Some(v) => Ok(LogState::decode(&v)?.last_seq),
        None => Ok(0),
    }
}

pub(crate) fn load_snapshot(t: &Tables, key: &LogKey) -> Result<Option<Snapshot>> {
    let snap = t.db.snapshot();
    get_record(
        &snap,
        t,
        Table::Snapshots,
        "snapshot",
        key.storage_key().as_bytes(),
    )
}

pub(crate) fn by_id<T: DeserializeOwned>(
    t: &Tables,
    table: Table,
    what: &str,
    id: &str,
) -> Result<Option<T>> {
    if id.len() > MAX_KEY_LEN {
        // Longer than any key the writer accepts.
        return Ok(None);
    }
    get_record(&t.db.snapshot(), t, table, what, id.as_bytes())
}

/// A record found through a unique index (username, stream key).
fn by_unique<T: DeserializeOwned>(
    t: &Tables,
    index: Table,
    table: Table,
    what: &str,
    value: &str,
) -> Result<Option<T>> {
    if value.len() > MAX_KEY_LEN {
        return Ok(None);
    }
    let snap = t.db.snapshot();
    match snap
        .get(t.ks(index), value.as_bytes())
        .map_err(|e| fjall_err(&format!("reading the {what} index"), e))?
    {
        Some(id) => follow(&snap, t, table, what, &id).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn user_by_name(t: &Tables, username: &str) -> Result<Option<UserRecord>> {
    by_unique(t, Table::UserNames, Table::Users, "user", username)
}

pub(crate) fn family(t: &Tables, family: &str) -> Result<Option<RefreshFamily>> {
    by_id(t, Table::Families, "refresh family", family)
}

pub(crate) fn room_by_stream_key(t: &Tables, key: &str) -> Result<Option<RoomRecord>> {
    let room: Option<RoomRecord> = by_unique(t, Table::RoomKeys, Table::Rooms, "room", key)?;
    // The index keeps replaced keys (they stay reserved to their room):
    // only the room's current key finds it.
    Ok(room.filter(|r| r.stream_key == key))
}

/// The room id a stream key was issued to (current or replaced).
pub(crate) fn stream_key_owner(t: &Tables, key: &str) -> Result<Option<String>> {
    if key.len() > MAX_KEY_LEN {
        return Ok(None);
    }
    let id = t
        .ks(Table::RoomKeys)
        .get(key.as_bytes())
        .map_err(|e| fjall_err("reading the stream key index", e))?;
    id.map(|id| {
        String::from_utf8(id.to_vec())
            .map_err(|_| StoreError::Corrupt("stream key index: room id is not UTF-8".into()))
    })
    .transpose()
}

pub(crate) fn rooms(t: &Tables) -> Result<Vec<RoomRecord>> {
    list_via_index(t, Table::RoomsByTime, &[], Table::Rooms, "room")
}

pub(crate) fn lots_in_room(t: &Tables, room: &str) -> Result<Vec<LotRecord>> {
    list_via_index(t, Table::RoomLots, &owner_prefix(room), Table::Lots, "lot")
}

pub(crate) fn orders_by(t: &Tables, index: Table, user: &str) -> Result<Vec<OrderRecord>> {
    list_via_index(t, index, &owner_prefix(user), Table::Orders, "order")
}

/// The seller index read from its newest end down to `query.since_ms`,
/// following each entry, until `query.limit` orders match.
pub(crate) fn recent_orders_by_seller(
    t: &Tables,
    seller: &str,
    query: &RecentOrders,
) -> Result<Vec<OrderRecord>> {
    let snap = t.db.snapshot();
    let mut out = Vec::with_capacity(query.limit.min(1024));
    if query.limit == 0 {
        return Ok(out);
    }
    let oldest = ordered_key(seller, query.since_ms, 0);
    let newest = ordered_key(seller, u64::MAX, u64::MAX);
    for guard in snap.range(t.ks(Table::SellerOrders), oldest..=newest).rev() {
        let id = guard
            .value()
            .map_err(|e| fjall_err("scanning the seller order index", e))?;
        let order: OrderRecord = follow(&snap, t, Table::Orders, "order", &id)?;
        if query.in_room(&order) {
            out.push(order);
            if out.len() == query.limit {
                break;
            }
        }
    }
    Ok(out)
}

pub(crate) fn recent_chat(t: &Tables, room: &str, limit: usize) -> Result<Vec<ChatLine>> {
    let snap = t.db.snapshot();
    let mut out = Vec::with_capacity(limit.min(1024));
    for guard in snap
        .prefix(t.ks(Table::Chat), owner_prefix(room))
        .rev()
        .take(limit)
    {
        let (k, v) = guard
            .into_inner()
            .map_err(|e| fjall_err("reading chat", e))?;
        out.push(decode("chat line", &k, &v)?);
    }
    out.reverse();
    Ok(out)
}
