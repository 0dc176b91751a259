//! Durable state of liveshop.
//!
//! This crate owns what must survive a crash: the per-entity event logs with
//! their epoch fence and snapshots, users and credentials, refresh-token
//! families, rooms, lot definitions, orders with idempotency keys and chat
//! history. It offers them as domain-level traits ([`Store`] and its parts), not
//! as a generic key-value map, so each backend can make the guarantees a trait
//! states with its own native tools (a fjall batch, a Lua script, a conditional
//! ScyllaDB batch). It does not know what an event means: event and snapshot
//! payloads are bytes encoded by the caller, and deciding anything is the domain
//! crate's job.
//!
//! Backends: [`embedded`] (fjall, the single-node default), `redis_store`
//! (a durable `redis-server`, the shared store of a small cluster; cargo
//! feature `redis`, on by default) and `scylla_store` (ScyllaDB, the
//! production store: prepared statements, LWT where a fence or uniqueness
//! needs it; cargo feature `scylla`, on by default). Every backend must pass
//! the [`conformance`] suite.
//!
//! # Layout
//! - `lib.rs`: records, traits, [`StoreError`].
//! - `embedded/`: the fjall backend and its commit queue (key layout and
//!   durability rules in its module doc).
//! - `redis_store/`: the Redis backend (key layout, Lua scripts and the
//!   durability check in its module doc).
//! - `scylla_store/`: the ScyllaDB backend (table layout, consistency,
//!   LWT use and the crash ordering of multi-step writes in its module doc;
//!   the schema is `config/schema.cql`, applied by its `migrate`).
//! - `conformance.rs`, `conformance/`: the suite every backend runs.
//! - `bin/store-crash-writer.rs`: the child process `tests/crash.rs` kills;
//!   a test helper, not part of a deployment.

pub mod conformance;
pub mod embedded;
#[cfg(feature = "redis")]
pub mod redis_store;
#[cfg(feature = "scylla")]
pub mod scylla_store;

pub use embedded::{EmbeddedOptions, EmbeddedStats, EmbeddedStore};
#[cfg(feature = "redis")]
pub use redis_store::{RedisOptions, RedisStore};
#[cfg(feature = "scylla")]
pub use scylla_store::{ScyllaOptions, ScyllaStore};

use async_trait::async_trait;
pub use liveshop_protocol::OrderStatus;
use liveshop_protocol::{IdemKey, LotId, LotSpec, Money, OrderId, Role, RoomId, UserId};
use serde::{Deserialize, Serialize};

/// An owner's term on an event log. Each [`EventLog::claim`] hands out a
/// larger one; appends under any other epoch are refused.
pub type Epoch = u64;

/// The event log of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogKey {
    Lot(LotId),
    Room(RoomId),
}

impl LogKey {
    /// A stable, unique string form, usable as a key prefix in any backend.
    pub fn storage_key(&self) -> String {
        match self {
            LogKey::Lot(id) => format!("lot/{id}"),
            LogKey::Room(id) => format!("room/{id}"),
        }
    }
}

/// One event in a log. `seq` is its position: the first event of a log is 1
/// and there are no gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// The state of an entity after the event `seq` of its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: UserId,
    /// Unique; the gateway normalises it (case, whitespace) before it gets here.
    pub username: String,
    /// A PHC string (Argon2id).
    pub password_hash: String,
    pub role: Role,
    pub created_ms: u64,
}

/// A chain of refresh tokens issued from one login. Only the hash of the
/// newest token is kept; presenting any other token of the family is reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub family: String,
    pub user_id: UserId,
    pub current_hash: String,
    pub expires_ms: u64,
    pub revoked: bool,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was the current one; the family now holds the new hash.
    Rotated(RefreshFamily),
    /// An older token of the family was presented: the family is now revoked.
    Reused,
    /// The family had been revoked (or has expired) before; nothing changed.
    Revoked,
    /// No such family.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room_id: RoomId,
    pub host: UserId,
    pub title: String,
    pub description: Option<String>,
    /// Secret the RTMP server presents when the host starts streaming.
    pub stream_key: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecord {
    pub lot_id: LotId,
    pub room_id: RoomId,
    pub host: UserId,
    pub spec: LotSpec,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order_id: OrderId,
    pub lot_id: LotId,
    pub room_id: RoomId,
    pub buyer: UserId,
    pub seller: UserId,
    pub qty: u32,
    /// The total for `qty` units.
    pub total: Money,
    /// The buyer's idempotency key, when the order came from a `checkout`.
    pub idem: Option<IdemKey>,
    pub status: OrderStatus,
    pub created_ms: u64,
}

/// Which of a seller's orders [`Orders::recent_orders_by_seller`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentOrders {
    /// Only orders in this room (all the seller's rooms when `None`).
    pub room: Option<RoomId>,
    /// Only orders created at or after this time: where the scan stops when
    /// fewer than `limit` match (a room's orders do not predate the room).
    pub since_ms: u64,
    pub limit: usize,
}

impl RecentOrders {
    /// Whether `order` is in the asked room (the time bound is the scan's).
    pub fn in_room(&self, order: &OrderRecord) -> bool {
        self.room.as_ref().is_none_or(|r| *r == order.room_id)
    }
}

/// The outcome of [`Orders::put_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOrder {
    Created,
    /// An order with the same id, or with the same buyer and idempotency key,
    /// already exists; nothing was written and this is that order.
    Existing(OrderRecord),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub room_id: RoomId,
    pub user: UserId,
    pub name: String,
    pub text: String,
    pub at_ms: u64,
}

/// Errors at the store boundary. Each variant says whether anything was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The log is held under another epoch; nothing was written. The caller has
    /// lost ownership and must stop without acknowledging anything.
    #[error("fenced: log {key} is at epoch {current}, writer holds {presented}")]
    Fenced {
        key: String,
        current: Epoch,
        presented: Epoch,
    },
    /// The batch does not continue the log without a gap; nothing was written.
    #[error("sequence gap in log {key}: expected seq {expected}, got {got}")]
    SeqGap {
        key: String,
        expected: u64,
        got: u64,
    },
    /// A unique record (username, room, lot, family) exists; nothing was written.
    #[error("{0} already exists")]
    Conflict(String),
    /// The backend could not be reached or answered in time; the write may or
    /// may not have happened, the caller may retry idempotent operations.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer in time (a server-side read or write
    /// timeout, or the client's request timeout); the write may or may not
    /// have happened. Retrying an append after this may answer `SeqGap` if
    /// the first attempt landed: callers recover from the store.
    #[error("store timed out: {0}")]
    Timeout(String),
    /// The backend refused the request because it is overloaded; nothing was
    /// written. Retry later, with backoff.
    #[error("store overloaded: {0}")]
    Overloaded(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same call may succeed if made again later: the backend
    /// was unreachable, slow or overloaded, not the request itself refused
    /// (a fence, a gap, a conflict or corrupt data stay what they are).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Overloaded(_)
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Per-entity event logs with a single-writer fence.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Takes ownership of the log: returns an epoch larger than any returned
    /// before for this key. From now on appends under older epochs fail.
    async fn claim(&self, key: &LogKey) -> Result<Epoch>;

    /// Appends `events` in one atomic, durable write, only if `epoch` is the
    /// log's current epoch and the events continue the log: consecutive `seq`
    /// starting at the last stored seq + 1. Otherwise nothing is written
    /// ([`StoreError::Fenced`], [`StoreError::SeqGap`]). Returns once the
    /// events are on disk (or replicated), so the caller may acknowledge them.
    async fn append(&self, key: &LogKey, epoch: Epoch, events: &[StoredEvent]) -> Result<()>;

    /// The events with `seq > after`, in order.
    async fn read(&self, key: &LogKey, after: u64) -> Result<Vec<StoredEvent>>;

    /// The seq of the last event, 0 for an empty log.
    async fn last_seq(&self, key: &LogKey) -> Result<u64>;

    /// Stores a snapshot, fenced like `append`. A snapshot never runs ahead of
    /// the log (`snapshot.seq <= last_seq`).
    async fn save_snapshot(&self, key: &LogKey, epoch: Epoch, snapshot: &Snapshot) -> Result<()>;

    /// The newest snapshot, if any.
    async fn load_snapshot(&self, key: &LogKey) -> Result<Option<Snapshot>>;
}

#[async_trait]
pub trait Users: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the username or id is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>>;
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
}

#[async_trait]
pub trait RefreshTokens: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the family id exists.
    async fn create_family(&self, family: &RefreshFamily) -> Result<()>;
    /// Atomically compares `presented_hash` with the family's current hash and,
    /// if equal and the family is live at `now_ms`, replaces it with `next_hash`
    /// and `expires_ms`. A mismatch revokes the family.
    async fn rotate(
        &self,
        family: &str,
        presented_hash: &str,
        next_hash: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Rotation>;
    async fn revoke_family(&self, family: &str) -> Result<()>;
    async fn family(&self, family: &str) -> Result<Option<RefreshFamily>>;
}

#[async_trait]
pub trait Rooms: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the id or the stream key exists.
    async fn create_room(&self, room: &RoomRecord) -> Result<()>;
    async fn room(&self, id: &RoomId) -> Result<Option<RoomRecord>>;
    /// The room whose *current* stream key is `stream_key` (a key replaced
    /// by [`Rooms::replace_stream_key`] finds nothing here).
    async fn room_by_stream_key(&self, stream_key: &str) -> Result<Option<RoomRecord>>;
    /// Gives the room `new_key` as its stream key, atomically: from then on
    /// `room_by_stream_key` finds the room by `new_key` only. The old key
    /// stays reserved to the room (no room can take it) and
    /// [`Rooms::stream_key_owner`] still names the room for it, so the end of
    /// a stream that was published under it can still be matched to its
    /// room. `None` when there is no such room; [`StoreError::Conflict`]
    /// when `new_key` was ever issued to any room (nothing was written).
    async fn replace_stream_key(&self, room: &RoomId, new_key: &str) -> Result<Option<RoomRecord>>;
    /// The room `stream_key` was issued to, whether it is the room's current
    /// key or one it replaced.
    async fn stream_key_owner(&self, stream_key: &str) -> Result<Option<RoomId>>;
    /// Every room, oldest first.
    async fn rooms(&self) -> Result<Vec<RoomRecord>>;
}

#[async_trait]
pub trait Lots: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the id exists.
    async fn create_lot(&self, lot: &LotRecord) -> Result<()>;
    async fn lot(&self, id: &LotId) -> Result<Option<LotRecord>>;
    /// The room's lots, oldest first.
    async fn lots_in_room(&self, room: &RoomId) -> Result<Vec<LotRecord>>;
}

#[async_trait]
pub trait Orders: Send + Sync {
    /// Records `order` unless an order with the same id, or with the same
    /// buyer and idempotency key, exists; then returns that one. Atomic.
    async fn put_order(&self, order: &OrderRecord) -> Result<PutOrder>;
    async fn order(&self, id: &OrderId) -> Result<Option<OrderRecord>>;
    /// The buyer's orders, oldest first.
    async fn orders_by_buyer(&self, buyer: &UserId) -> Result<Vec<OrderRecord>>;
    /// Orders on lots the seller hosts, oldest first.
    async fn orders_by_seller(&self, seller: &UserId) -> Result<Vec<OrderRecord>>;
    /// The newest `query.limit` of the seller's orders that match `query`,
    /// newest first by `created_ms` (each backend fixes the order of those
    /// created in the same millisecond, as its oldest-first listing does).
    /// Reads from the newest end and stops at the limit or at
    /// `query.since_ms`, so a studio's poll costs what it returns, not the
    /// seller's whole history.
    async fn recent_orders_by_seller(
        &self,
        seller: &UserId,
        query: &RecentOrders,
    ) -> Result<Vec<OrderRecord>>;
}

#[async_trait]
pub trait ChatHistory: Send + Sync {
    async fn append_chat(&self, line: &ChatLine) -> Result<()>;
    /// The newest `limit` lines of the room, oldest first.
    async fn recent_chat(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatLine>>;
}

/// Everything a node keeps durably.
pub trait Store: EventLog + Users + RefreshTokens + Rooms + Lots + Orders + ChatHistory {}

impl<T> Store for T where T: EventLog + Users + RefreshTokens + Rooms + Lots + Orders + ChatHistory {}
