//! The actors of a liveshop node: one LotActor per lot, one RoomActor per
//! room, one SessionActor per connected user, and the per-node [`Region`]
//! that routes every request to them.
//!
//! This crate owns the shell around the domain state machines: it feeds them
//! commands in mailbox order, makes their events durable in the store (group
//! commit: everything decided while the previous append was in flight goes
//! into the next one), and only then replies, publishes room events and
//! delivers notices. It decides nothing itself (the domain crate does), and it
//! speaks no wire protocol except for encoding each batch of room events once
//! per codec (the gateway does the rest). It does not place entities on other
//! nodes yet: routing happens in one place (`router.rs`) so the cluster can
//! forward from there.
//!
//! # The API the gateway uses
//! - [`Region::start`] / [`Region::shutdown`], [`Region::stats`].
//! - Lots: [`Region::create_lot`], [`Region::lot_command`], [`Region::lot_view`].
//! - Rooms: [`Region::room_command`], [`Region::room_view`], [`Region::rooms`],
//!   [`Region::join`], [`Region::leave`].
//! - Personal notices: [`Region::attach`], [`Region::detach`].
//! - Every connection gets a [`ConnHandle`] (made by [`ConnHandle::new`]) and
//!   reads [`Outbound`] messages from the receiver that comes with it.
//!
//! # Layout
//! - `region.rs`: the [`Region`] handle: a cache of running entities, the
//!   retry rules, the rooms directory.
//! - `router.rs`: the Region actor: get-or-spawn, passivation hand-over,
//!   supervision, wake-ups, shutdown.
//! - `lot.rs`: LotActor (group commit, timers). `load.rs`: recovering a lot
//!   from its snapshot and log.
//! - `room.rs`: RoomActor (sequencing, fan-out, join); `room_lots.rs`: the
//!   order of its lots' publications. `session.rs`: SessionActor (notices).
//! - `conn.rs`: [`ConnHandle`], [`Outbound`], [`EventBatch`], lagging.
//! - `shared.rs`: what every actor of the node shares; metric names.

mod conn;
mod load;
mod lot;
mod region;
mod room;
mod room_lots;
mod router;
mod session;
mod shared;

use std::time::Duration;

pub use conn::{ConnHandle, ConnId, EventBatch, Outbound};
pub use region::{Joined, Region, RegionStats};

/// Tunables of the actors. `Default` gives the single-node defaults.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    /// An entity with no message for this long snapshots and stops.
    pub passivate_after: Duration,
    /// How often a room publishes its coalesced `hearts`, `viewers` and
    /// `stock` events.
    pub room_tick: Duration,
    /// Room events kept for `join {since}`.
    pub replay_buffer: usize,
    /// Outbound messages a connection may have queued before it is lagged.
    pub conn_queue: usize,
    /// How long a request may wait for its entity (start-up included) before
    /// it is answered [`ActorError::Unavailable`].
    pub call_timeout: Duration,
    /// How long [`Region::shutdown`] waits for the entities to finish.
    pub shutdown_timeout: Duration,
    /// At start, load every lot that may have a timer due (auction end, hold
    /// expiry), so it fires even if nobody touches the lot after a restart.
    pub wake_lots_on_start: bool,
    /// A live room whose RTMP publisher has not been heard from
    /// (`on_publish`, `on_update`) for this long goes offline by itself, as
    /// if its `on_publish_done` had arrived (see [`liveshop_domain::Room`]).
    /// Keep it a few times the RTMP server's update interval (nginx-rtmp
    /// `notify_update_timeout`). `None`: never.
    pub publisher_timeout: Option<Duration>,
}

impl Default for ActorConfig {
    fn default() -> Self {
        ActorConfig {
            passivate_after: Duration::from_secs(300),
            room_tick: Duration::from_millis(100),
            replay_buffer: 4096,
            conn_queue: 256,
            call_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            wake_lots_on_start: true,
            publisher_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Errors at the boundary between the gateway and the actors. Domain
/// refusals are not errors here: they come back as `Ok(Err(Rejection))`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// No such lot or room.
    #[error("not found")]
    NotFound,
    /// The entity could not answer (its store append failed, it lost its
    /// epoch, it was stopping). Nothing was acknowledged; the request may be
    /// retried.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl ActorError {
    pub(crate) fn unavailable(why: impl std::fmt::Display) -> Self {
        ActorError::Unavailable(why.to_string())
    }
}
