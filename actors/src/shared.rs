//! What every actor of a node shares: the store, the config, the cache of
//! running entities the [`crate::Region`] handle reads, the rooms directory,
//! counters, and the metric names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use liveshop_protocol::{LotId, Notice, RoomId, UserId};
use liveshop_store::{Store, StoreError};
use ractor::{ActorCell, ActorId, ActorRef};
use tokio::sync::oneshot;

use crate::lot::LotMsg;
use crate::room::RoomMsg;
use crate::router::RegionMsg;
use crate::session::SessionMsg;
use crate::{ActorConfig, ActorError};

pub(crate) const METRIC_ACTORS: &str = "liveshop_actors";
pub(crate) const METRIC_APPEND_SECONDS: &str = "liveshop_store_append_seconds";
pub(crate) const METRIC_BATCH_EVENTS: &str = "liveshop_append_batch_events";
pub(crate) const METRIC_LAGGED: &str = "liveshop_connections_lagged_total";
pub(crate) const METRIC_NOTICES_DROPPED: &str = "liveshop_notices_dropped_total";

/// Which entity a request is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum EntityKey {
    Lot(LotId),
    Room(RoomId),
    Session(UserId),
}

impl EntityKey {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            EntityKey::Lot(_) => "lot",
            EntityKey::Room(_) => "room",
            EntityKey::Session(_) => "session",
        }
    }
}

/// A running entity actor.
#[derive(Debug, Clone)]
pub(crate) enum EntityRef {
    Lot(ActorRef<LotMsg>),
    Room(ActorRef<RoomMsg>),
    Session(ActorRef<SessionMsg>),
}

impl EntityRef {
    pub(crate) fn cell(&self) -> ActorCell {
        match self {
            EntityRef::Lot(a) => a.get_cell(),
            EntityRef::Room(a) => a.get_cell(),
            EntityRef::Session(a) => a.get_cell(),
        }
    }

    pub(crate) fn id(&self) -> ActorId {
        self.cell().get_id()
    }
}

/// Why an entity did not answer a request.
#[derive(Debug)]
pub(crate) enum Fail {
    /// This instance is stopping and did not act on the request: ask the
    /// Region again (it waits for the next instance).
    Retry,
    Error(ActorError),
}

/// Where an entity sends its answer.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Fail>>;

/// Answers a request; a caller that gave up is no error.
pub(crate) fn answer<T>(reply: Reply<T>, value: Result<T, Fail>) {
    let _ = reply.send(value);
}

/// A room as the directory lists it, kept current by its RoomActor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomEntry {
    pub live: bool,
    pub viewers: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub lot_commands: AtomicU64,
    pub lot_appends: AtomicU64,
    pub lot_events: AtomicU64,
    pub room_appends: AtomicU64,
    pub lagged: AtomicU64,
    pub notices_dropped: AtomicU64,
    pub live_lots: AtomicU64,
    pub live_rooms: AtomicU64,
    pub live_sessions: AtomicU64,
    pub lots_started: AtomicU64,
}

pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub config: ActorConfig,
    /// Running entities, written only by the Region actor, read by every
    /// request, so the hot path does not go through the Region's mailbox.
    entities: RwLock<HashMap<EntityKey, EntityRef>>,
    directory: RwLock<HashMap<RoomId, RoomEntry>>,
    pub counters: Counters,
    closing: AtomicBool,
    region: OnceLock<ActorRef<RegionMsg>>,
}

impl Shared {
    pub(crate) fn new(store: Arc<dyn Store>, config: ActorConfig) -> Self {
        Shared {
            store,
            config,
            entities: RwLock::new(HashMap::new()),
            directory: RwLock::new(HashMap::new()),
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            region: OnceLock::new(),
        }
    }

    pub(crate) fn set_region(&self, region: ActorRef<RegionMsg>) {
        let _ = self.region.set(region);
    }

    pub(crate) fn region(&self) -> Option<&ActorRef<RegionMsg>> {
        self.region.get()
    }

    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn cached(&self, key: &EntityKey) -> Option<EntityRef> {
        read(&self.entities).get(key).cloned()
    }

    pub(crate) fn cache_insert(&self, key: EntityKey, entity: EntityRef) {
        write(&self.entities).insert(key, entity);
    }

    /// Forgets `key` only if it still names the instance `id`.
    pub(crate) fn cache_remove(&self, key: &EntityKey, id: ActorId) {
        let mut map = write(&self.entities);
        if map.get(key).is_some_and(|e| e.id() == id) {
            map.remove(key);
        }
    }

    pub(crate) fn room_ref(&self, room: &RoomId) -> Option<ActorRef<RoomMsg>> {
        match self.cached(&EntityKey::Room(room.clone())) {
            Some(EntityRef::Room(r)) => Some(r),
            _ => None,
        }
    }

    /// Delivers a personal notice to the user's session, if they have one on
    /// this node; a user without one is not connected and gets nothing.
    pub(crate) fn notify(&self, user: UserId, notice: Notice) {
        if let Some(EntityRef::Session(s)) = self.cached(&EntityKey::Session(user)) {
            // A session that is stopping has no connection left.
            let _ = s.send_message(SessionMsg::Notice(notice));
        }
    }

    pub(crate) fn directory_get(&self, room: &RoomId) -> Option<RoomEntry> {
        read(&self.directory).get(room).copied()
    }

    pub(crate) fn directory_set(&self, room: &RoomId, entry: RoomEntry) {
        write(&self.directory).insert(room.clone(), entry);
    }

    /// Records what a reader worked out from the store, unless a RoomActor
    /// has written fresher state meanwhile.
    pub(crate) fn directory_fill(&self, room: &RoomId, entry: RoomEntry) -> RoomEntry {
        *write(&self.directory).entry(room.clone()).or_insert(entry)
    }

    pub(crate) fn live_gauge(&self, kind: &'static str, delta: i64) {
        let counter = match kind {
            "lot" => &self.counters.live_lots,
            "room" => &self.counters.live_rooms,
            _ => &self.counters.live_sessions,
        };
        if kind == "lot" && delta > 0 {
            self.counters.lots_started.fetch_add(1, Ordering::Relaxed);
        }
        if delta >= 0 {
            counter.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            counter.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        metrics::gauge!(METRIC_ACTORS, "kind" => kind).set(counter.load(Ordering::Relaxed) as f64);
    }
}

// The maps hold plain values, consistent after any single insert or remove,
// so a lock poisoned by a panic elsewhere is still safe to use.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// The wall clock in ms since the Unix epoch: the `now` the domain gets.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A store failure as the gateway sees it; the details go to the log.
pub(crate) fn store_failed(what: &str, err: StoreError) -> ActorError {
    tracing::error!(%err, "store failure while {what}");
    ActorError::unavailable(format!("store failure while {what}"))
}

/// Turns a boxed start-up error back into the [`ActorError`] it was.
pub(crate) fn spawn_error(err: ractor::SpawnErr) -> ActorError {
    match err {
        ractor::SpawnErr::StartupFailed(e) => match e.downcast::<ActorError>() {
            Ok(e) => *e,
            Err(e) => ActorError::unavailable(e),
        },
        other => ActorError::unavailable(other),
    }
}
