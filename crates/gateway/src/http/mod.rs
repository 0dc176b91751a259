//! The HTTP API (`/api/v1`) and the operational endpoints. One `router()`
//! per resource file, merged here.

mod chat;
mod health;
mod lots;
mod media;
mod orders;
mod rooms;
mod users;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, Uri};
use serde::de::DeserializeOwned;

use crate::context::ApiContext;
use crate::error::Error;

/// Every route of the HTTP API under `/api/v1`, the RTMP server's hooks and
/// `/healthz`, `/readyz`, `/metrics`.
pub fn api_router() -> Router<ApiContext> {
    let api = Router::new()
        .merge(users::router())
        .merge(rooms::router())
        .merge(chat::router())
        .merge(lots::router())
        .merge(orders::router())
        .merge(media::api_router());
    Router::new()
        .nest("/api/v1", api)
        .merge(media::router())
        .merge(health::router())
}

/// Unknown routes: 404 in the contract's error shape.
pub async fn not_found(method: Method, uri: Uri) -> Error {
    Error::NotFound(format!("no route for {method} {}", uri.path()))
}

/// A route that exists, with the wrong method.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// `axum::Json` whose rejection is the contract's `bad_request` (or
/// `payload_too_large`) instead of axum's plain-text body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}
