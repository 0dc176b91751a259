//! `POST /auth/register`, `/auth/login`, `/auth/refresh`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use liveshop_protocol::{LoginRequest, RefreshRequest, RegisterRequest, TokenReply, UserId};
use liveshop_store::{StoreError, UserRecord};

use super::ApiJson;
use crate::auth::extractor::ClientIp;
use crate::auth::{self, check_password, normalize_username};
use crate::context::ApiContext;
use crate::error::{Error, Result};
use crate::util::{new_ulid, now_ms};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
}

/// The one answer to a wrong username or a wrong password.
const BAD_LOGIN: &str = "wrong username or password";

async fn register(
    State(ctx): State<ApiContext>,
    ClientIp(ip): ClientIp,
    body: Result<ApiJson<RegisterRequest>>,
) -> Result<(StatusCode, Json<TokenReply>)> {
    if !ctx.limiters().allow_auth(ip).await {
        return Err(Error::RateLimited);
    }
    let ApiJson(req) = body?;
    let username = normalize_username(&req.username)?;
    check_password(&req.password)?;
    let user_id = UserId::new(new_ulid()).map_err(Error::internal)?;
    let password_hash = auth::hash_password(&ctx, req.password).await?;
    let user = UserRecord {
        user_id,
        username,
        password_hash,
        role: req.role,
        created_ms: now_ms(),
    };
    match ctx.store().create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(Error::Conflict("username is taken")),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %user.user_id, role = ?user.role, "registered");
    let tokens = auth::issue_tokens(&ctx, &user).await?;
    Ok((StatusCode::CREATED, Json(tokens)))
}

async fn login(
    State(ctx): State<ApiContext>,
    ClientIp(ip): ClientIp,
    body: Result<ApiJson<LoginRequest>>,
) -> Result<Json<TokenReply>> {
    if !ctx.limiters().allow_auth(ip).await {
        return Err(Error::RateLimited);
    }
    let ApiJson(req) = body?;
    // A name that breaks the rules cannot exist; it is a wrong login, not a
    // bad request, so the answer does not tell which part was wrong.
    let user = match normalize_username(&req.username) {
        Ok(name) => ctx.store().user_by_name(&name).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        // Spend the time a real check would, so timing reveals nothing.
        let dummy = auth::dummy_hash(&ctx).await?;
        let _ = auth::verify_password(&ctx, req.password, dummy).await?;
        return Err(Error::Unauthorized(BAD_LOGIN));
    };
    if !auth::verify_password(&ctx, req.password, user.password_hash.clone()).await? {
        return Err(Error::Unauthorized(BAD_LOGIN));
    }
    Ok(Json(auth::issue_tokens(&ctx, &user).await?))
}

async fn refresh(
    State(ctx): State<ApiContext>,
    ClientIp(ip): ClientIp,
    body: Result<ApiJson<RefreshRequest>>,
) -> Result<Json<TokenReply>> {
    // Same per-address bucket as register and login: each refresh is a
    // store write.
    if !ctx.limiters().allow_auth(ip).await {
        return Err(Error::RateLimited);
    }
    let ApiJson(req) = body?;
    Ok(Json(auth::refresh_tokens(&ctx, &req.refresh_token).await?))
}
