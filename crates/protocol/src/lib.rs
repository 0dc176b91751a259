//! The liveshop client contract (docs/protocol.md) as Rust types.
//!
//! This crate owns every message a client and a node exchange over HTTP and
//! WebSocket: requests, replies, room events, personal notices, error codes,
//! ids and money, and their two encodings (JSON text frames and MessagePack
//! binary frames). It does no I/O and decides nothing: the domain crate
//! decides, the gateway moves bytes. Decoding never panics; anything malformed
//! becomes a [`DecodeError`] that the gateway answers with `bad_request`.

pub mod ids;
pub mod lot;
pub mod money;
pub mod user;

pub use ids::*;
pub use lot::*;
pub use money::*;
pub use user::*;
