//! The decisions of liveshop, as plain deterministic state machines.
//!
//! This crate owns every rule that is hard to get right: bid acceptance on the
//! increment ladder, proxy bids and anti-snipe ([`lot::Auction`]), stock holds,
//! per-user limits, expiry, the FIFO queue, checkout idempotency and raffles
//! ([`lot::Sale`]), and a room's event sequence, replay buffer, chat checks,
//! moderation and batched hearts ([`room::Room`]). It does no I/O, reads no
//! clock and draws no random numbers: time and seeds are arguments, so a test
//! can drive thousands of interleavings on a virtual clock. It does not
//! persist, publish or time anything itself: commands return the events to
//! persist, the effects to carry out and the next deadline, and the actors do
//! the rest (the quinn-proto / quinn split).
//!
//! # Layout
//! - `lot/`: [`Lot`], its commands, events, effects; `auction.rs`, `sale/`
//!   (state in `mod.rs`, command handlers in `commands.rs`),
//!   `def.rs` (checked terms).
//! - `room.rs`: [`Room`].
//! - `ladder.rs`: bid increments. `raffle.rs`: the reproducible draw.
//! - `text.rs`: checks on titles and chat. `error.rs`: [`Rejection`].

pub mod error;
pub mod ladder;
pub mod lot;
pub mod raffle;
pub mod room;
pub mod text;

pub use error::Rejection;
pub use lot::{Effect, Lot, LotCommand, LotDef, LotEvent, LotReply, NewOrder, Outcome};
pub use room::{Publisher, Replay, Room, RoomChange, RoomCommand, RoomDef, RoomOutcome, Sequenced};
