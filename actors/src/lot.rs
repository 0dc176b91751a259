//! LotActor: one per lot. The shell around [`liveshop_domain::Lot`].
//!
//! # Group commit
//! A command is decided at once (`Lot::handle`) and its outcome (events,
//! reply, effects) is buffered. The first buffered command sends the actor a
//! `Flush`, which lands behind every message already in the mailbox; the
//! `Flush` appends all buffered events in ONE store append, and only then
//! records orders, replies, publishes to the room and sends notices. Commands
//! that arrive while an append is in flight wait in the mailbox and form the
//! next batch, so a hot lot makes about one append per store sync, not one
//! per command.
//!
//! If an append fails (fenced by a newer owner, store unavailable), the lot in
//! memory is ahead of the store: every buffered caller is answered
//! `Unavailable`, never `ok`, and the actor stops; the next request recovers
//! the lot from the store.
//!
//! # Timers and passivation
//! The lot's next deadline is a `Timer` message sent to itself, tagged with a
//! generation so a superseded timer is ignored; the tick it causes goes
//! through the same buffer and flush. An idle lot (no request for
//! `passivate_after`, nothing buffered, no deadline soon) asks the Region to
//! wake it at its next deadline, if any, then drains: ractor refuses new
//! messages (the Region routes their senders to the next instance), the
//! queued ones are handled, and `post_stop` flushes and saves a snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use liveshop_domain::{Effect, Lot, LotCommand, LotEvent, LotReply, Rejection};
use liveshop_protocol::{LotId, LotView, RoomEvent};
use liveshop_store::{Epoch, LogKey, LotRecord};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, MessagingErr};
use tokio::task::JoinHandle;

use crate::ActorError;
use crate::load;
use crate::room::RoomMsg;
use crate::room_lots::LotPublished;
use crate::router::RegionMsg;
use crate::shared::{
    Fail, METRIC_APPEND_SECONDS, METRIC_BATCH_EVENTS, Reply, Shared, answer, now_ms, store_failed,
};

pub(crate) enum LotMsg {
    Command {
        cmd: LotCommand,
        reply: Reply<Result<LotReply, Rejection>>,
    },
    View {
        reply: Reply<LotView>,
    },
    Flush,
    Timer {
        generation: u64,
    },
    Idle {
        seen: u64,
    },
}

pub(crate) struct LotActor {
    pub shared: Arc<Shared>,
}

/// A caller waiting for the current batch to become durable.
enum Waiting {
    Command(
        Reply<Result<LotReply, Rejection>>,
        Result<LotReply, Rejection>,
    ),
    /// A view asked for while events were buffered: answered after the
    /// flush, so it never shows state that might not become durable.
    View(Reply<LotView>),
}

#[derive(Default)]
struct Batch {
    events: Vec<LotEvent>,
    effects: Vec<Effect>,
    waiting: Vec<Waiting>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.effects.is_empty() && self.waiting.is_empty()
    }
}

pub(crate) struct LotState {
    shared: Arc<Shared>,
    record: LotRecord,
    key: LogKey,
    epoch: Epoch,
    lot: Lot,
    /// Seq of the last durable event.
    seq: u64,
    snapshot_seq: u64,
    batch: Batch,
    flush_queued: bool,
    timer_generation: u64,
    timer_at: Option<u64>,
    timer: Option<JoinHandle<Result<(), MessagingErr<LotMsg>>>>,
    /// Requests handled; passivation waits for it to stand still.
    activity: u64,
    /// An append failed: memory is ahead of the store. Answer nothing more.
    broken: bool,
    /// An order could not be written: no snapshot, so recovery replays the
    /// events that make it and writes it again.
    orders_pending: bool,
}

impl Actor for LotActor {
    type Msg = LotMsg;
    type State = LotState;
    type Arguments = LotId;

    async fn pre_start(
        &self,
        _myself: ActorRef<LotMsg>,
        id: LotId,
    ) -> Result<LotState, ActorProcessingErr> {
        let shared = self.shared.clone();
        let store = shared.store.as_ref();
        let record = store
            .lot(&id)
            .await
            .map_err(|e| store_failed("loading a lot", e))?
            .ok_or(ActorError::NotFound)?;
        let key = LogKey::Lot(id);
        // Claim before reading: from here on no older owner can append, so
        // what is read below is the whole log.
        let epoch = store
            .claim(&key)
            .await
            .map_err(|e| store_failed("claiming a lot", e))?;
        let r = load::recover_lot(store, &record).await?;
        // Orders are a projection of the log: whatever happened between an
        // append and its order writes, write them again (idempotent).
        let orders_pending = !load::record_orders(&shared.store, &record, r.orders).await;
        tracing::debug!(lot = %record.lot_id, epoch, seq = r.seq, "lot recovered");
        Ok(LotState {
            shared,
            record,
            key,
            epoch,
            lot: r.lot,
            seq: r.seq,
            snapshot_seq: r.snapshot_seq,
            batch: Batch::default(),
            flush_queued: false,
            timer_generation: 0,
            timer_at: None,
            timer: None,
            activity: 0,
            broken: false,
            orders_pending,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<LotMsg>,
        state: &mut LotState,
    ) -> Result<(), ActorProcessingErr> {
        state.rearm(&myself);
        schedule_idle(&myself, &state.shared, 0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<LotMsg>,
        msg: LotMsg,
        state: &mut LotState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LotMsg::Command { cmd, reply } => {
                state.activity += 1;
                if state.broken {
                    answer(
                        reply,
                        Err(Fail::Error(ActorError::unavailable("lot is recovering"))),
                    );
                    return Ok(());
                }
                state.shared.counters.lot_commands.fetch_add(1, RELAXED);
                let out = state.lot.handle(cmd, now_ms());
                state.batch.events.extend(out.events);
                state.batch.effects.extend(out.effects);
                state.batch.waiting.push(Waiting::Command(reply, out.reply));
                state.queue_flush(&myself);
            }
            LotMsg::View { reply } => {
                state.activity += 1;
                if state.broken {
                    answer(
                        reply,
                        Err(Fail::Error(ActorError::unavailable("lot is recovering"))),
                    );
                } else if state.batch.is_empty() {
                    answer(reply, Ok(state.lot.view()));
                } else {
                    state.batch.waiting.push(Waiting::View(reply));
                }
            }
            LotMsg::Flush => {
                state.flush_queued = false;
                state.flush(&myself).await;
            }
            LotMsg::Timer { generation } => {
                if generation != state.timer_generation || state.broken {
                    return Ok(());
                }
                state.timer_at = None;
                let out = state.lot.handle(LotCommand::Tick, now_ms());
                if out.events.is_empty() && out.effects.is_empty() {
                    state.rearm(&myself);
                } else {
                    state.batch.events.extend(out.events);
                    state.batch.effects.extend(out.effects);
                    state.queue_flush(&myself);
                }
            }
            LotMsg::Idle { seen } => state.idle(&myself, seen),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<LotMsg>,
        state: &mut LotState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        // What was handled while draining has not been flushed yet.
        state.flush(&myself).await;
        state.save_snapshot().await;
        state.wake_later();
        Ok(())
    }
}

const RELAXED: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

fn schedule_idle(myself: &ActorRef<LotMsg>, shared: &Shared, seen: u64) {
    // While draining the send fails: nothing to schedule any more.
    drop(myself.send_after(shared.config.passivate_after, move || LotMsg::Idle { seen }));
}

impl LotState {
    fn queue_flush(&mut self, myself: &ActorRef<LotMsg>) {
        if self.flush_queued {
            return;
        }
        // Refused while draining: `post_stop` flushes instead, after the
        // last queued message, as one batch.
        if myself.send_message(LotMsg::Flush).is_ok() {
            self.flush_queued = true;
        }
    }

    /// Makes the batch durable, then carries it out (see the module doc).
    async fn flush(&mut self, myself: &ActorRef<LotMsg>) {
        if self.batch.is_empty() || self.broken {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let from = self.seq;
        if !batch.events.is_empty()
            && let Err(err) = self.append(&batch.events).await
        {
            self.broken = true;
            for w in batch.waiting {
                match w {
                    Waiting::Command(reply, _) => answer(reply, Err(Fail::Error(err.clone()))),
                    Waiting::View(reply) => answer(reply, Err(Fail::Error(err.clone()))),
                }
            }
            // Stop at once: messages still queued are dropped and their
            // callers told `Unavailable`; the next request recovers.
            myself.stop(Some("append failed".into()));
            return;
        }
        let mut room_events = Vec::new();
        let mut orders = Vec::new();
        let mut notices = Vec::new();
        for effect in batch.effects {
            match effect {
                Effect::Room(ev) => room_events.push(ev),
                Effect::Notice(user, n) => notices.push((user, n)),
                Effect::Order(o) => orders.push(o),
            }
        }
        // Orders before replies, so `GET /orders` after an `ok` shows them.
        if !orders.is_empty()
            && !load::record_orders(&self.shared.store, &self.record, orders).await
        {
            self.orders_pending = true;
        }
        for w in batch.waiting {
            match w {
                Waiting::Command(reply, result) => answer(reply, Ok(result)),
                Waiting::View(reply) => answer(reply, Ok(self.lot.view())),
            }
        }
        if !room_events.is_empty() || self.seq != from {
            self.publish(from, room_events);
        }
        for (user, n) in notices {
            self.shared.notify(user, n);
        }
        self.rearm(myself);
    }

    async fn append(&mut self, events: &[LotEvent]) -> Result<(), ActorError> {
        let stored = load::encode_events(events, self.seq)?;
        let started = Instant::now();
        let result = self
            .shared
            .store
            .append(&self.key, self.epoch, &stored)
            .await;
        metrics::histogram!(METRIC_APPEND_SECONDS, "kind" => "lot")
            .record(started.elapsed().as_secs_f64());
        if let Err(err) = result {
            tracing::error!(lot = %self.record.lot_id, epoch = self.epoch, %err,
                "lot append failed; the lot stops and recovers on the next request");
            return Err(ActorError::unavailable(
                "the lot could not make the change durable",
            ));
        }
        metrics::histogram!(METRIC_BATCH_EVENTS, "kind" => "lot").record(stored.len() as f64);
        let c = &self.shared.counters;
        c.lot_appends.fetch_add(1, RELAXED);
        c.lot_events.fetch_add(stored.len() as u64, RELAXED);
        self.seq += stored.len() as u64;
        Ok(())
    }

    /// Sends the room this batch's events and the lot's state after it. The
    /// log seqs let the room put publications in order and skip those its own
    /// loading already covered.
    fn publish(&self, from: u64, events: Vec<RoomEvent>) {
        let publication = LotPublished {
            lot: self.record.lot_id.clone(),
            from,
            to: self.seq,
            events,
            view: self.lot.view(),
        };
        let room = &self.record.room_id;
        let msg = match self.shared.room_ref(room) {
            Some(r) => match r.send_message(RoomMsg::Lot(Box::new(publication))) {
                Ok(()) => return,
                // The room is stopping; its next instance loads the lot anew.
                Err(_) => return,
            },
            None => RoomMsg::Lot(Box::new(publication)),
        };
        // Not running or starting: the Region hands it to a starting room
        // and drops it otherwise (a room that starts later loads the lot).
        if let Some(region) = self.shared.region() {
            let _ = region.send_message(RegionMsg::Deliver {
                room: room.clone(),
                msg,
            });
        }
    }

    /// Arms the timer for the lot's next deadline, if it changed.
    fn rearm(&mut self, myself: &ActorRef<LotMsg>) {
        let next = self.lot.next_deadline();
        if next == self.timer_at {
            return;
        }
        if let Some(t) = self.timer.take() {
            t.abort();
        }
        self.timer_generation += 1;
        self.timer_at = next;
        if let Some(at) = next {
            // +1 ms: a timer never fires before the deadline it is for.
            let delay = Duration::from_millis(at.saturating_sub(now_ms()).saturating_add(1));
            let generation = self.timer_generation;
            self.timer = Some(myself.send_after(delay, move || LotMsg::Timer { generation }));
        }
    }

    fn idle(&mut self, myself: &ActorRef<LotMsg>, seen: u64) {
        let busy = seen != self.activity || !self.batch.is_empty() || self.flush_queued;
        let now = now_ms();
        let horizon =
            u64::try_from(self.shared.config.passivate_after.as_millis()).unwrap_or(u64::MAX);
        let deadline = self.lot.next_deadline();
        // A deadline this close is cheaper to wait for than to reload for.
        let soon = deadline.is_some_and(|d| d <= now.saturating_add(horizon));
        if busy || soon || self.broken || myself.get_status() != ActorStatus::Running {
            schedule_idle(myself, &self.shared, self.activity);
            return;
        }
        tracing::debug!(lot = %self.record.lot_id, "lot passivating");
        if myself.drain().is_err() {
            myself.stop(Some("passivating".into()));
        }
    }

    /// A passivated lot with a deadline asks the Region to start it again
    /// then, so an auction still ends by itself. After the final flush, as
    /// what was handled while draining may have moved the deadline. Not for
    /// a broken lot: it may have lost ownership, and whoever owns it now
    /// keeps the time (after a store outage the next request recovers it).
    fn wake_later(&self) {
        if self.broken || self.shared.is_closing() {
            return;
        }
        if let (Some(at_ms), Some(region)) = (self.lot.next_deadline(), self.shared.region()) {
            let lot = self.record.lot_id.clone();
            let _ = region.send_message(RegionMsg::WakeAt { lot, at_ms });
        }
    }

    async fn save_snapshot(&mut self) {
        if self.broken || self.orders_pending || self.seq == self.snapshot_seq {
            return;
        }
        let Some(snap) = load::encode_snapshot(&self.lot, self.seq) else {
            return;
        };
        match self
            .shared
            .store
            .save_snapshot(&self.key, self.epoch, &snap)
            .await
        {
            Ok(()) => self.snapshot_seq = self.seq,
            // Only an optimisation lost: recovery replays the log instead.
            Err(err) => {
                tracing::warn!(lot = %self.record.lot_id, %err, "cannot save a lot snapshot")
            }
        }
    }
}
