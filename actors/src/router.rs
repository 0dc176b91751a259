//! The Region actor: the one place that decides which instance of an entity
//! a request goes to (the seam where the cluster will forward to other
//! nodes).
//!
//! Entity actors are spawned linked to it, from a separate task so a slow
//! start-up (a lot replaying its log) never blocks the Region's mailbox;
//! requests for an entity that is starting wait in its slot. A running entity
//! is also put in the shared cache, so the [`crate::Region`] handle reaches it
//! directly on the hot path. At most one instance of an entity runs at a
//! time: an instance that is stopping (passivation, failure) keeps its slot
//! until the Region sees it terminate, requests that reach the Region for it
//! meanwhile wait, and only then is the next instance spawned for them. Two
//! instances would be two writers fencing each other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use liveshop_protocol::{LotId, RoomId};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent,
};
use tokio::sync::oneshot;

use crate::ActorError;
use crate::lot::LotActor;
use crate::room::{RoomActor, RoomMsg};
use crate::session::SessionActor;
use crate::shared::{EntityKey, EntityRef, Shared, now_ms, spawn_error};

pub(crate) type RouteReply = oneshot::Sender<Result<EntityRef, ActorError>>;

pub(crate) enum RegionMsg {
    /// Get or spawn the entity. `stale` names an instance the caller found
    /// stopping: wait for the next one rather than return it.
    Route {
        key: EntityKey,
        stale: Option<ActorId>,
        reply: RouteReply,
    },
    Spawned {
        key: EntityKey,
        result: Result<EntityRef, ActorError>,
    },
    /// A lot's publication for a room missing from the cache: handed over if
    /// the room is starting, dropped if it is not running (it loads the lot's
    /// state when it starts).
    Deliver {
        room: RoomId,
        msg: RoomMsg,
    },
    /// A passivating lot's next deadline: start it again then.
    WakeAt {
        lot: LotId,
        at_ms: u64,
    },
    Wake {
        lot: LotId,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

enum Slot {
    Starting {
        waiters: Vec<RouteReply>,
        pending: Vec<RoomMsg>,
    },
    Running(EntityRef),
    Stopping {
        id: ActorId,
        waiters: Vec<RouteReply>,
    },
}

pub(crate) struct RegionActor;

pub(crate) struct RegionState {
    shared: Arc<Shared>,
    slots: HashMap<EntityKey, Slot>,
    /// Running or stopping instances, to find a terminated one's slot.
    ids: HashMap<ActorId, EntityKey>,
    /// Instances that terminated before their `Spawned` was handled
    /// (supervision events overtake ordinary messages).
    exited_early: HashSet<ActorId>,
    /// Set once `Shutdown` arrives: who waits for the end.
    closing: Option<Vec<oneshot::Sender<()>>>,
}

impl Actor for RegionActor {
    type Msg = RegionMsg;
    type State = RegionState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<RegionMsg>,
        shared: Arc<Shared>,
    ) -> Result<RegionState, ActorProcessingErr> {
        Ok(RegionState {
            shared,
            slots: HashMap::new(),
            ids: HashMap::new(),
            exited_early: HashSet::new(),
            closing: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<RegionMsg>,
        msg: RegionMsg,
        state: &mut RegionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegionMsg::Route { key, stale, reply } => state.route(&myself, key, stale, reply),
            RegionMsg::Spawned { key, result } => state.spawned(&myself, key, result),
            RegionMsg::Deliver { room, msg } => match state.slots.get_mut(&EntityKey::Room(room)) {
                Some(Slot::Starting { pending, .. }) => pending.push(msg),
                Some(Slot::Running(EntityRef::Room(r))) => {
                    let _ = r.send_message(msg);
                }
                _ => {}
            },
            RegionMsg::WakeAt { lot, at_ms } => {
                if state.closing.is_none() {
                    let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()) + 1);
                    drop(myself.send_after(delay, move || RegionMsg::Wake { lot }));
                }
            }
            RegionMsg::Wake { lot } => {
                let key = EntityKey::Lot(lot);
                if state.closing.is_none() && !state.slots.contains_key(&key) {
                    state.start(&myself, key, Vec::new());
                }
            }
            RegionMsg::Shutdown { done } => state.shutdown(&myself, done),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RegionMsg>,
        event: SupervisionEvent,
        state: &mut RegionState,
    ) -> Result<(), ActorProcessingErr> {
        // Unlike ractor's default, an entity ending never stops the Region.
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => state.exited(&myself, &cell),
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(%err, "an entity actor failed");
                state.exited(&myself, &cell);
            }
            _ => {}
        }
        Ok(())
    }
}

impl RegionState {
    fn route(
        &mut self,
        myself: &ActorRef<RegionMsg>,
        key: EntityKey,
        stale: Option<ActorId>,
        reply: RouteReply,
    ) {
        if self.closing.is_some() {
            let _ = reply.send(Err(ActorError::ShuttingDown));
            return;
        }
        match self.slots.get_mut(&key) {
            None => self.start(myself, key, vec![reply]),
            Some(Slot::Starting { waiters, .. }) | Some(Slot::Stopping { waiters, .. }) => {
                waiters.push(reply)
            }
            Some(slot @ Slot::Running(_)) => {
                let Slot::Running(entity) = &*slot else {
                    return;
                };
                let id = entity.id();
                let stopping =
                    stale == Some(id) || entity.cell().get_status() > ActorStatus::Running;
                if stopping {
                    // Never hand out an instance that refuses messages; the
                    // caller waits for its successor.
                    self.shared.cache_remove(&key, id);
                    *slot = Slot::Stopping {
                        id,
                        waiters: vec![reply],
                    };
                } else {
                    let _ = reply.send(Ok(entity.clone()));
                }
            }
        }
    }

    fn start(&mut self, myself: &ActorRef<RegionMsg>, key: EntityKey, waiters: Vec<RouteReply>) {
        self.slots.insert(
            key.clone(),
            Slot::Starting {
                waiters,
                pending: Vec::new(),
            },
        );
        let shared = self.shared.clone();
        let region = myself.clone();
        tokio::spawn(async move {
            let result = spawn_entity(shared, &key, region.get_cell()).await;
            if let Err(ractor::MessagingErr::SendErr(RegionMsg::Spawned {
                result: Ok(entity),
                ..
            })) = region.send_message(RegionMsg::Spawned { key, result })
            {
                // The Region is gone (it waits for starting entities before
                // it stops, so only after a forced shutdown): do not leak.
                entity.cell().stop(None);
            }
        });
    }

    fn spawned(
        &mut self,
        myself: &ActorRef<RegionMsg>,
        key: EntityKey,
        result: Result<EntityRef, ActorError>,
    ) {
        let Some(Slot::Starting { waiters, pending }) = self.slots.remove(&key) else {
            tracing::error!(kind = key.kind(), "spawned an entity with no starting slot");
            if let Ok(entity) = result {
                entity.cell().stop(None);
            }
            return;
        };
        let entity = match result {
            Ok(entity) => entity,
            Err(err) => {
                for w in waiters {
                    let _ = w.send(Err(err.clone()));
                }
                self.maybe_finish(myself);
                return;
            }
        };
        let id = entity.id();
        self.shared.live_gauge(key.kind(), 1);
        if self.exited_early.remove(&id) {
            self.shared.live_gauge(key.kind(), -1);
            let err = ActorError::unavailable("the entity stopped as it started");
            for w in waiters {
                let _ = w.send(Err(err.clone()));
            }
            self.maybe_finish(myself);
            return;
        }
        self.ids.insert(id, key.clone());
        if self.closing.is_some() {
            for w in waiters {
                let _ = w.send(Err(ActorError::ShuttingDown));
            }
            let _ = entity.cell().drain();
            self.slots.insert(
                key,
                Slot::Stopping {
                    id,
                    waiters: Vec::new(),
                },
            );
            return;
        }
        if let EntityRef::Room(room) = &entity {
            // Before the cache entry: lots then send straight to the room,
            // behind these.
            for msg in pending {
                let _ = room.send_message(msg);
            }
        }
        self.shared.cache_insert(key.clone(), entity.clone());
        for w in waiters {
            let _ = w.send(Ok(entity.clone()));
        }
        self.slots.insert(key, Slot::Running(entity));
    }

    fn exited(&mut self, myself: &ActorRef<RegionMsg>, cell: &ActorCell) {
        let id = cell.get_id();
        let Some(key) = self.ids.remove(&id) else {
            self.exited_early.insert(id);
            return;
        };
        self.shared.live_gauge(key.kind(), -1);
        self.shared.cache_remove(&key, id);
        match self.slots.remove(&key) {
            Some(Slot::Running(e)) if e.id() == id => {}
            Some(Slot::Stopping { id: sid, waiters }) if sid == id => {
                if self.closing.is_some() {
                    for w in waiters {
                        let _ = w.send(Err(ActorError::ShuttingDown));
                    }
                } else if !waiters.is_empty() {
                    self.start(myself, key, waiters);
                }
            }
            Some(other) => {
                // Not this instance's slot (cannot happen: one at a time).
                self.slots.insert(key, other);
            }
            None => {}
        }
        self.maybe_finish(myself);
    }

    /// Lots first, so their last batches still reach running rooms and
    /// sessions; then the rest. Ends when every slot is gone.
    fn shutdown(&mut self, myself: &ActorRef<RegionMsg>, done: oneshot::Sender<()>) {
        self.shared.close();
        match &mut self.closing {
            Some(w) => w.push(done),
            None => self.closing = Some(vec![done]),
        }
        for slot in self.slots.values_mut() {
            if let Slot::Stopping { waiters, .. } | Slot::Starting { waiters, .. } = slot {
                for w in waiters.drain(..) {
                    let _ = w.send(Err(ActorError::ShuttingDown));
                }
            }
        }
        self.drain_phase(false);
        self.maybe_finish(myself);
    }

    /// Drains running lots, or everything when `all`.
    fn drain_phase(&mut self, all: bool) {
        for (key, slot) in self.slots.iter_mut() {
            if !all && !matches!(key, EntityKey::Lot(_)) {
                continue;
            }
            if let Slot::Running(entity) = slot {
                let id = entity.id();
                if entity.cell().drain().is_err() {
                    entity.cell().stop(None);
                }
                *slot = Slot::Stopping {
                    id,
                    waiters: Vec::new(),
                };
            }
        }
    }

    fn maybe_finish(&mut self, myself: &ActorRef<RegionMsg>) {
        if self.closing.is_none() {
            return;
        }
        if !self.slots.keys().any(|k| matches!(k, EntityKey::Lot(_))) {
            self.drain_phase(true);
        }
        if self.slots.is_empty() {
            for done in self.closing.iter_mut().flat_map(|w| w.drain(..)) {
                let _ = done.send(());
            }
            myself.stop(Some("shutdown".into()));
        }
    }
}

async fn spawn_entity(
    shared: Arc<Shared>,
    key: &EntityKey,
    region: ActorCell,
) -> Result<EntityRef, ActorError> {
    let result = match key {
        EntityKey::Lot(id) => {
            let actor = LotActor { shared };
            Actor::spawn_linked(None, actor, id.clone(), region)
                .await
                .map(|(a, _)| EntityRef::Lot(a))
        }
        EntityKey::Room(id) => {
            let actor = RoomActor { shared };
            Actor::spawn_linked(None, actor, id.clone(), region)
                .await
                .map(|(a, _)| EntityRef::Room(a))
        }
        EntityKey::Session(id) => {
            let actor = SessionActor { shared };
            Actor::spawn_linked(None, actor, id.clone(), region)
                .await
                .map(|(a, _)| EntityRef::Session(a))
        }
    };
    result.map_err(spawn_error)
}
