//! RoomActor: one per room. The shell around [`liveshop_domain::Room`], and
//! the fan-out of its events to the node's connections.
//!
//! Each command (or tick, or lot publication) is decided by the domain; its
//! durable changes are appended BEFORE its events are published. The events a
//! step published become ONE [`EventBatch`], offered to every subscriber with
//! `try_send`: a subscriber whose queue is full is unsubscribed and told
//! [`Outbound::Lagged`] (see `conn.rs`), so a slow reader costs no memory and
//! never delays the others. `join` subscribes and answers in the same
//! handler, so the answer and the events that follow neither miss nor repeat
//! anything.
//!
//! # Publisher timeout
//! A live room's publisher deadline ([`Room::next_deadline`]) needs no timer
//! of its own: the room's ticker (`room_tick`, about 100 ms) sends the
//! domain its `Tick`, which ends a stream whose publisher went unheard past
//! the deadline, so it ends at most one tick late. A room with a deadline
//! does not passivate (it would lose the clock; a live room is kept busy by
//! the live-directory heartbeat's views anyway), and a room recovered live
//! restarts the clock from its recovery.
//!
//! Lots publish here after each durable batch; `room_lots.rs` puts those
//! publications in order and keeps each lot's latest view for snapshots.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use liveshop_domain::{Rejection, Replay, Room, RoomChange, RoomCommand, RoomDef, Sequenced};
use liveshop_protocol::{LotId, Notice, RoomEvent, RoomId, RoomStatus, RoomView, Snapshot, UserId};
use liveshop_store::{ChatLine, Epoch, LogKey, RoomRecord};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus};
use tokio::task::JoinHandle;

use crate::ActorError;
use crate::conn::{ConnHandle, ConnId, EventBatch, Offer, Outbound};
use crate::load;
use crate::region::Joined;
use crate::room_lots::{LotPublished, RoomLots};
use crate::shared::{
    Fail, METRIC_APPEND_SECONDS, METRIC_BATCH_EVENTS, Reply, RoomEntry, Shared, answer, now_ms,
    store_failed,
};

pub(crate) enum RoomMsg {
    Command {
        cmd: RoomCommand,
        reply: Reply<Result<(), Rejection>>,
    },
    Lot(Box<LotPublished>),
    Join {
        since: Option<u64>,
        conn: ConnHandle,
        reply: Reply<Result<Joined, Rejection>>,
    },
    Leave {
        conn: ConnId,
    },
    View {
        reply: Reply<RoomView>,
    },
    Tick,
    Idle {
        seen: u64,
    },
}

pub(crate) struct RoomActor {
    pub shared: Arc<Shared>,
}

pub(crate) struct RoomState {
    shared: Arc<Shared>,
    record: RoomRecord,
    key: LogKey,
    epoch: Epoch,
    room: Room,
    log_seq: u64,
    subscribers: HashMap<ConnId, ConnHandle>,
    lots: RoomLots,
    ticker: Option<JoinHandle<()>>,
    activity: u64,
    listed: RoomEntry,
    broken: bool,
}

impl Actor for RoomActor {
    type Msg = RoomMsg;
    type State = RoomState;
    type Arguments = RoomId;

    async fn pre_start(
        &self,
        _myself: ActorRef<RoomMsg>,
        id: RoomId,
    ) -> Result<RoomState, ActorProcessingErr> {
        let shared = self.shared.clone();
        let store = shared.store.as_ref();
        let record = store
            .room(&id)
            .await
            .map_err(|e| store_failed("loading a room", e))?
            .ok_or(ActorError::NotFound)?;
        let key = LogKey::Room(id.clone());
        let epoch = store
            .claim(&key)
            .await
            .map_err(|e| store_failed("claiming a room", e))?;
        let (changes, log_seq) = load::room_changes(store, &id).await?;
        let def = RoomDef {
            id: id.clone(),
            host: record.host.clone(),
            title: record.title.clone(),
        };
        let timeout = shared
            .config
            .publisher_timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        let mut room =
            Room::new(def, 0, shared.config.replay_buffer).with_publisher_timeout(timeout);
        for c in &changes {
            room.apply(c);
        }
        room.resume(now_ms());
        let mut lots = RoomLots::default();
        let records = store
            .lots_in_room(&id)
            .await
            .map_err(|e| store_failed("listing a room's lots", e))?;
        for r in &records {
            let (applied, view) = load::lot_view(store, r).await?;
            lots.insert(r.lot_id.clone(), applied, view);
        }
        let listed = RoomEntry {
            live: room.is_live(),
            viewers: 0,
        };
        shared.directory_set(&id, listed);
        let mut state = RoomState {
            shared,
            record,
            key,
            epoch,
            room,
            log_seq,
            subscribers: HashMap::new(),
            lots,
            ticker: None,
            activity: 0,
            listed,
            broken: false,
        };
        // A lot stored without its `AddLot` (a crash in between) joins now.
        let now = now_ms();
        let mut changes = Vec::new();
        for r in records {
            if !state.room.lots().contains(&r.lot_id) {
                let out = state
                    .room
                    .handle(RoomCommand::AddLot { lot: r.lot_id }, now);
                changes.extend(out.changes);
            }
        }
        state.persist(&changes).await?;
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<RoomMsg>,
        state: &mut RoomState,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker = Some(myself.send_interval(state.shared.config.room_tick, || RoomMsg::Tick));
        schedule_idle(&myself, &state.shared, 0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RoomMsg>,
        msg: RoomMsg,
        state: &mut RoomState,
    ) -> Result<(), ActorProcessingErr> {
        if state.broken {
            state.refuse(msg);
            return Ok(());
        }
        match msg {
            RoomMsg::Command { cmd, reply } => {
                state.activity += 1;
                let added = match &cmd {
                    RoomCommand::AddLot { lot } => Some(lot.clone()),
                    _ => None,
                };
                let out = state.room.handle(cmd, now_ms());
                // Taken before `commit` consumes the changes.
                let banned: Vec<UserId> = out
                    .changes
                    .iter()
                    .filter_map(|c| match c {
                        RoomChange::Banned { user } => Some(user.clone()),
                        _ => None,
                    })
                    .collect();
                match state.commit(&myself, out.changes, out.published).await {
                    Ok(()) => {
                        if let Some(lot) = added {
                            state.lot_added(&myself, lot).await;
                        }
                        for user in &banned {
                            state.drop_banned(user);
                        }
                        answer(reply, Ok(out.reply));
                    }
                    Err(e) => answer(reply, Err(Fail::Error(e))),
                }
            }
            RoomMsg::Lot(p) => state.lot_published(&myself, *p).await,
            RoomMsg::Join { since, conn, reply } => {
                state.activity += 1;
                if myself.get_status() != ActorStatus::Running {
                    // A subscriber of a stopping room would hear nothing more.
                    answer(reply, Err(Fail::Retry));
                    return Ok(());
                }
                answer(reply, Ok(state.join(since, conn)));
            }
            RoomMsg::Leave { conn } => {
                state.activity += 1;
                state.subscribers.remove(&conn);
                state.count_viewers();
            }
            RoomMsg::View { reply } => {
                state.activity += 1;
                answer(reply, Ok(state.view()));
            }
            RoomMsg::Tick => {
                // Connections dropped without `leave` stop counting as viewers.
                state.subscribers.retain(|_, c| !c.is_closed());
                state.count_viewers();
                let out = state.room.handle(RoomCommand::Tick, now_ms());
                if out
                    .changes
                    .iter()
                    .any(|c| matches!(c, RoomChange::Live { on: false, .. }))
                {
                    tracing::info!(room = %state.record.room_id,
                        "publisher not heard from within the publisher timeout: room offline");
                }
                // A failure has stopped the actor and is logged.
                let _ = state.commit(&myself, out.changes, out.published).await;
            }
            RoomMsg::Idle { seen } => {
                // A publisher deadline keeps the room: its tick must fire.
                let deadline = state.room.next_deadline().is_some();
                if seen == state.activity && state.subscribers.is_empty() && !deadline {
                    tracing::debug!(room = %state.record.room_id, "room passivating");
                    if myself.drain().is_err() {
                        myself.stop(Some("passivating".into()));
                    }
                } else {
                    schedule_idle(&myself, &state.shared, state.activity);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RoomMsg>,
        state: &mut RoomState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        // Whoever still watches must rejoin (and reaches the next instance).
        for conn in state.subscribers.values() {
            conn.lagged(state.record.room_id.clone());
        }
        state.subscribers.clear();
        state.count_viewers();
        Ok(())
    }
}

fn schedule_idle(myself: &ActorRef<RoomMsg>, shared: &Shared, seen: u64) {
    drop(
        myself.send_after(shared.config.passivate_after, move || RoomMsg::Idle {
            seen,
        }),
    );
}

impl RoomState {
    /// Persists `changes` (one append), then publishes `published`. On a
    /// failed append the room stops: its memory is ahead of its log.
    async fn commit(
        &mut self,
        myself: &ActorRef<RoomMsg>,
        changes: Vec<RoomChange>,
        published: Vec<Sequenced>,
    ) -> Result<(), ActorError> {
        if let Err(e) = self.persist(&changes).await {
            self.broken = true;
            myself.stop(Some("append failed".into()));
            return Err(e);
        }
        self.fan_out(published);
        self.update_directory();
        Ok(())
    }

    async fn persist(&mut self, changes: &[RoomChange]) -> Result<(), ActorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let stored = load::encode_events(changes, self.log_seq)?;
        let started = Instant::now();
        let result = self
            .shared
            .store
            .append(&self.key, self.epoch, &stored)
            .await;
        metrics::histogram!(METRIC_APPEND_SECONDS, "kind" => "room")
            .record(started.elapsed().as_secs_f64());
        if let Err(err) = result {
            tracing::error!(room = %self.record.room_id, epoch = self.epoch, %err,
                "room append failed; the room stops and recovers on the next request");
            return Err(ActorError::unavailable(
                "the room could not make the change durable",
            ));
        }
        metrics::histogram!(METRIC_BATCH_EVENTS, "kind" => "room").record(stored.len() as f64);
        let appends = &self.shared.counters.room_appends;
        appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.log_seq += stored.len() as u64;
        Ok(())
    }

    fn fan_out(&mut self, published: Vec<Sequenced>) {
        if published.is_empty() {
            return;
        }
        self.save_chat(&published);
        let room = self.record.room_id.clone();
        let batch = Arc::new(EventBatch::new(room.clone(), published));
        let before = self.subscribers.len();
        self.subscribers.retain(
            |_, conn| match conn.offer(Outbound::Events(batch.clone())) {
                Offer::Sent => true,
                Offer::Full => {
                    tracing::debug!(%room, conn = conn.id, "connection lagged");
                    conn.lagged(room.clone());
                    false
                }
                Offer::Closed => false,
            },
        );
        let lagged = before - self.subscribers.len();
        if lagged > 0 {
            let c = &self.shared.counters.lagged;
            c.fetch_add(lagged as u64, std::sync::atomic::Ordering::Relaxed);
            self.count_viewers();
        }
    }

    /// Chat history is not on the path of the reply: written in the
    /// background, a failure only logged.
    fn save_chat(&self, published: &[Sequenced]) {
        for e in published {
            if let RoomEvent::Chat {
                user,
                name,
                text,
                at_ms,
            } = &e.event
            {
                let line = ChatLine {
                    room_id: self.record.room_id.clone(),
                    user: user.clone(),
                    name: name.clone(),
                    text: text.clone(),
                    at_ms: *at_ms,
                };
                let store = self.shared.store.clone();
                tokio::spawn(async move {
                    if let Err(err) = store.append_chat(&line).await {
                        tracing::warn!(room = %line.room_id, %err, "cannot save a chat line");
                    }
                });
            }
        }
    }

    /// A user was just banned: their connections that joined the room stop
    /// receiving it, and each is told so with the `banned` notice (after
    /// every event already queued for it). A connection whose queue is full
    /// is lagged instead: its resynchronisation is refused (banned), so the
    /// gateway closes it, and nothing of the room reaches it either way.
    fn drop_banned(&mut self, user: &UserId) {
        let room = self.record.room_id.clone();
        let before = self.subscribers.len();
        self.subscribers.retain(|_, conn| {
            if conn.user.as_ref() != Some(user) {
                return true;
            }
            let notice = Notice::Banned { room: room.clone() };
            if conn.offer(Outbound::Notice(Box::new(notice))) == Offer::Full {
                conn.lagged(room.clone());
            }
            false
        });
        if self.subscribers.len() != before {
            tracing::debug!(%room, %user, "banned user's connections left the room");
            self.count_viewers();
        }
    }

    fn join(&mut self, since: Option<u64>, conn: ConnHandle) -> Result<Joined, Rejection> {
        if !self.room.may_join(conn.user.as_ref()) {
            return Err(Rejection::Forbidden);
        }
        self.subscribers.insert(conn.id, conn);
        self.count_viewers();
        Ok(match since.map(|s| self.room.join(s)) {
            Some(Replay::Events(events)) => Joined::Replay(events),
            Some(Replay::Reset) => Joined::Snapshot(Box::new(self.snapshot(true))),
            None => Joined::Snapshot(Box::new(self.snapshot(false))),
        })
    }

    fn snapshot(&self, reset: bool) -> Snapshot {
        let lots = self
            .room
            .lots()
            .iter()
            .filter_map(|id| self.lots.view(id).cloned())
            .collect();
        Snapshot {
            room: self.view(),
            lots,
            seq: self.room.seq(),
            reset,
        }
    }

    fn view(&self) -> RoomView {
        RoomView {
            room_id: self.record.room_id.clone(),
            title: self.record.title.clone(),
            host: self.record.host.clone(),
            status: if self.room.is_live() {
                RoomStatus::Live
            } else {
                RoomStatus::Offline
            },
            viewers: self.subscribers.len() as u64,
            pinned: self.room.pinned().cloned(),
            description: self.record.description.clone(),
            hls_url: None,
        }
    }

    /// Feeds the subscriber count to the domain (published on the next tick).
    fn count_viewers(&mut self) {
        let count = self.subscribers.len() as u64;
        if count != self.room.viewers() {
            // `Viewers` only records the count: no change, no event, no reply.
            let _ = self.room.handle(RoomCommand::Viewers { count }, now_ms());
        }
        self.update_directory();
    }

    fn update_directory(&mut self) {
        let entry = RoomEntry {
            live: self.room.is_live(),
            viewers: self.subscribers.len() as u64,
        };
        if entry != self.listed {
            self.listed = entry;
            self.shared.directory_set(&self.record.room_id, entry);
        }
    }

    /// A new lot: show its state in snapshots, and tell the viewers.
    async fn lot_added(&mut self, myself: &ActorRef<RoomMsg>, lot: LotId) {
        if self.lots.contains(&lot) {
            return;
        }
        let store = self.shared.store.as_ref();
        let record = match store.lot(&lot).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                store_failed("loading a new lot", e);
                return;
            }
        };
        let Ok((applied, view)) = load::lot_view(store, &record).await else {
            return;
        };
        let event = RoomEvent::lot_state(view.clone());
        self.lots.insert(lot, applied, view);
        let out = self.room.handle(RoomCommand::Publish(event), now_ms());
        let _ = self.commit(myself, out.changes, out.published).await;
    }

    async fn lot_published(&mut self, myself: &ActorRef<RoomMsg>, p: LotPublished) {
        let ready = self.lots.accept(p);
        if ready.is_empty() {
            return;
        }
        let now = now_ms();
        let (mut changes, mut published) = (Vec::new(), Vec::new());
        for p in ready {
            for ev in p.events {
                let out = self.room.handle(RoomCommand::Publish(ev), now);
                changes.extend(out.changes);
                published.extend(out.published);
            }
        }
        let _ = self.commit(myself, changes, published).await;
    }

    /// After a failed append nothing is answered `ok` any more.
    fn refuse(&mut self, msg: RoomMsg) {
        let err = || Fail::Error(ActorError::unavailable("room is recovering"));
        match msg {
            RoomMsg::Command { reply, .. } => answer(reply, Err(err())),
            RoomMsg::Join { reply, .. } => answer(reply, Err(err())),
            RoomMsg::View { reply } => answer(reply, Err(err())),
            _ => {}
        }
    }
}
