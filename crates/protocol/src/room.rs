//! Rooms as clients see them: `GET /rooms/{id}`, the room list and the
//! `room` part of a `join` snapshot.

use serde::{Deserialize, Serialize};

use crate::ids::{LotId, RoomId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// The host is streaming.
    Live,
    Offline,
}

/// One room in full (`GET /rooms/{id}`, and `snapshot.room`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    pub room_id: RoomId,
    pub title: String,
    /// The seller who owns the room.
    pub host: UserId,
    pub status: RoomStatus,
    pub viewers: u64,
    /// The lot the host pinned, shown prominently by clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<LotId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
}

/// One row of `GET /rooms`: the fields a room list needs, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room_id: RoomId,
    pub title: String,
    pub host: UserId,
    pub status: RoomStatus,
    pub viewers: u64,
}

impl From<&RoomView> for RoomSummary {
    fn from(r: &RoomView) -> Self {
        Self {
            room_id: r.room_id.clone(),
            title: r.title.clone(),
            host: r.host.clone(),
            status: r.status,
            viewers: r.viewers,
        }
    }
}
