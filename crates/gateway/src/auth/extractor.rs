//! Extractors that say who a request is from, so a handler's signature says
//! who may call it: [`AuthUser`] (401 without a valid bearer token),
//! [`MaybeAuthUser`] (anonymous allowed; a bad token is still 401), and
//! [`ClientIp`] for per-IP limits.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use liveshop_protocol::Role;

use super::jwt::{Identity, TokenError};
use crate::context::ApiContext;
use crate::error::Error;
use crate::server::PeerAddr;

/// A request with a valid access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Identity);

impl AuthUser {
    /// Refuses callers that are not sellers.
    pub fn seller(&self) -> Result<&Identity, Error> {
        match self.0.role {
            Role::Seller => Ok(&self.0),
            Role::Buyer => Err(Error::Forbidden("only sellers may do this")),
        }
    }
}

/// A request that may carry an access token.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<Identity>);

fn token_error(e: TokenError) -> Error {
    match e {
        TokenError::Expired => Error::Unauthorized("access token expired"),
        TokenError::Invalid => Error::Unauthorized("invalid access token"),
    }
}

/// The bearer token of `parts`, if there is an `Authorization` header.
fn bearer(parts: &Parts) -> Option<Result<&str, Error>> {
    let value = parts.headers.get(AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or(Error::Unauthorized(
            "the Authorization header must be `Bearer <access_token>`",
        ));
    Some(token)
}

impl FromRequestParts<ApiContext> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, Error> {
        let token = bearer(parts).ok_or(Error::Unauthorized("sign in first"))??;
        ctx.jwt().verify(token).map(AuthUser).map_err(token_error)
    }
}

impl FromRequestParts<ApiContext> for MaybeAuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, Error> {
        match bearer(parts) {
            None => Ok(MaybeAuthUser(None)),
            Some(token) => {
                let identity = ctx.jwt().verify(token?).map_err(token_error)?;
                Ok(MaybeAuthUser(Some(identity)))
            }
        }
    }
}

/// The peer's IP address, when the server was started with connect info
/// (always, through [`crate::serve`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ext = &parts.extensions;
        let addr = ext
            .get::<ConnectInfo<PeerAddr>>()
            .map(|ConnectInfo(PeerAddr(addr))| *addr)
            .or_else(|| {
                ext.get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| *addr)
            });
        Ok(ClientIp(addr.map(|a| a.ip())))
    }
}
