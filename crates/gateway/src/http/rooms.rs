//! `POST /rooms`, `GET /rooms`, `GET /rooms/{room_id}` and
//! `POST /rooms/{room_id}/lots`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use liveshop_domain::LotDef;
use liveshop_domain::text::check_text;
use liveshop_protocol::{
    CreateRoomRequest, CreatedLot, CreatedRoom, LotId, LotSpec, RoomId, RoomList, RoomListQuery,
    RoomStatus, RoomSummary, RoomView, Secret,
};
use liveshop_store::{LotRecord, RoomRecord};

use super::ApiJson;
use crate::auth::extractor::AuthUser;
use crate::context::ApiContext;
use crate::error::{Error, Result, timed};
use crate::util::{new_ulid, now_ms, random_hex};

const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/rooms", post(create_room).get(list_rooms))
        .route("/rooms/{room_id}", get(get_room))
        .route("/rooms/{room_id}/lots", post(create_lot))
}

/// A path id: one that breaks the id rules names nothing.
pub(super) fn room_id(raw: &str) -> Result<RoomId> {
    RoomId::new(raw).map_err(|_| Error::NotFound("no such room".into()))
}

/// `<public_url>/hls/<room>.m3u8`.
pub(crate) fn hls_url(ctx: &ApiContext, room: &RoomId) -> String {
    let base = ctx.config().public_url.trim_end_matches('/');
    format!("{base}/hls/{room}.m3u8")
}

async fn create_room(
    State(ctx): State<ApiContext>,
    user: AuthUser,
    body: Result<ApiJson<CreateRoomRequest>>,
) -> Result<(StatusCode, Json<CreatedRoom>)> {
    let host = user.seller()?.user_id.clone();
    let ApiJson(req) = body?;
    let title = check_text(&req.title, MAX_TITLE_CHARS)
        .map_err(|e| Error::BadRequest(format!("title: {e}")))?;
    let description = match req.description.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
            return Err(Error::BadRequest(format!(
                "description: at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        Some(d) => Some(d.to_owned()),
    };
    let room_id = RoomId::new(new_ulid()).map_err(Error::internal)?;
    let stream_key = random_hex(super::media::STREAM_KEY_BYTES);
    let record = RoomRecord {
        room_id: room_id.clone(),
        host,
        title,
        description,
        stream_key: stream_key.clone(),
        created_ms: now_ms(),
    };
    ctx.store().create_room(&record).await?;
    tracing::info!(room = %room_id, host = %record.host, "room created");
    let created = CreatedRoom {
        hls_url: hls_url(&ctx, &room_id),
        room_id,
        stream_key: Secret::new(stream_key),
        rtmp_url: ctx.config().rtmp_url.clone(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /rooms[?status=live|offline]`: rooms with their status and viewers,
/// most viewers first. Status and viewer count
/// of live rooms come from the cluster's live-room directory
/// ([`crate::live`]), so a room live on any node is listed live on every
/// node. Offline rooms show the viewers this node's actors count. When the
/// cache does not answer, the node-local view is served instead (the
/// durable live flags as this node knows them).
async fn list_rooms(
    State(ctx): State<ApiContext>,
    query: Result<Query<RoomListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RoomList>> {
    let Query(query) = query?;
    let live_only = query.status == Some(RoomStatus::Live);
    let limit = ctx.config().limits.request_timeout;
    let mut rooms = match crate::live::directory(&ctx).await {
        Some(live) if live_only => {
            // Only the directory's rooms: no need for this node's view.
            let records = timed(limit, "room list", ctx.store().rooms()).await??;
            records
                .into_iter()
                .filter_map(|r| {
                    let viewers = *live.get(&r.room_id)?;
                    Some(RoomSummary {
                        room_id: r.room_id,
                        title: r.title,
                        host: r.host,
                        status: RoomStatus::Live,
                        viewers,
                    })
                })
                .collect()
        }
        Some(live) => {
            let mut rooms = timed(limit, "room list", ctx.region().rooms(false)).await??;
            for r in &mut rooms {
                match live.get(&r.room_id) {
                    Some(&viewers) => {
                        r.status = RoomStatus::Live;
                        r.viewers = viewers;
                    }
                    None => r.status = RoomStatus::Offline,
                }
            }
            rooms
        }
        None => timed(limit, "room list", ctx.region().rooms(live_only)).await??,
    };
    if let Some(status) = query.status {
        rooms.retain(|r| r.status == status);
    }
    rooms.sort_by_key(|r| std::cmp::Reverse(r.viewers));
    Ok(Json(RoomList { rooms }))
}

async fn get_room(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
) -> Result<Json<RoomView>> {
    let room = room_id(&raw)?;
    let limit = ctx.config().limits.request_timeout;
    let mut view = timed(limit, "room view", ctx.region().room_view(&room))
        .await?
        .map_err(|e| match e {
            liveshop_actors::ActorError::NotFound => Error::NotFound("no such room".into()),
            other => other.into(),
        })?;
    view.hls_url = Some(hls_url(&ctx, &room));
    Ok(Json(view))
}

async fn create_lot(
    State(ctx): State<ApiContext>,
    user: AuthUser,
    Path(raw): Path<String>,
    body: Result<ApiJson<LotSpec>>,
) -> Result<(StatusCode, Json<CreatedLot>)> {
    let room_id = room_id(&raw)?;
    let room = ctx
        .store()
        .room(&room_id)
        .await?
        .ok_or_else(|| Error::NotFound("no such room".into()))?;
    if room.host != user.0.user_id {
        return Err(Error::Forbidden("only the room's host may add lots"));
    }
    let ApiJson(spec) = body?;
    let lot_id = LotId::new_for_lot(new_ulid()).map_err(Error::internal)?;
    // Validate here so bad terms are a 400 with the domain's message; the
    // lot actor validates again when it starts.
    LotDef::new(
        lot_id.clone(),
        room_id.clone(),
        room.host.clone(),
        spec.clone(),
    )?;
    let record = LotRecord {
        lot_id: lot_id.clone(),
        room_id,
        host: room.host,
        spec,
        created_ms: now_ms(),
    };
    let limit = ctx.config().limits.request_timeout;
    let lot = timed(limit, "lot creation", ctx.region().create_lot(record)).await??;
    tracing::info!(lot = %lot_id, room = %lot.room, "lot created");
    Ok((StatusCode::CREATED, Json(CreatedLot { lot_id, lot })))
}
