//! Keyspaces, key encodings, record codec and error mapping of the embedded
//! backend. The layout itself is described in the module doc of
//! [`crate::embedded`].

use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{LogKey, Result, StoreError};

/// Separates an owner id from the rest of a composite key. Ids are printable
/// ASCII (never 0x00), so `owner\0...` can never be a prefix of another
/// owner's keys (`lot/a\0` vs `lot/ab\0`).
const SEP: u8 = 0;

/// Longest free-form string (username, stream key, family id) used as a key.
/// fjall caps keys at 64 KiB; the gateway bounds these far below that, so
/// anything longer is refused before it reaches fjall.
pub(crate) const MAX_KEY_LEN: usize = 4096;

/// Key in [`Table::Meta`] holding the next ordinal (u64 BE).
pub(crate) const NEXT_ORDINAL: &[u8] = b"next_ordinal";

/// Every keyspace of the store. The writer addresses them by this enum so its
/// per-drain overlay can key pending writes by `(table, key)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Meta,
    Logs,
    Events,
    Snapshots,
    Users,
    UserNames,
    Families,
    Rooms,
    RoomKeys,
    RoomsByTime,
    Lots,
    RoomLots,
    Orders,
    OrderIdem,
    BuyerOrders,
    SellerOrders,
    Chat,
}

impl Table {
    const ALL: [Table; 17] = [
        Table::Meta,
        Table::Logs,
        Table::Events,
        Table::Snapshots,
        Table::Users,
        Table::UserNames,
        Table::Families,
        Table::Rooms,
        Table::RoomKeys,
        Table::RoomsByTime,
        Table::Lots,
        Table::RoomLots,
        Table::Orders,
        Table::OrderIdem,
        Table::BuyerOrders,
        Table::SellerOrders,
        Table::Chat,
    ];

    /// The fjall keyspace name. Stable: changing one loses data.
    fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Logs => "logs",
            Table::Events => "events",
            Table::Snapshots => "snapshots",
            Table::Users => "users",
            Table::UserNames => "user_names",
            Table::Families => "families",
            Table::Rooms => "rooms",
            Table::RoomKeys => "room_keys",
            Table::RoomsByTime => "rooms_by_time",
            Table::Lots => "lots",
            Table::RoomLots => "room_lots",
            Table::Orders => "orders",
            Table::OrderIdem => "order_idem",
            Table::BuyerOrders => "buyer_orders",
            Table::SellerOrders => "seller_orders",
            Table::Chat => "chat",
        }
    }
}

/// The open database and a handle to each keyspace. Cheap to clone (fjall
/// handles are reference counted), so read tasks take their own copy.
#[derive(Clone)]
pub(crate) struct Tables {
    pub(crate) db: Database,
    keyspaces: Vec<Keyspace>,
}

impl Tables {
    /// Opens every table, each holding at most `memtable_bytes` of writes
    /// in memory before they are flushed.
    pub(crate) fn open(db: Database, memtable_bytes: u64) -> Result<Self> {
        let mut keyspaces = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let ks = db
                .keyspace(table.name(), || {
                    KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes)
                })
                .map_err(|e| fjall_err(&format!("opening keyspace {}", table.name()), e))?;
            keyspaces.push(ks);
        }
        Ok(Self { db, keyspaces })
    }

    pub(crate) fn ks(&self, table: Table) -> &Keyspace {
        // `keyspaces` was filled in `Table::ALL` order, and `ALL` lists every
        // variant in declaration order, so the discriminant is the index.
        &self.keyspaces[table as usize]
    }
}

/// Maps a fjall error: I/O trouble, a poisoned (failed-sync) or locked
/// database are `Unavailable`; anything about undecodable bytes is `Corrupt`.
pub(crate) fn fjall_err(context: &str, e: fjall::Error) -> StoreError {
    let msg = format!("{context}: {e}");
    match e {
        fjall::Error::Io(_)
        | fjall::Error::Poisoned
        | fjall::Error::Locked
        | fjall::Error::KeyspaceDeleted
        | fjall::Error::Storage(fjall::LsmError::Io(_)) => StoreError::Unavailable(msg),
        _ => StoreError::Corrupt(msg),
    }
}

pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    // Named encoding keeps records readable across field reordering and lets
    // `#[serde(flatten)]`/tagged enums (LotSpec) round-trip.
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("encoding {what}: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, key: &[u8], bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(format!(
            "decoding {what} at key {}: {e}",
            String::from_utf8_lossy(key)
        ))
    })
}

pub(crate) fn u64_be(what: &str, bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!("{what}: expected 8 bytes, got {}", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// Refuses a free-form string that is too long to be a key.
pub(crate) fn check_key_len(what: &str, s: &str) -> Result<()> {
    if s.len() > MAX_KEY_LEN {
        return Err(StoreError::Unavailable(format!(
            "{what} is {} bytes, longer than the {MAX_KEY_LEN} a key may have; refused",
            s.len()
        )));
    }
    Ok(())
}

/// `owner\0`: the prefix of every composite key of one owner.
pub(crate) fn owner_prefix(owner: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 17);
    k.extend_from_slice(owner.as_bytes());
    k.push(SEP);
    k
}

/// `<storage key>\0`: the prefix of a log's events.
pub(crate) fn log_prefix(key: &LogKey) -> Vec<u8> {
    owner_prefix(&key.storage_key())
}

/// `<storage key>\0<seq BE>`: big-endian so keys sort by seq.
pub(crate) fn event_key(key: &LogKey, seq: u64) -> Vec<u8> {
    let mut k = log_prefix(key);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The seq encoded in the last 8 bytes of an event key.
pub(crate) fn seq_of_event_key(k: &[u8]) -> Result<u64> {
    let tail = k
        .len()
        .checked_sub(8)
        .map(|at| &k[at..])
        .ok_or_else(|| StoreError::Corrupt("event key shorter than 8 bytes".into()))?;
    u64_be("event key", tail)
}

/// `owner\0<time BE><ordinal BE>`: an owner's records by time, ties broken
/// by creation order.
pub(crate) fn ordered_key(owner: &str, at_ms: u64, ordinal: u64) -> Vec<u8> {
    let mut k = owner_prefix(owner);
    k.extend_from_slice(&at_ms.to_be_bytes());
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

/// `<time BE><ordinal BE>`: a global index by time (rooms).
pub(crate) fn time_key(at_ms: u64, ordinal: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&at_ms.to_be_bytes());
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

/// `buyer\0idem`: the idempotency index of orders.
pub(crate) fn idem_key(buyer: &str, idem: &str) -> Vec<u8> {
    let mut k = owner_prefix(buyer);
    k.extend_from_slice(idem.as_bytes());
    k
}

/// Log metadata: `[epoch BE][last seq BE]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LogState {
    pub(crate) epoch: u64,
    pub(crate) last_seq: u64,
}

impl LogState {
    pub(crate) fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.epoch.to_be_bytes());
        b[8..].copy_from_slice(&self.last_seq.to_be_bytes());
        b
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "log state: expected 16 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self {
            epoch: u64_be("log epoch", &bytes[..8])?,
            last_seq: u64_be("log last seq", &bytes[8..])?,
        })
    }
}
