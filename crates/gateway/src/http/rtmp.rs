//! The RTMP server's hooks (nginx-rtmp `on_publish` / `on_publish_done`):
//! a publish with a room's stream key turns the room live, and is renamed
//! to the room id (a 3xx `Location`), so the HLS playlist is the room's
//! `hls_url`; the end of the publish turns it offline. Either way the room's
//! entry in the cluster's live-room directory follows ([`crate::live`]):
//! the node that answered `on_publish` hosts it there.
//!
//! These are for the RTMP server only: a deployment must not expose
//! `/rtmp/*` to the public (the reverse proxy blocks it).

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use liveshop_protocol::RoomId;
use liveshop_store::RoomRecord;
use serde::Deserialize;

use crate::context::ApiContext;
use crate::error::{Error, Result};
use crate::live::set_live;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/rtmp/on_publish", post(on_publish))
        .route("/rtmp/on_publish_done", post(on_publish_done))
}

/// The part of nginx-rtmp's notification form the node reads.
#[derive(Debug, Deserialize)]
struct Notify {
    /// The stream name: the stream key (or, after the rename, the room id).
    name: String,
}

async fn on_publish(
    State(ctx): State<ApiContext>,
    form: Result<Form<Notify>, FormRejection>,
) -> Result<Response> {
    let Form(notify) = form.map_err(|e| Error::BadRequest(e.body_text()))?;
    let Some(room) = ctx.store().room_by_stream_key(&notify.name).await? else {
        return Err(Error::Forbidden("unknown stream key"));
    };
    set_live(&ctx, &room.room_id, true).await?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, room.room_id.to_string())],
    )
        .into_response())
}

async fn on_publish_done(
    State(ctx): State<ApiContext>,
    form: Result<Form<Notify>, FormRejection>,
) -> Result<&'static str> {
    let Form(notify) = form.map_err(|e| Error::BadRequest(e.body_text()))?;
    let room: Option<RoomRecord> = match ctx.store().room_by_stream_key(&notify.name).await? {
        Some(room) => Some(room),
        None => match RoomId::new(notify.name) {
            Ok(id) => ctx.store().room(&id).await?,
            Err(_) => None,
        },
    };
    let room = room.ok_or_else(|| Error::NotFound("no such stream".into()))?;
    set_live(&ctx, &room.room_id, false).await?;
    Ok("ok")
}
