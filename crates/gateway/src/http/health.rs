//! `/healthz` (the process answers), `/readyz` (the store answers a cheap
//! read in time; the shared cache is probed too but does not decide) and
//! `/metrics` (Prometheus text).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::context::ApiContext;
use crate::error::Error;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(ctx): State<ApiContext>) -> Result<&'static str, Error> {
    if ctx.is_shutting_down() {
        return Err(Error::Unavailable("shutting down".into()));
    }
    // A point read of a name no user can have (it breaks the username rules).
    let probe = ctx.store().user_by_name("~readyz~");
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => {
            // Every node shares the cache: failing readiness on its outage
            // would take every node out of the load balancer at once, which
            // is what the gateway's fallbacks exist to avoid. Say so instead.
            let probe = ctx.cache().is_family_revoked("~readyz~");
            match ctx.hot().call("readyz", probe).await {
                Some(_) => Ok("ready"),
                None => Ok("ready (shared cache unavailable: degraded)"),
            }
        }
        Ok(Err(e)) => Err(Error::Unavailable(format!("readyz: store: {e}"))),
        Err(_) => Err(Error::Unavailable("readyz: store timed out".into())),
    }
}

async fn metrics(State(ctx): State<ApiContext>) -> impl IntoResponse {
    ctx.metrics().run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.metrics().render(),
    )
}
