//! The live-room directory: which rooms are live anywhere in the cluster
//! and how many viewers each has, kept in the shared cache
//! ([`liveshop_cache::Cache::set_room_live`] / `live_rooms`), so `GET /rooms`
//! on any node lists the rooms live on every node.
//!
//! A node *hosts* a room in the directory when it turned the room live (the
//! RTMP `on_publish` hook it answered, see `http/media.rs`, or the demo),
//! or when at start-up it finds a room live in the durable state that no node lists (a restart, or
//! the node that hosted it is gone). The host writes the room's entry at
//! once and then every `room_heartbeat` with the viewer count its room actor
//! reports; each write renews the entry's TTL (`live_ttl`, three
//! heartbeats), so the rooms of a node that died leave the directory by
//! themselves. The entry is removed when the room goes offline (the
//! `on_publish_done` hook, or the room's actor reports it offline or
//! missing, e.g. after its publisher timed out: within one heartbeat) and
//! when the node shuts down gracefully.
//!
//! The heartbeat asks the room's actor for its view, which keeps a live
//! room's actor running on its host (a live room is busy anyway). Viewer
//! counts are those of the hosting node's room actor: until clustering
//! places each room on one node, viewers connected to another node are not
//! in the count.
//!
//! The durable live flag (in the room's log, changed by its actor) stays
//! the truth for `GET /rooms/{id}`; the directory is what lists rooms.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use futures_util::StreamExt;
use liveshop_actors::ActorError;
use liveshop_domain::{Rejection, RoomCommand};
use liveshop_protocol::{RoomId, RoomStatus};

use crate::context::ApiContext;
use crate::error::{Result, timed};

/// Most live rooms read from the directory at once (a listing, adoption).
pub const MAX_LIVE_LISTED: usize = 10_000;
/// Rooms refreshed at once by one heartbeat.
const HEARTBEAT_CONCURRENCY: usize = 32;

/// The rooms this node hosts in the directory.
#[derive(Debug, Default)]
pub struct LiveRooms {
    hosted: Mutex<HashSet<RoomId>>,
}

impl LiveRooms {
    fn lock(&self) -> MutexGuard<'_, HashSet<RoomId>> {
        // A plain set: consistent even if a holder panicked.
        self.hosted.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn host(&self, room: &RoomId) {
        self.lock().insert(room.clone());
    }

    fn unhost(&self, room: &RoomId) {
        self.lock().remove(room);
    }

    fn is_hosted(&self, room: &RoomId) -> bool {
        self.lock().contains(room)
    }

    /// The rooms this node hosts now.
    pub fn hosted(&self) -> Vec<RoomId> {
        self.lock().iter().cloned().collect()
    }
}

/// Turns `room` live or offline whoever publishes (the demo, tests):
/// durably, through its actor, then in the directory. A directory that
/// cannot be written does not fail the call (the durable flag is set): a
/// live room is written again by the next heartbeat, an offline one expires.
pub async fn set_live(ctx: &ApiContext, room: &RoomId, on: bool) -> Result<()> {
    let limit = ctx.config().limits.request_timeout;
    let cmd = RoomCommand::SetLive { on };
    timed(limit, "set live", ctx.region().room_command(room, cmd)).await???;
    tracing::info!(%room, on, "room live flag");
    follow(ctx, room, on).await;
    Ok(())
}

/// Sends one of the RTMP hooks' stream commands (`StreamStarted`,
/// `StreamEnded`, `StreamAlive`) to the room's actor, which decides from the
/// room's recorded publisher (see [`RoomCommand`]); then the directory
/// follows what a start or an end did. `Ok(false)` when the room refused it
/// (another publisher is live, the end or report of a publisher that is not
/// the room's): nothing changed.
pub(crate) async fn stream_command(
    ctx: &ApiContext,
    room: &RoomId,
    cmd: RoomCommand,
) -> Result<bool> {
    let limit = ctx.config().limits.request_timeout;
    let on = match &cmd {
        RoomCommand::StreamStarted { .. } => Some(true),
        RoomCommand::StreamEnded { .. } => Some(false),
        _ => None,
    };
    match timed(limit, "stream hook", ctx.region().room_command(room, cmd)).await?? {
        Ok(()) => {
            if let Some(on) = on {
                follow(ctx, room, on).await;
            }
            Ok(true)
        }
        Err(Rejection::BadState(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The directory after `room` went live (this node hosts it) or offline.
async fn follow(ctx: &ApiContext, room: &RoomId, on: bool) {
    if on {
        ctx.live().host(room);
        publish(ctx, room).await;
    } else {
        ctx.live().unhost(room);
        withdraw(ctx, room).await;
    }
}

/// Writes (or renews) the directory entry of a hosted room from its
/// actor's view; a room that is no longer live stops being hosted.
async fn publish(ctx: &ApiContext, room: &RoomId) {
    let limit = ctx.config().limits.request_timeout;
    let view = tokio::time::timeout(limit, ctx.region().room_view(room)).await;
    match view {
        Ok(Ok(view)) if view.status == RoomStatus::Live => {
            let ttl = ctx.config().live_ttl().as_millis() as u64;
            let call = ctx.cache().set_room_live(room, true, view.viewers, ttl);
            ctx.hot().call("set_room_live", call).await;
            // Went offline while this write was under way: undo it.
            if !ctx.live().is_hosted(room) {
                withdraw(ctx, room).await;
            }
        }
        Ok(Ok(_)) | Ok(Err(ActorError::NotFound)) => {
            ctx.live().unhost(room);
            withdraw(ctx, room).await;
        }
        // The actor is busy, restarting or the node is stopping: keep the
        // room; if this lasts, its entry expires.
        Ok(Err(e)) => tracing::debug!(%room, "heartbeat: room view failed: {e}"),
        Err(_) => tracing::debug!(%room, "heartbeat: room view timed out"),
    }
}

async fn withdraw(ctx: &ApiContext, room: &RoomId) {
    let call = ctx.cache().set_room_live(room, false, 0, 0);
    ctx.hot().call("set_room_live", call).await;
}

/// Every live room of the cluster with its viewers, or `None` when the
/// cache did not answer.
pub(crate) async fn directory(ctx: &ApiContext) -> Option<HashMap<RoomId, u64>> {
    let call = ctx.cache().live_rooms(MAX_LIVE_LISTED);
    let rooms = ctx.hot().call("live_rooms", call).await?;
    Some(rooms.into_iter().collect())
}

/// Hosts the rooms that are live in the durable state but listed by no
/// node. `false` if it could not tell (cache or store unavailable), so the
/// caller tries again later.
async fn adopt(ctx: &ApiContext) -> bool {
    let Some(listed) = directory(ctx).await else {
        return false;
    };
    let limit = ctx.config().limits.request_timeout;
    let rooms = match tokio::time::timeout(limit, ctx.region().rooms(true)).await {
        Ok(Ok(rooms)) => rooms,
        Ok(Err(e)) => {
            tracing::warn!("live rooms at start-up: {e}");
            return false;
        }
        Err(_) => {
            tracing::warn!("live rooms at start-up: timed out");
            return false;
        }
    };
    for summary in rooms {
        if summary.status == RoomStatus::Live && !listed.contains_key(&summary.room_id) {
            tracing::info!(room = %summary.room_id, "hosting a live room no node lists");
            ctx.live().host(&summary.room_id);
        }
    }
    true
}

/// The heartbeat task ([`crate::serve`] runs it): adopts unlisted live rooms
/// at start-up and once more when every entry written before the start has
/// expired (a node restarted after a crash finds its own rooms still listed
/// by the entries of its previous run, which no one renews), then every
/// `room_heartbeat` renews the entries of hosted rooms.
pub(crate) async fn heartbeat(ctx: ApiContext) {
    let mut tick = tokio::time::interval(ctx.config().room_heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = tokio::time::Instant::now();
    let (mut adopted, mut adopted_late) = (false, false);
    loop {
        tick.tick().await;
        if ctx.is_shutting_down() {
            return;
        }
        if !adopted {
            adopted = adopt(&ctx).await;
        } else if !adopted_late && started.elapsed() > ctx.config().live_ttl() {
            adopted_late = adopt(&ctx).await;
        }
        futures_util::stream::iter(ctx.live().hosted())
            .for_each_concurrent(HEARTBEAT_CONCURRENCY, |room| {
                let ctx = ctx.clone();
                async move { publish(&ctx, &room).await }
            })
            .await;
    }
}

/// At shutdown: this node stops hosting its rooms, so they leave the
/// directory now rather than when their entries expire.
pub(crate) async fn withdraw_all(ctx: &ApiContext) {
    let rooms = ctx.live().hosted();
    futures_util::stream::iter(rooms)
        .for_each_concurrent(HEARTBEAT_CONCURRENCY, |room| async move {
            ctx.live().unhost(&room);
            withdraw(ctx, &room).await;
        })
        .await;
}
