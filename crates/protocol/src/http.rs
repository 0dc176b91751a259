//! Bodies of the HTTP API (`/api/v1`). Errors use [`crate::ErrorBody`].

use serde::{Deserialize, Serialize};

use crate::ids::{LotId, RoomId, UserId};
use crate::lot::LotView;
use crate::order::OrderView;
use crate::room::{RoomStatus, RoomSummary};
use crate::secret::Secret;
use crate::user::Role;

/// `POST /auth/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub username: String,
    pub password: Secret,
    pub role: Role,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: Secret,
}

/// `POST /auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: Secret,
}

/// The reply to register, login and refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenReply {
    pub user_id: UserId,
    pub access_token: Secret,
    /// Single use: refreshing returns a new one, and reusing an old one
    /// revokes the whole family.
    pub refresh_token: Secret,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
}

/// `POST /rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The reply to `POST /rooms`: where the host streams to and viewers watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRoom {
    pub room_id: RoomId,
    pub stream_key: Secret,
    pub rtmp_url: String,
    pub hls_url: String,
}

/// Query of `GET /rooms` (`?status=live`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RoomStatus>,
}

/// Query of `GET /seller/orders` (`?room=<id>&limit=<n>`), both optional:
/// only the orders of one room, and only the newest `limit`
/// ([`SellerOrdersQuery::MAX_LIMIT`] at most) by `created_ms`, newest
/// first. Without them, every order of the seller, as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerOrdersQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl SellerOrdersQuery {
    /// The largest `limit`: a page a studio can show.
    pub const MAX_LIMIT: usize = 1000;
}

/// Query of `GET /rooms/{room_id}/chat` (`?limit=<n>`): how many of the
/// newest lines, [`ChatQuery::DEFAULT_LIMIT`] when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ChatQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 200;
}

/// One line of a room's chat history, as its `chat` event had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLineView {
    pub user: UserId,
    pub name: String,
    pub text: String,
    pub at_ms: u64,
}

/// The reply to `GET /rooms/{room_id}/chat`: oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLines {
    pub lines: Vec<ChatLineView>,
}

/// The reply to `GET /rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    pub rooms: Vec<RoomSummary>,
}

/// The reply to `POST /rooms/{room}/lots`: `lot_id` then the new lot's state,
/// as `GET /lots/{lot}` would return it. HTTP is JSON only, so the flatten
/// here never meets MessagePack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedLot {
    pub lot_id: LotId,
    #[serde(flatten)]
    pub lot: LotView,
}

/// The reply to `GET /orders` and `GET /seller/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    pub orders: Vec<OrderView>,
}
