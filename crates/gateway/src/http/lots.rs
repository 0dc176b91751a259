//! `GET /lots/{lot_id}`: the lot state, as in the `lot` event (with `kind`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use liveshop_actors::ActorError;
use liveshop_protocol::{LotId, LotView};

use crate::context::ApiContext;
use crate::error::{Error, Result, timed};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/lots/{lot_id}", get(get_lot))
}

async fn get_lot(State(ctx): State<ApiContext>, Path(raw): Path<String>) -> Result<Json<LotView>> {
    let no_such = || Error::NotFound("no such lot".into());
    let lot = LotId::new(raw).map_err(|_| no_such())?;
    let limit = ctx.config().limits.request_timeout;
    let view = timed(limit, "lot view", ctx.region().lot_view(&lot))
        .await?
        .map_err(|e| match e {
            ActorError::NotFound => no_such(),
            other => other.into(),
        })?;
    Ok(Json(view))
}
