//! WebSocket messages (`GET /ws`).
//!
//! - [`client`]: what a client sends, [`ClientMessage`] = optional `rid` plus a
//!   [`Request`] tagged by `"type"`.
//! - [`server`]: what a node sends, [`ServerMessage`] tagged by `"type"`:
//!   `ok` ([`Reply`]), `error` ([`ErrorReply`]), `event` ([`EventEnvelope`]) and
//!   `notice` ([`NoticeEnvelope`]).
//! - [`event`]: the payloads: [`Snapshot`], [`RoomEvent`] (tagged by `"kind"`)
//!   and [`Notice`] (tagged by `"kind"`).
//!
//! Unknown fields are ignored when decoding, so the contract can grow by
//! adding optional fields without breaking older peers.

pub mod client;
pub mod event;
pub mod server;

pub use client::*;
pub use event::*;
pub use server::*;

/// For `skip_serializing_if` on flags that are only sent when set.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
