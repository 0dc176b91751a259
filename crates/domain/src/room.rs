//! A live room: live flag, pinned lot, moderation, chat, hearts, viewers, and
//! the room's event sequence with its replay buffer.
//!
//! # Driving a room
//! A [`Room`] is a plain value owned by the RoomActor:
//! - [`Room::handle`] takes a [`RoomCommand`] and the current time and returns
//!   a [`RoomOutcome`]: durable [`RoomChange`]s (persist them first), the room
//!   events it published with their `seq`, and the reply.
//! - [`RoomCommand::Tick`] every tick period (about 100 ms) publishes what is
//!   coalesced: hearts since the last tick, the viewer count if it changed, the
//!   latest `stock` of each busy lot. `bid`, `chat` and other events are
//!   published at once, never coalesced away.
//! - [`Room::join`] answers `join {since}` from the replay buffer.
//!
//! # Publisher liveness
//! A room made live by an RTMP publisher ([`RoomCommand::StreamStarted`],
//! or taken over by [`RoomCommand::StreamAlive`]) expects to hear from that
//! publisher (`on_publish`, `on_update`) at least every publisher timeout
//! ([`Room::with_publisher_timeout`]). [`Room::next_deadline`] is when the
//! stream counts as gone; the first [`RoomCommand::Tick`] at or after it
//! takes the room offline exactly as the publisher's
//! [`RoomCommand::StreamEnded`] would (a durable `Live {on: false}` and the
//! `live {on: false}` event), so a lost `on_publish_done` cannot leave a room
//! live forever. A room made live by [`RoomCommand::SetLive`] (the demo,
//! operators) has no publisher and no deadline.
//!
//! When the publisher was last heard is NOT durable (a hook every few
//! seconds is no reason to write the log): a recovered room's clock starts
//! at recovery ([`Room::resume`]'s `now_ms`). So recovery only ever delays
//! the end by at most one timeout, never ends a stream early: a publisher
//! still streaming is heard again within the timeout and keeps the room.
//!
//! Recovery: [`Room::new`], [`Room::apply`] for every stored change, then
//! [`Room::resume`]. The replay buffer is not durable, and neither is each
//! seq: the room reserves seqs in blocks of [`SEQ_BLOCK`] with a durable
//! [`RoomChange::SeqReserved`] before it uses them, and a recovered room
//! resumes above the last reservation. So a seq is never handed out twice,
//! and after recovery a `join` with an older `since` gets a reset, never a
//! wrong replay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use liveshop_protocol::{LotId, RoomEvent, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::text::check_text;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// Most likes one `like` request may carry.
pub const MAX_LIKES: u32 = 50;
/// Seqs reserved by one durable [`RoomChange::SeqReserved`].
pub const SEQ_BLOCK: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDef {
    pub id: RoomId,
    pub host: UserId,
    pub title: String,
}

/// The RTMP session that publishes a room's stream, as the RTMP server
/// names it in its hooks. Two encoders pushing with one stream key are two
/// publishers, so the end of the one the RTMP server refused (a duplicate)
/// can be told from the end of the one that made the room live.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Publisher {
    /// The RTMP server's id of the client connection (nginx-rtmp
    /// `clientid`: unique among the server's open connections).
    pub client: String,
    /// The encoder's address as the RTMP server saw it (`addr`).
    pub addr: String,
}

/// What a room is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand {
    Chat {
        user: UserId,
        name: String,
        text: String,
    },
    Like {
        user: UserId,
        count: u32,
    },
    /// Host only; the lot must belong to the room.
    Pin {
        by: UserId,
        lot: LotId,
    },
    /// A lot was created in this room.
    AddLot {
        lot: LotId,
    },
    /// The room goes live or offline whoever publishes (the demo, tests,
    /// operators). Going offline forgets the publisher.
    SetLive {
        on: bool,
    },
    /// The RTMP server accepted `publisher` with the room's stream key
    /// (`on_publish`). An offline room goes live with it. While another
    /// publisher is live nothing changes and the answer is
    /// [`Rejection::BadState`]: the RTMP server refuses a second publisher
    /// of one stream itself, and the one streaming must not be disturbed.
    StreamStarted {
        publisher: Publisher,
    },
    /// `publisher`'s stream ended (`on_publish_done`). Only the room's
    /// publisher (or any, when the room went live without one recorded)
    /// takes it offline; from anyone else it is [`Rejection::BadState`] and
    /// changes nothing: that is the end of a refused duplicate.
    StreamEnded {
        publisher: Publisher,
    },
    /// The RTMP server reports `publisher` still streaming (`on_update`).
    /// The RTMP server sends this only for a publisher it accepted, so if
    /// the room records another one, that one's end was lost (the hook
    /// failed, the RTMP server restarted) and `publisher` becomes the
    /// room's. Either way the room's publisher was just heard from, which
    /// moves its deadline ([`Room::next_deadline`]). An offline room stays offline ([`Rejection::BadState`]): a
    /// report that raced with the stream's end must not revive it.
    StreamAlive {
        publisher: Publisher,
    },
    Mute {
        by: UserId,
        user: UserId,
    },
    Unmute {
        by: UserId,
        user: UserId,
    },
    /// Host only: the user may no longer join, chat or like.
    Ban {
        by: UserId,
        user: UserId,
    },
    Unban {
        by: UserId,
        user: UserId,
    },
    /// The number of connections watching, as counted by the shell.
    Viewers {
        count: u64,
    },
    /// An event from one of the room's lots, to sequence and publish.
    Publish(RoomEvent),
    /// Every tick period: publishes what is coalesced, and takes the room
    /// offline if its publisher's deadline ([`Room::next_deadline`]) has
    /// passed, as the publisher's [`RoomCommand::StreamEnded`] would.
    Tick,
}

/// A durable fact about a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum RoomChange {
    Live {
        on: bool,
        /// Who publishes the live stream, when known (absent in logs written
        /// before publishers were recorded, and after `SetLive`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publisher: Option<Publisher>,
    },
    Pinned {
        lot: LotId,
    },
    LotAdded {
        lot: LotId,
    },
    Muted {
        user: UserId,
    },
    Unmuted {
        user: UserId,
    },
    Banned {
        user: UserId,
    },
    Unbanned {
        user: UserId,
    },
    /// Seqs up to `upto` may be in use; a recovered room starts above.
    SeqReserved {
        upto: u64,
    },
}

/// A published room event with its place in the room's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequenced {
    pub seq: u64,
    pub event: RoomEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomOutcome {
    pub changes: Vec<RoomChange>,
    pub published: Vec<Sequenced>,
    pub reply: Result<(), Rejection>,
}

/// The answer to `join {since}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    /// Every event after `since`, in order (possibly none).
    Events(Vec<Sequenced>),
    /// The buffer no longer reaches back to `since`: start from a snapshot.
    Reset,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    def: RoomDef,
    live: bool,
    publisher: Option<Publisher>,
    pinned: Option<LotId>,
    lots: Vec<LotId>,
    muted: BTreeSet<UserId>,
    banned: BTreeSet<UserId>,
    seq: u64,
    /// Highest seq covered by a durable reservation.
    reserved: u64,
    buffer: VecDeque<Sequenced>,
    buffer_cap: usize,
    hearts: u64,
    viewers: u64,
    viewers_published: u64,
    stock: BTreeMap<LotId, RoomEvent>,
    /// How long a live room's publisher may go unheard; `None`: forever.
    publisher_timeout_ms: Option<u64>,
    /// When the room's publisher was last heard (not durable: see the
    /// module docs). `None` while there is no publisher to hear from.
    alive_at_ms: Option<u64>,
}

impl Room {
    /// A room whose next event gets `last_seq + 1`, keeping up to
    /// `buffer_cap` events for replay.
    pub fn new(def: RoomDef, last_seq: u64, buffer_cap: usize) -> Room {
        Room {
            def,
            live: false,
            publisher: None,
            pinned: None,
            lots: Vec::new(),
            muted: BTreeSet::new(),
            banned: BTreeSet::new(),
            seq: last_seq,
            reserved: last_seq,
            buffer: VecDeque::new(),
            buffer_cap: buffer_cap.max(1),
            hearts: 0,
            viewers: 0,
            viewers_published: 0,
            stock: BTreeMap::new(),
            publisher_timeout_ms: None,
            alive_at_ms: None,
        }
    }

    /// A live room whose publisher is not heard from (`on_publish`,
    /// `on_update`) for `timeout_ms` goes offline at the next tick. `None`
    /// (the default) or 0: never.
    pub fn with_publisher_timeout(mut self, timeout_ms: Option<u64>) -> Room {
        self.publisher_timeout_ms = timeout_ms.filter(|t| *t > 0);
        self
    }

    /// When the room goes offline unless its publisher is heard from
    /// before: the time its publisher was last heard plus the publisher
    /// timeout. `None` when offline, without a recorded publisher, or
    /// without a timeout. The shell ticks the room at or after it.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.live || self.publisher.is_none() {
            return None;
        }
        let timeout = self.publisher_timeout_ms?;
        Some(self.alive_at_ms?.saturating_add(timeout))
    }

    pub fn def(&self) -> &RoomDef {
        &self.def
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn is_live(&self) -> bool {
        self.live
    }
    /// The publisher of the live stream, when the room is live and knows it.
    pub fn publisher(&self) -> Option<&Publisher> {
        self.publisher.as_ref()
    }
    pub fn pinned(&self) -> Option<&LotId> {
        self.pinned.as_ref()
    }
    pub fn lots(&self) -> &[LotId] {
        &self.lots
    }
    pub fn viewers(&self) -> u64 {
        self.viewers
    }
    pub fn is_banned(&self, user: &UserId) -> bool {
        self.banned.contains(user)
    }
    pub fn is_muted(&self, user: &UserId) -> bool {
        self.muted.contains(user)
    }

    /// Applies a durable change (live or replayed). Total: never fails.
    pub fn apply(&mut self, change: &RoomChange) {
        match change {
            RoomChange::Live { on, publisher } => {
                self.live = *on;
                self.publisher = if *on { publisher.clone() } else { None };
                if self.publisher.is_none() {
                    self.alive_at_ms = None;
                }
            }
            RoomChange::Pinned { lot } => self.pinned = Some(lot.clone()),
            RoomChange::LotAdded { lot } => {
                if !self.lots.contains(lot) {
                    self.lots.push(lot.clone());
                }
            }
            RoomChange::Muted { user } => {
                self.muted.insert(user.clone());
            }
            RoomChange::Unmuted { user } => {
                self.muted.remove(user);
            }
            RoomChange::Banned { user } => {
                self.banned.insert(user.clone());
            }
            RoomChange::Unbanned { user } => {
                self.banned.remove(user);
            }
            RoomChange::SeqReserved { upto } => self.reserved = self.reserved.max(*upto),
        }
    }

    /// After recovery, at `now_ms`: continue above every seq that may have
    /// been handed out, and start the publisher's clock (a live room's
    /// publisher has the whole timeout from now to be heard from).
    pub fn resume(&mut self, now_ms: u64) {
        self.seq = self.seq.max(self.reserved);
        self.alive_at_ms = self.publisher.as_ref().map(|_| now_ms);
    }

    pub fn handle(&mut self, cmd: RoomCommand, now_ms: u64) -> RoomOutcome {
        let mut out = RoomOutcome {
            changes: Vec::new(),
            published: Vec::new(),
            reply: Ok(()),
        };
        out.reply = self.decide(cmd, now_ms, &mut out);
        out
    }

    fn decide(
        &mut self,
        cmd: RoomCommand,
        now_ms: u64,
        out: &mut RoomOutcome,
    ) -> Result<(), Rejection> {
        if self.publisher.is_some() && self.alive_at_ms.is_none() {
            // Rebuilt without `resume`: the clock starts now, as there.
            self.alive_at_ms = Some(now_ms);
        }
        match cmd {
            RoomCommand::Chat { user, name, text } => {
                if self.banned.contains(&user) || self.muted.contains(&user) {
                    return Err(Rejection::Forbidden);
                }
                let text = check_text(&text, MAX_CHAT_CHARS)
                    .map_err(|e| Rejection::BadRequest(e.to_string()))?;
                self.publish(
                    out,
                    RoomEvent::Chat {
                        user,
                        name,
                        text,
                        at_ms: now_ms,
                    },
                );
            }
            RoomCommand::Like { user, count } => {
                if self.banned.contains(&user) {
                    return Err(Rejection::Forbidden);
                }
                if !(1..=MAX_LIKES).contains(&count) {
                    return Err(Rejection::BadRequest(format!(
                        "count must be between 1 and {MAX_LIKES}"
                    )));
                }
                self.hearts = self.hearts.saturating_add(u64::from(count));
            }
            RoomCommand::Pin { by, lot } => {
                self.host_only(&by)?;
                if !self.lots.contains(&lot) {
                    return Err(Rejection::NotFound);
                }
                self.change(out, RoomChange::Pinned { lot: lot.clone() });
                self.publish(out, RoomEvent::Pinned { lot });
            }
            RoomCommand::AddLot { lot } => {
                if !self.lots.contains(&lot) {
                    self.change(out, RoomChange::LotAdded { lot });
                }
            }
            RoomCommand::SetLive { on } => {
                if self.live != on {
                    self.go_live(out, on, None);
                }
            }
            RoomCommand::StreamStarted { publisher } => match &self.publisher {
                _ if !self.live => {
                    self.go_live(out, true, Some(publisher));
                    self.alive_at_ms = Some(now_ms);
                }
                Some(p) if *p == publisher => self.alive_at_ms = Some(now_ms),
                _ => return Err(Rejection::BadState("another publisher is live")),
            },
            RoomCommand::StreamEnded { publisher } => match &self.publisher {
                _ if !self.live => {}
                Some(p) if *p != publisher => {
                    return Err(Rejection::BadState("not the room's publisher"));
                }
                _ => self.go_live(out, false, None),
            },
            RoomCommand::StreamAlive { publisher } => {
                match &self.publisher {
                    _ if !self.live => return Err(Rejection::BadState("the room is offline")),
                    Some(p) if *p == publisher => {}
                    // Takes over: still live, so no `live` event.
                    _ => self.change(
                        out,
                        RoomChange::Live {
                            on: true,
                            publisher: Some(publisher),
                        },
                    ),
                }
                self.alive_at_ms = Some(now_ms);
            }
            RoomCommand::Mute { by, user } => {
                self.moderate(&by, &user, out, |u| RoomChange::Muted { user: u })?
            }
            RoomCommand::Unmute { by, user } => {
                self.moderate(&by, &user, out, |u| RoomChange::Unmuted { user: u })?
            }
            RoomCommand::Ban { by, user } => {
                self.moderate(&by, &user, out, |u| RoomChange::Banned { user: u })?
            }
            RoomCommand::Unban { by, user } => {
                self.moderate(&by, &user, out, |u| RoomChange::Unbanned { user: u })?
            }
            RoomCommand::Viewers { count } => self.viewers = count,
            RoomCommand::Publish(event) => match event {
                RoomEvent::Stock { ref lot, .. } => {
                    self.stock.insert(lot.clone(), event);
                }
                RoomEvent::Lot(ref state) => {
                    // The lot state carries the latest stock: a queued older
                    // `stock` must not follow it.
                    self.stock.remove(&state.lot);
                    self.publish(out, event);
                }
                event => self.publish(out, event),
            },
            RoomCommand::Tick => {
                self.flush(out);
                if self.next_deadline().is_some_and(|d| now_ms >= d) {
                    // The publisher's end was lost: end it as it would have.
                    self.go_live(out, false, None);
                }
            }
        }
        Ok(())
    }

    fn go_live(&mut self, out: &mut RoomOutcome, on: bool, publisher: Option<Publisher>) {
        self.change(out, RoomChange::Live { on, publisher });
        self.publish(out, RoomEvent::Live { on });
    }

    fn host_only(&self, by: &UserId) -> Result<(), Rejection> {
        if *by == self.def.host {
            Ok(())
        } else {
            Err(Rejection::Forbidden)
        }
    }

    fn moderate(
        &mut self,
        by: &UserId,
        user: &UserId,
        out: &mut RoomOutcome,
        change: impl FnOnce(UserId) -> RoomChange,
    ) -> Result<(), Rejection> {
        self.host_only(by)?;
        if user == by {
            return Err(Rejection::BadRequest(
                "the host cannot moderate themselves".into(),
            ));
        }
        self.change(out, change(user.clone()));
        Ok(())
    }

    fn flush(&mut self, out: &mut RoomOutcome) {
        if self.hearts > 0 {
            let count = std::mem::take(&mut self.hearts);
            self.publish(out, RoomEvent::Hearts { count });
        }
        if self.viewers != self.viewers_published {
            self.viewers_published = self.viewers;
            self.publish(
                out,
                RoomEvent::Viewers {
                    count: self.viewers,
                },
            );
        }
        for (_, event) in std::mem::take(&mut self.stock) {
            self.publish(out, event);
        }
    }

    fn change(&mut self, out: &mut RoomOutcome, change: RoomChange) {
        self.apply(&change);
        out.changes.push(change);
    }

    fn publish(&mut self, out: &mut RoomOutcome, event: RoomEvent) {
        if self.seq >= self.reserved {
            let upto = self.seq.saturating_add(SEQ_BLOCK);
            self.change(out, RoomChange::SeqReserved { upto });
        }
        self.seq += 1;
        let sequenced = Sequenced {
            seq: self.seq,
            event,
        };
        if self.buffer.len() == self.buffer_cap {
            self.buffer.pop_front();
        }
        self.buffer.push_back(sequenced.clone());
        out.published.push(sequenced);
    }

    /// Whether `user` may join (banned users may not).
    pub fn may_join(&self, user: Option<&UserId>) -> bool {
        user.is_none_or(|u| !self.banned.contains(u))
    }

    /// The events after `since`, or a reset if the buffer does not reach back
    /// that far (or `since` is from the future, e.g. an older incarnation).
    pub fn join(&self, since: u64) -> Replay {
        if since > self.seq {
            return Replay::Reset;
        }
        if since == self.seq {
            return Replay::Events(Vec::new());
        }
        match self.buffer.front() {
            Some(first) if first.seq <= since.saturating_add(1) => Replay::Events(
                self.buffer
                    .iter()
                    .filter(|e| e.seq > since)
                    .cloned()
                    .collect(),
            ),
            _ => Replay::Reset,
        }
    }
}
