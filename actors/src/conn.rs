//! Connections as the actors see them, and how messages reach them without
//! ever waiting for a slow reader.
//!
//! Every connection has one bounded queue ([`ConnHandle::new`]). Rooms and
//! sessions only ever `try_send` into it. When a room finds the queue full it
//! unsubscribes the connection and tells it so with [`Outbound::Lagged`]. That
//! notice must get through although the queue is full, so one slot of the
//! queue is reserved for it from the start (an `OwnedPermit`, on top of the
//! `capacity` the caller asked for). Once used, the slot is re-reserved by a
//! small task as soon as the reader frees one; `Lagged` notices that come in
//! meanwhile wait in a list and take the re-reserved slots one by one. So
//! every room that drops a connection is reported on it, in order, and the
//! queue never holds more than `capacity + 1` messages.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use liveshop_domain::Sequenced;
use liveshop_protocol::{Codec, Notice, RoomId, ServerMessage, UserId};
use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};

/// A connection's id, unique on this node.
pub type ConnId = u64;

/// A batch of one room's events, in seq order, as published together. Encoded
/// at most once per codec however many connections send it.
#[derive(Debug)]
pub struct EventBatch {
    pub room: RoomId,
    pub events: Vec<Sequenced>,
    json: OnceLock<Bytes>,
    msgpack: OnceLock<Bytes>,
}

impl EventBatch {
    pub fn new(room: RoomId, events: Vec<Sequenced>) -> Self {
        EventBatch {
            room,
            events,
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
        }
    }

    /// The batch as one server frame of `event` messages in `codec` (JSON
    /// lines or concatenated MessagePack values). An event that cannot be
    /// encoded (it cannot happen with the protocol's types) is logged and
    /// left out rather than failing the whole frame.
    pub fn frame(&self, codec: Codec) -> Bytes {
        let cell = match codec {
            Codec::Json => &self.json,
            Codec::MsgPack => &self.msgpack,
        };
        cell.get_or_init(|| {
            let mut out = Vec::new();
            for e in &self.events {
                let msg = ServerMessage::event(self.room.clone(), e.seq, e.event.clone());
                if let Err(err) = codec.append_server(&mut out, &msg) {
                    tracing::error!(room = %self.room, seq = e.seq, %err, "cannot encode a room event");
                }
            }
            Bytes::from(out)
        })
        .clone()
    }
}

/// What the actors send a connection, in order.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Room events for a room the connection joined.
    Events(Arc<EventBatch>),
    /// A personal notice for the connection's user. Boxed: every queue
    /// preallocates a block of 32 slots, and an inline notice would double
    /// the slot size for the rare message (see docs/architecture.md, memory
    /// per connection).
    Notice(Box<Notice>),
    /// The connection's queue was full (or the room had to restart): it no
    /// longer receives `room`'s events and must resynchronise (`join
    /// {since}`) or be closed. Always delivered, even to a full queue.
    Lagged { room: RoomId },
}

/// A connection as the actors see it: who it is and where its messages go.
/// Cheap to clone; clones share the queue and its reserved `Lagged` slot.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    pub user: Option<UserId>,
    tx: mpsc::Sender<Outbound>,
    lag: Arc<Mutex<LagSlot>>,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The reserved slot for `Lagged` notices and the notices waiting for it.
struct LagSlot {
    permit: Option<OwnedPermit<Outbound>>,
    waiting: VecDeque<RoomId>,
    /// A task is waiting for the reader to free a slot.
    rearming: bool,
}

/// What became of a message offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Sent,
    /// The queue is full; the message was dropped.
    Full,
    /// The connection is gone.
    Closed,
}

impl ConnHandle {
    /// A handle and the receiver the connection's writer reads; the queue
    /// holds `capacity` messages (plus one slot kept for [`Outbound::Lagged`]).
    pub fn new(
        id: ConnId,
        user: Option<UserId>,
        capacity: usize,
    ) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity.max(1).saturating_add(1));
        // A fresh channel has room, so this succeeds; if it did not, the first
        // `Lagged` would simply wait for the re-reservation task.
        let permit = tx.clone().try_reserve_owned().ok();
        let lag = LagSlot {
            permit,
            waiting: VecDeque::new(),
            rearming: false,
        };
        let handle = ConnHandle {
            id,
            user,
            tx,
            lag: Arc::new(Mutex::new(lag)),
        };
        (handle, rx)
    }

    /// Whether the connection's receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues `msg` if there is room, never waiting.
    pub(crate) fn offer(&self, msg: Outbound) -> Offer {
        match self.tx.try_send(msg) {
            Ok(()) => Offer::Sent,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Tells the connection it no longer receives `room`'s events, through
    /// the reserved slot (now, or as soon as the reader frees one).
    pub(crate) fn lagged(&self, room: RoomId) {
        metrics::counter!(crate::shared::METRIC_LAGGED).increment(1);
        let mut slot = lock(&self.lag);
        match slot.permit.take() {
            Some(permit) => {
                permit.send(Outbound::Lagged { room });
            }
            None => slot.waiting.push_back(room),
        }
        if !slot.rearming {
            slot.rearming = true;
            tokio::spawn(rearm(self.tx.clone(), self.lag.clone()));
        }
    }
}

/// Reserves a slot again once the reader has made room, first for the
/// `Lagged` notices that are waiting, then to keep for the next one. Ends when
/// the receiver is dropped.
async fn rearm(tx: mpsc::Sender<Outbound>, lag: Arc<Mutex<LagSlot>>) {
    loop {
        // tokio hands freed slots to waiting reservations before `try_send`
        // callers, so this cannot be starved by a busy room.
        let Ok(permit) = tx.clone().reserve_owned().await else {
            return;
        };
        let mut slot = lock(&lag);
        match slot.waiting.pop_front() {
            Some(room) => {
                permit.send(Outbound::Lagged { room });
            }
            None => {
                slot.permit = Some(permit);
                slot.rearming = false;
                return;
            }
        }
    }
}

/// The lag slot's state stays consistent whatever panicked while holding it
/// (every update is a single field write), so a poisoned lock is used as is.
fn lock(m: &Mutex<LagSlot>) -> MutexGuard<'_, LagSlot> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
