//! The liveshop client contract (docs/protocol.md) as Rust types.
//!
//! This crate owns every message a client and a node exchange over HTTP and
//! WebSocket: requests, replies, room events, personal notices, error codes,
//! ids and money, and their two encodings (JSON text frames and MessagePack
//! binary frames). It does no I/O and decides nothing: the domain crate
//! decides, the gateway moves bytes. Decoding never panics; anything malformed
//! becomes a [`DecodeError`] that the gateway answers with `bad_request`.
//!
//! # Layout
//!
//! - [`ids`], [`money`], [`user`], [`secret`]: the small types everything uses.
//! - [`lot`]: the lot creation body ([`LotSpec`]) and lot state ([`LotView`]).
//! - [`room`], [`order`]: rooms and orders as clients see them.
//! - [`error`]: [`ErrorCode`] and the HTTP error body.
//! - [`http`]: HTTP request and reply bodies.
//! - [`ws`]: WebSocket messages: [`ClientMessage`], [`ServerMessage`],
//!   [`RoomEvent`], [`Notice`], [`Snapshot`].
//! - [`codec`]: JSON and MessagePack frames, batching, [`MAX_FRAME_BYTES`].
//!
//! Everything is re-exported at the crate root.

pub mod codec;
pub mod error;
pub mod http;
pub mod ids;
pub mod lot;
pub mod money;
pub mod order;
pub mod room;
pub mod secret;
pub mod user;
pub mod ws;

pub use codec::*;
pub use error::*;
pub use http::*;
pub use ids::*;
pub use lot::*;
pub use money::*;
pub use order::*;
pub use room::*;
pub use secret::*;
pub use user::*;
pub use ws::*;
