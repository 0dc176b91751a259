//! The [`Region`] handle: what the gateway holds to reach the node's actors.
//!
//! A request first looks the entity up in the shared cache of running
//! instances and sends to it directly; only a miss goes through the Region
//! actor's mailbox (`router.rs`). An instance that is stopping refuses the
//! message before acting on it (ractor's drain), or answers `Retry`; either
//! way the request was not acted on, so it is sent again through the Region,
//! which hands out the next instance once the old one has terminated. A
//! request that was queued in an instance that then stopped without answering
//! is answered [`ActorError::Unavailable`] (it may or may not have been acted
//! on), and every request gives up after `call_timeout`: nothing hangs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use liveshop_domain::{Lot, LotCommand, LotReply, Rejection, RoomChange, RoomCommand, Sequenced};
use liveshop_protocol::{
    LotId, LotView, RoomId, RoomStatus, RoomSummary, RoomView, Snapshot, UserId,
};
use liveshop_store::{LotRecord, Store, StoreError};
use ractor::{Actor, ActorId, ActorRef, Message};
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};

use crate::conn::{ConnHandle, ConnId};
use crate::lot::LotMsg;
use crate::room::RoomMsg;
use crate::router::{RegionActor, RegionMsg};
use crate::session::SessionMsg;
use crate::shared::{EntityKey, EntityRef, Fail, RoomEntry, Shared, store_failed};
use crate::{ActorConfig, ActorError, load};

/// Times a request is re-sent to the next instance of a stopping entity.
const MAX_ATTEMPTS: usize = 8;

/// The answer to `join`.
#[derive(Debug, Clone)]
pub enum Joined {
    /// The room's state; events with a greater seq follow on the connection.
    /// `snapshot.reset` is set when a `since` was given but could not be
    /// replayed.
    Snapshot(Box<Snapshot>),
    /// `since` could be replayed: these are the events after it (possibly
    /// none); later ones follow on the connection.
    Replay(Vec<Sequenced>),
}

/// Counts since the region started, and the entities running now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionStats {
    pub lots: u64,
    pub rooms: u64,
    pub sessions: u64,
    /// Lot actors started (first start, recovery after passivation or a
    /// failure, wake-ups).
    pub lots_started: u64,
    /// Lot commands decided (ticks not included).
    pub lot_commands: u64,
    /// Store appends made by lots: with group commit far fewer than commands.
    pub lot_appends: u64,
    pub lot_events: u64,
    pub room_appends: u64,
    /// Connections unsubscribed from a room because their queue was full.
    pub lagged: u64,
    /// Notices not delivered to a connection because its queue was full.
    pub notices_dropped: u64,
}

/// The per-node router. Cheap to clone; every clone talks to the same actors.
#[derive(Clone)]
pub struct Region {
    shared: Arc<Shared>,
    actor: ActorRef<RegionMsg>,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Region {
    /// Starts the region's actors over `store`.
    pub async fn start(store: Arc<dyn Store>, config: ActorConfig) -> Result<Region, ActorError> {
        let wake = config.wake_lots_on_start;
        let shared = Arc::new(Shared::new(store, config));
        let (actor, _) = Actor::spawn(None, RegionActor, shared.clone())
            .await
            .map_err(ActorError::unavailable)?;
        shared.set_region(actor.clone());
        let region = Region { shared, actor };
        if wake {
            tokio::spawn(region.clone().wake_lots());
        }
        Ok(region)
    }

    /// Stops taking requests, lets every entity finish what it holds (appends
    /// in flight complete and are answered), snapshots and stops them.
    /// Returns when all have stopped, or after `shutdown_timeout`.
    pub async fn shutdown(&self) {
        self.shared.close();
        let limit = self.shared.config.shutdown_timeout;
        let (done, finished) = oneshot::channel();
        if self
            .actor
            .send_message(RegionMsg::Shutdown { done })
            .is_ok()
            && tokio::time::timeout(limit, finished).await.is_err()
        {
            tracing::warn!(?limit, "entities did not all stop in time; stopping them");
            self.actor.stop_children(Some("shutdown timed out".into()));
            self.actor.stop(Some("shutdown timed out".into()));
        }
        let _ = self.actor.get_cell().wait(Some(limit)).await;
    }

    /// Entities running now, and counters (appends, lagged connections...).
    pub fn stats(&self) -> RegionStats {
        let c = &self.shared.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        RegionStats {
            lots: get(&c.live_lots),
            rooms: get(&c.live_rooms),
            sessions: get(&c.live_sessions),
            lots_started: get(&c.lots_started),
            lot_commands: get(&c.lot_commands),
            lot_appends: get(&c.lot_appends),
            lot_events: get(&c.lot_events),
            room_appends: get(&c.room_appends),
            lagged: get(&c.lagged),
            notices_dropped: get(&c.notices_dropped),
        }
    }

    /// Records a new lot (already validated by the caller with
    /// `LotDef::new`) and adds it to its room. Returns its draft state. The
    /// caller checks that the room exists and is the host's: the lot record
    /// is written before the room is asked (a room that is missing answers
    /// [`ActorError::NotFound`] and the record stays unused).
    pub async fn create_lot(&self, record: LotRecord) -> Result<LotView, ActorError> {
        self.check_open()?;
        let def = load::lot_def(&record)?;
        match self.shared.store.create_lot(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(what)) => {
                return Err(ActorError::unavailable(format!("{what} already exists")));
            }
            Err(e) => return Err(store_failed("creating a lot", e)),
        }
        let lot = record.lot_id.clone();
        // `AddLot` is never refused.
        let _ = self
            .room_command(&record.room_id, RoomCommand::AddLot { lot })
            .await?;
        Ok(Lot::new(def).view())
    }

    /// Sends `cmd` to the lot's actor; answers once the resulting events are
    /// durable.
    pub async fn lot_command(
        &self,
        lot: &LotId,
        cmd: LotCommand,
    ) -> Result<Result<LotReply, Rejection>, ActorError> {
        self.ask(EntityKey::Lot(lot.clone()), pick_lot, |reply| {
            LotMsg::Command {
                cmd: cmd.clone(),
                reply,
            }
        })
        .await
    }

    /// The lot's durable state.
    pub async fn lot_view(&self, lot: &LotId) -> Result<LotView, ActorError> {
        self.ask(EntityKey::Lot(lot.clone()), pick_lot, |reply| {
            LotMsg::View { reply }
        })
        .await
    }

    /// Sends `cmd` to the room's actor; answers once durable changes are.
    pub async fn room_command(
        &self,
        room: &RoomId,
        cmd: RoomCommand,
    ) -> Result<Result<(), Rejection>, ActorError> {
        self.ask(EntityKey::Room(room.clone()), pick_room, |reply| {
            RoomMsg::Command {
                cmd: cmd.clone(),
                reply,
            }
        })
        .await
    }

    /// The room as `GET /rooms/{id}` shows it (`hls_url` left for the caller).
    pub async fn room_view(&self, room: &RoomId) -> Result<RoomView, ActorError> {
        self.ask(EntityKey::Room(room.clone()), pick_room, |reply| {
            RoomMsg::View { reply }
        })
        .await
    }

    /// Every room, or only live ones, most viewers first (oldest first among
    /// equals). Rooms whose actor is not running are read from their log once
    /// and then remembered.
    pub async fn rooms(&self, live_only: bool) -> Result<Vec<RoomSummary>, ActorError> {
        self.check_open()?;
        let store = self.shared.store.as_ref();
        let records = store
            .rooms()
            .await
            .map_err(|e| store_failed("listing rooms", e))?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let entry = match self.shared.directory_get(&r.room_id) {
                Some(e) => e,
                None => {
                    let (changes, _) = load::room_changes(store, &r.room_id).await?;
                    let live = changes.iter().fold(false, |live, c| match c {
                        RoomChange::Live { on, .. } => *on,
                        _ => live,
                    });
                    let entry = RoomEntry { live, viewers: 0 };
                    self.shared.directory_fill(&r.room_id, entry)
                }
            };
            if live_only && !entry.live {
                continue;
            }
            out.push(RoomSummary {
                room_id: r.room_id,
                title: r.title,
                host: r.host,
                status: if entry.live {
                    RoomStatus::Live
                } else {
                    RoomStatus::Offline
                },
                viewers: entry.viewers,
            });
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.viewers));
        Ok(out)
    }

    /// Subscribes `conn` to the room and returns where it starts. Every room
    /// event with a seq above the snapshot's (or above `since`) then arrives on
    /// the connection, in order. `Ok(Err(Rejection::Forbidden))` for a user
    /// the host banned.
    ///
    /// Events may be queued on the connection before this returns: write the
    /// answer first, then what the queue holds. When a connection joins a room
    /// again (say after [`crate::Outbound::Lagged`]), events still queued from
    /// before with a seq at or below the new starting point are duplicates.
    pub async fn join(
        &self,
        room: &RoomId,
        since: Option<u64>,
        conn: &ConnHandle,
    ) -> Result<Result<Joined, Rejection>, ActorError> {
        self.ask(EntityKey::Room(room.clone()), pick_room, |reply| {
            RoomMsg::Join {
                since,
                conn: conn.clone(),
                reply,
            }
        })
        .await
    }

    pub async fn leave(&self, room: &RoomId, conn: ConnId) {
        // A room that is not running has no subscribers to remove.
        if let Some(r) = self.shared.room_ref(room) {
            let _ = r.send_message(RoomMsg::Leave { conn });
        }
    }

    /// Delivers the user's personal notices to `conn` until [`Region::detach`].
    /// Returns once notices reach it (quietly does nothing while the node is
    /// shutting down).
    pub async fn attach(&self, user: &UserId, conn: &ConnHandle) {
        let key = EntityKey::Session(user.clone());
        let result = self
            .ask(key, pick_session, |reply| SessionMsg::Attach {
                conn: conn.clone(),
                reply,
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(%user, conn = conn.id, %err, "cannot attach a connection for notices");
        }
    }

    pub async fn detach(&self, user: &UserId, conn: ConnId) {
        if let Some(EntityRef::Session(s)) = self.shared.cached(&EntityKey::Session(user.clone())) {
            let _ = s.send_message(SessionMsg::Detach { conn });
        }
    }

    fn check_open(&self) -> Result<(), ActorError> {
        if self.shared.is_closing() {
            Err(ActorError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Sends a request to the entity's running instance (spawning it if
    /// needed) and waits for the answer; see the module doc for the rules.
    async fn ask<M: Message, T>(
        &self,
        key: EntityKey,
        pick: fn(EntityRef) -> Option<ActorRef<M>>,
        make: impl Fn(oneshot::Sender<Result<T, Fail>>) -> M,
    ) -> Result<T, ActorError> {
        let deadline = Instant::now() + self.shared.config.call_timeout;
        let timed_out = || ActorError::unavailable(format!("no answer from the {}", key.kind()));
        let mut stale: Option<ActorId> = None;
        for _ in 0..MAX_ATTEMPTS {
            self.check_open()?;
            let cached = self.shared.cached(&key).filter(|e| Some(e.id()) != stale);
            let entity = match cached {
                Some(e) => e,
                None => self.route(&key, stale, deadline).await?,
            };
            let actor = pick(entity).ok_or_else(|| ActorError::unavailable("wrong entity kind"))?;
            let (tx, rx) = oneshot::channel();
            if actor.send_message(make(tx)).is_err() {
                stale = Some(actor.get_id());
                continue;
            }
            match timeout_at(deadline, rx).await {
                Err(_) => return Err(timed_out()),
                Ok(Err(_)) => {
                    return Err(ActorError::unavailable(format!(
                        "the {} stopped before answering",
                        key.kind()
                    )));
                }
                Ok(Ok(Err(Fail::Retry))) => stale = Some(actor.get_id()),
                Ok(Ok(Err(Fail::Error(e)))) => return Err(e),
                Ok(Ok(Ok(v))) => return Ok(v),
            }
        }
        Err(ActorError::unavailable(format!(
            "the {} keeps restarting",
            key.kind()
        )))
    }

    async fn route(
        &self,
        key: &EntityKey,
        stale: Option<ActorId>,
        deadline: Instant,
    ) -> Result<EntityRef, ActorError> {
        let (reply, answer) = oneshot::channel();
        let msg = RegionMsg::Route {
            key: key.clone(),
            stale,
            reply,
        };
        self.actor
            .send_message(msg)
            .map_err(|_| ActorError::ShuttingDown)?;
        match timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ActorError::ShuttingDown),
            Err(_) => Err(ActorError::unavailable(format!(
                "the {} did not start in time",
                key.kind()
            ))),
        }
    }

    /// Loads every lot that may have a timer due, so auctions end and holds
    /// expire after a restart even if nobody touches the lot. Sequential: a
    /// background chore, not worth crowding the store at start-up.
    async fn wake_lots(self) {
        let store = self.shared.store.clone();
        let rooms = match store.rooms().await {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(%err, "cannot list rooms to wake their lots");
                return;
            }
        };
        for room in rooms {
            let lots = match store.lots_in_room(&room.room_id).await {
                Ok(l) => l,
                Err(err) => {
                    tracing::warn!(room = %room.room_id, %err, "cannot list lots to wake");
                    continue;
                }
            };
            for lot in lots {
                if self.shared.is_closing() {
                    return;
                }
                if !load::may_have_deadline(store.as_ref(), &lot.lot_id).await {
                    continue;
                }
                match self.lot_view(&lot.lot_id).await {
                    Ok(_) | Err(ActorError::ShuttingDown) => {}
                    Err(err) => tracing::warn!(lot = %lot.lot_id, %err, "cannot wake a lot"),
                }
            }
        }
    }
}

fn pick_lot(e: EntityRef) -> Option<ActorRef<LotMsg>> {
    match e {
        EntityRef::Lot(a) => Some(a),
        _ => None,
    }
}

fn pick_room(e: EntityRef) -> Option<ActorRef<RoomMsg>> {
    match e {
        EntityRef::Room(a) => Some(a),
        _ => None,
    }
}

fn pick_session(e: EntityRef) -> Option<ActorRef<SessionMsg>> {
    match e {
        EntityRef::Session(a) => Some(a),
        _ => None,
    }
}
