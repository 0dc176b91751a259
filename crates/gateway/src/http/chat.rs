//! `GET /rooms/{room_id}/chat`: a room's newest chat lines, so a page that
//! joins (or rejoins after a gap) shows the conversation it walked into;
//! room snapshots carry no chat. Anyone may read it, as anyone may watch.
//! Lines stay as they were sent: muting or banning someone later does not
//! take back what they said.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use liveshop_protocol::{ChatLineView, ChatLines, ChatQuery};

use super::rooms::room_id;
use crate::context::ApiContext;
use crate::error::{Error, Result};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/rooms/{room_id}/chat", get(room_chat))
}

async fn room_chat(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
    query: Result<Query<ChatQuery>, QueryRejection>,
) -> Result<Json<ChatLines>> {
    let room = room_id(&raw)?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(ChatQuery::DEFAULT_LIMIT);
    if !(1..=ChatQuery::MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit must be 1 to {}",
            ChatQuery::MAX_LIMIT
        )));
    }
    if ctx.store().room(&room).await?.is_none() {
        return Err(Error::NotFound("no such room".into()));
    }
    let lines = ctx.store().recent_chat(&room, limit).await?;
    Ok(Json(ChatLines {
        lines: lines
            .into_iter()
            .map(|l| ChatLineView {
                user: l.user,
                name: l.name,
                text: l.text,
                at_ms: l.at_ms,
            })
            .collect(),
    }))
}
