//! Live video: the RTMP server's hooks (nginx-rtmp `notify`) and the host's
//! stream key rotation.
//!
//! Hooks, `POST /media/<hook>` (form-encoded, as nginx-rtmp sends them;
//! `/rtmp/<hook>` are the older aliases and stay):
//! - `on_publish`: `name` is the key the encoder pushed to. A room's current
//!   key: the room goes live with this publisher (nginx's `clientid` and
//!   `addr`) and the answer is a 302 with `Location: <room id>`, which makes
//!   nginx-rtmp rename the stream to the room id, so the key never appears
//!   in a public URL. Any other name: 403, and nginx refuses the encoder.
//!   A second encoder on the key of a live room is answered the same 302 and
//!   changes nothing: nginx then refuses it itself ("already publishing"),
//!   and the stream that runs is never touched.
//! - `on_publish_done`: the room goes offline only if the ending publisher
//!   is the room's (the end of a refused duplicate changes nothing).
//! - `on_update` (`call=update_publish`, every `notify_update_timeout`):
//!   nginx reports a publisher it accepted (other calls are ignored). If the room records another one, that
//!   one's end was lost, and this one becomes the room's. Always answered
//!   2xx: an error would make nginx drop a running stream. Each update
//!   from the room's publisher keeps the room live: one whose publisher is
//!   not heard from (`on_publish`, `on_update`) for the publisher timeout
//!   (`ActorConfig::publisher_timeout`, `[media] publisher_timeout_ms`)
//!   goes offline by itself, as if its `on_publish_done` had arrived (the
//!   room's tick decides it; the directory heartbeat then withdraws it).
//!
//! nginx sends `on_publish_done` and `on_update` with the name the encoder
//! pushed to (the key, not the renamed stream), so they find the room by
//! any key it was ever given (a stream outlives a rotation), or by room id.
//! What each hook decides is the room's ([`RoomCommand`]), in its actor,
//! where the live flag and the publisher are durable and visible to every
//! node. These routes are for the RTMP server only: a deployment must not
//! expose `/media/*` or `/rtmp/*` to the public.
//!
//! Stream keys are secrets: nothing here logs one or puts one in an error
//! message (logs name the room, and the publisher's address).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use liveshop_domain::{Publisher, RoomCommand};
use liveshop_protocol::{RoomId, Secret};
use liveshop_store::StoreError;
use serde::{Deserialize, Serialize};

use super::rooms::room_id;
use crate::auth::extractor::AuthUser;
use crate::context::ApiContext;
use crate::error::{Error, Result, timed};
use crate::live::stream_command;
use crate::util::random_hex;

/// Random bytes of a stream key (hex: twice as many characters).
pub(crate) const STREAM_KEY_BYTES: usize = 24;

/// The hooks, at their documented `/media/` paths and the `/rtmp/` aliases.
pub fn router() -> Router<ApiContext> {
    let mut router = Router::new();
    for base in ["/media", "/rtmp"] {
        router = router
            .route(&format!("{base}/on_publish"), post(on_publish))
            .route(&format!("{base}/on_publish_done"), post(on_publish_done))
            .route(&format!("{base}/on_update"), post(on_update));
    }
    router
}

/// The routes under `/api/v1`.
pub fn api_router() -> Router<ApiContext> {
    Router::new().route("/rooms/{room_id}/stream_key", post(rotate_stream_key))
}

/// The part of nginx-rtmp's notification form the node reads (the rest,
/// `flashver`, `tcurl`, the encoder's query arguments, is ignored).
#[derive(Debug, Deserialize)]
struct Notify {
    /// What the encoder pushed to: a stream key (or a room id).
    name: String,
    /// nginx's id of the client connection.
    #[serde(default)]
    clientid: String,
    /// The encoder's address.
    #[serde(default)]
    addr: String,
    #[serde(default)]
    app: String,
    /// `publish`, `publish_done`, `update_publish`, `update_play`, ...
    #[serde(default)]
    call: String,
}

impl Notify {
    fn publisher(&self) -> Publisher {
        Publisher {
            client: self.clientid.clone(),
            addr: self.addr.clone(),
        }
    }
}

fn form(form: Result<Form<Notify>, FormRejection>) -> Result<Notify> {
    // The rejection's text quotes no field value, so no key is echoed.
    form.map(|Form(n)| n)
        .map_err(|e| Error::BadRequest(e.body_text()))
}

async fn on_publish(
    State(ctx): State<ApiContext>,
    notify: Result<Form<Notify>, FormRejection>,
) -> Result<Response> {
    let notify = form(notify)?;
    let Some(room) = ctx.store().room_by_stream_key(&notify.name).await? else {
        tracing::info!(addr = %notify.addr, app = %notify.app, "publish refused: unknown stream key");
        return Err(Error::Forbidden("unknown stream key"));
    };
    let room = room.room_id;
    let publisher = notify.publisher();
    let cmd = RoomCommand::StreamStarted {
        publisher: publisher.clone(),
    };
    if stream_command(&ctx, &room, cmd).await? {
        tracing::info!(%room, client = %publisher.client, addr = %publisher.addr, "publish accepted");
    } else {
        // Answered like the first so nginx renames it to the same stream
        // and refuses it as a duplicate itself while the first runs. Had the
        // first ended without its `on_publish_done` reaching us, nginx
        // accepts this one, and its first `on_update` makes it the room's.
        tracing::info!(%room, client = %publisher.client, addr = %publisher.addr,
            "publish while another publisher is live: left to the RTMP server");
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, room.to_string())]).into_response())
}

async fn on_publish_done(
    State(ctx): State<ApiContext>,
    notify: Result<Form<Notify>, FormRejection>,
) -> Result<&'static str> {
    let notify = form(notify)?;
    let room = stream_room(&ctx, &notify.name)
        .await?
        .ok_or_else(|| Error::NotFound("no such stream".into()))?;
    let publisher = notify.publisher();
    let cmd = RoomCommand::StreamEnded {
        publisher: publisher.clone(),
    };
    if stream_command(&ctx, &room, cmd).await? {
        tracing::info!(%room, client = %publisher.client, addr = %publisher.addr, "publish done");
        Ok("ok")
    } else {
        tracing::info!(%room, client = %publisher.client, addr = %publisher.addr,
            "publish done from a publisher that is not the room's (a refused duplicate): ignored");
        Ok("ignored")
    }
}

/// Always 2xx: with nginx-rtmp's default `notify_update_strict off` only an
/// HTTP error status drops the stream, and nothing here is a reason to.
async fn on_update(
    State(ctx): State<ApiContext>,
    notify: Result<Form<Notify>, FormRejection>,
) -> &'static str {
    let Ok(notify) = form(notify) else {
        return "ignored";
    };
    // nginx also reports its own relay sessions (`update_play`, e.g. the
    // push to the HLS application, named by the room id): only a publisher
    // may take a room over.
    if notify.call != "update_publish" {
        return "ignored";
    }
    let room = match stream_room(&ctx, &notify.name).await {
        Ok(Some(room)) => room,
        Ok(None) => return "ignored",
        Err(e) => {
            tracing::debug!("update: cannot find the stream's room: {e}");
            return "ignored";
        }
    };
    let publisher = notify.publisher();
    let cmd = RoomCommand::StreamAlive {
        publisher: publisher.clone(),
    };
    match stream_command(&ctx, &room, cmd).await {
        Ok(true) => "ok",
        Ok(false) => "ignored",
        Err(e) => {
            tracing::debug!(%room, "update: {e}");
            "ignored"
        }
    }
}

/// The room a hook's `name` names: any stream key the room was ever given
/// (nginx reports the key the encoder pushed to, which may have been
/// rotated since), else a room id (the renamed stream).
async fn stream_room(ctx: &ApiContext, name: &str) -> Result<Option<RoomId>> {
    if let Some(room) = ctx.store().stream_key_owner(name).await? {
        return Ok(Some(room));
    }
    let Ok(id) = RoomId::new(name) else {
        return Ok(None);
    };
    Ok(ctx.store().room(&id).await?.map(|r| r.room_id))
}

/// The reply to `POST /rooms/{room_id}/stream_key`.
#[derive(Debug, Serialize)]
struct NewStreamKey {
    stream_key: Secret,
    rtmp_url: String,
}

/// Gives the room a new random stream key (host only). The old key no
/// longer starts a stream; a stream running under it goes on, and its end
/// still takes the room offline.
async fn rotate_stream_key(
    State(ctx): State<ApiContext>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> Result<Json<NewStreamKey>> {
    let room = room_id(&raw)?;
    let record = ctx
        .store()
        .room(&room)
        .await?
        .ok_or_else(|| Error::NotFound("no such room".into()))?;
    if record.host != user.0.user_id {
        return Err(Error::Forbidden(
            "only the room's host may rotate its stream key",
        ));
    }
    let limit = ctx.config().limits.request_timeout;
    // A fresh random key never collides in practice; one more try covers a
    // conflict all the same (the store refuses any key ever issued).
    let mut attempts = 0;
    let stream_key = loop {
        attempts += 1;
        let key = random_hex(STREAM_KEY_BYTES);
        match timed(
            limit,
            "stream key rotation",
            ctx.store().replace_stream_key(&room, &key),
        )
        .await?
        {
            Ok(Some(_)) => break key,
            Ok(None) => return Err(Error::NotFound("no such room".into())),
            Err(StoreError::Conflict(_)) if attempts < 2 => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Conflict(
                    "the stream key changed concurrently; retry",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(%room, host = %record.host, "stream key rotated");
    Ok(Json(NewStreamKey {
        stream_key: Secret::new(stream_key),
        rtmp_url: ctx.config().rtmp_url.clone(),
    }))
}
