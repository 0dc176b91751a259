//! The HTTP side of the contract, for setup (users, rooms, lots) and for
//! reading state back at the end. Every request has a connect timeout and a
//! total timeout, and every failure becomes an [`ApiError`] whose message is
//! one line saying what to fix (node down, wrong URL, refused credentials,
//! rate limits), never a hang or a panic.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// The password every harness user gets: long enough for any policy.
const PASSWORD: &str = "liveshop-loadtest password";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad target URL {url:?}: {detail}")]
    BadTarget { url: String, detail: String },
    #[error("cannot reach {url}: {detail} (is a liveshop node running there?)")]
    Unreachable { url: String, detail: String },
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{url} answered 404: is the --target URL a liveshop node's base URL?")]
    NotFound { url: String },
    #[error("{url} refused the credentials: {status} {code}: {message}")]
    Auth {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "{url} is rate limiting the harness (429): raise the node's [rate_limits] (see loadtest/README.md)"
    )]
    RateLimited { url: String },
    #[error("{url} answered {status} {code}: {message}")]
    Status {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{url} answered something that is not the contract's JSON: {detail}")]
    Decode { url: String, detail: String },
}

/// A registered user (handed to worker processes in their work orders).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub token: String,
}

/// One node's HTTP API. Cheap to clone; clones share the connection pool
/// and the concurrency bound.
#[derive(Clone)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
    /// Bounds requests in flight, so setup never opens thousands of
    /// sockets at once or swamps the node.
    permits: Arc<Semaphore>,
}

impl Api {
    /// `target` is a node's base URL (`http://host:port`, optionally with a
    /// path prefix).
    pub fn new(target: &str, timeout: Duration, concurrency: usize) -> Result<Api, ApiError> {
        let bad = |detail: &str| ApiError::BadTarget {
            url: target.to_owned(),
            detail: detail.to_owned(),
        };
        let mut base = Url::parse(target).map_err(|e| bad(&e.to_string()))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if base.host_str().is_none() {
            return Err(bad("no host"));
        }
        // Join relative paths under the base's path, not beside it.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_max_idle_per_host(concurrency.max(1))
            // Talk to the node itself, as the WebSockets do, never through
            // a proxy from the environment.
            .no_proxy()
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Api {
            base,
            http,
            timeout,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The WebSocket URL of this node, with `token`.
    pub fn ws_url(&self, token: &str) -> String {
        let mut url = self.base.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Url::set_scheme refuses http -> ws (special to non-special), so
        // build the string.
        url.set_query(None);
        let rest = url.as_str().split_once("://").map_or("", |(_, r)| r);
        format!("{scheme}://{rest}ws?token={token}")
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base.join(path).map_err(|e| ApiError::BadTarget {
            url: self.base.to_string(),
            detail: e.to_string(),
        })
    }

    /// One request; the JSON body of a 2xx answer, or a typed error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let url = self.url(path)?;
        let shown = url.to_string();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unreachable {
                url: shown.clone(),
                detail: "the harness is shutting down".into(),
            })?;
        let mut req = self.http.request(method, url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| self.transport(&shown, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(&shown, &e))?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            // /healthz answers plain text; callers that need JSON say so.
            return Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
        let message = match body["error"]["message"].as_str() {
            Some(m) => m.to_owned(),
            None => text.chars().take(200).collect(),
        };
        Err(match status {
            StatusCode::NOT_FOUND if code.is_empty() || path_is_route(path) => {
                ApiError::NotFound { url: shown }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::Auth {
                url: shown,
                status: status.as_u16(),
                code,
                message,
            },
            StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited { url: shown },
            _ => ApiError::Status {
                url: shown,
                status: status.as_u16(),
                code,
                message,
            },
        })
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return ApiError::Timeout {
                url: url.to_owned(),
                secs: self.timeout.as_secs(),
            };
        }
        // The innermost cause says it best ("Connection refused (os error 111)").
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        ApiError::Unreachable {
            url: url.to_owned(),
            detail,
        }
    }

    /// Checks the target is a liveshop node that answers, before any setup.
    pub async fn preflight(&self) -> Result<(), ApiError> {
        self.call(Method::GET, "healthz", None, None).await?;
        // /healthz alone could be any server; the rooms list is ours.
        let rooms = self.call(Method::GET, "api/v1/rooms", None, None).await?;
        if rooms.get("rooms").is_none() {
            return Err(ApiError::Decode {
                url: self.url("api/v1/rooms")?.to_string(),
                detail: "no `rooms` list".into(),
            });
        }
        Ok(())
    }

    pub async fn register(&self, name: &str, role: &str) -> Result<User, ApiError> {
        let body = json!({"username": name, "password": PASSWORD, "role": role});
        let v = self
            .call(Method::POST, "api/v1/auth/register", None, Some(body))
            .await?;
        Ok(User {
            id: self.field(&v, "user_id", "api/v1/auth/register")?,
            name: name.to_owned(),
            token: self.field(&v, "access_token", "api/v1/auth/register")?,
        })
    }

    /// Registers `names` (all with `role`), at most the API's concurrency
    /// at once, calling `progress` after each. Stops at the first error.
    pub async fn register_many(
        &self,
        names: Vec<String>,
        role: &str,
        progress: impl Fn(),
    ) -> Result<Vec<User>, ApiError> {
        let mut stream = futures_util::stream::iter(names)
            .map(|name| async move { self.register(&name, role).await })
            .buffered(self.permits.available_permits().max(1));
        let mut users = Vec::new();
        while let Some(user) = stream.next().await {
            users.push(user?);
            progress();
        }
        Ok(users)
    }

    pub async fn create_room(&self, seller: &User, title: &str) -> Result<String, ApiError> {
        let v = self
            .call(
                Method::POST,
                "api/v1/rooms",
                Some(&seller.token),
                Some(json!({"title": title})),
            )
            .await?;
        self.field(&v, "room_id", "api/v1/rooms")
    }

    pub async fn create_lot(
        &self,
        seller: &User,
        room: &str,
        lot: Value,
    ) -> Result<String, ApiError> {
        let path = format!("api/v1/rooms/{room}/lots");
        let v = self
            .call(Method::POST, &path, Some(&seller.token), Some(lot))
            .await?;
        self.field(&v, "lot_id", &path)
    }

    pub async fn lot(&self, lot: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, &format!("api/v1/lots/{lot}"), None, None)
            .await
    }

    /// Signs `name` in again: a fresh access token for a run that outlasts
    /// the one it registered with (15 minutes on a default node).
    pub async fn login(&self, name: &str) -> Result<User, ApiError> {
        let path = "api/v1/auth/login";
        let body = json!({"username": name, "password": PASSWORD});
        let v = self.call(Method::POST, path, None, Some(body)).await?;
        Ok(User {
            id: self.field(&v, "user_id", path)?,
            name: name.to_owned(),
            token: self.field(&v, "access_token", path)?,
        })
    }

    /// Orders on the lots `seller` hosts. The read-back of a long soak comes
    /// after the seller's token expired: refused, it signs in again once.
    pub async fn seller_orders(&self, seller: &User) -> Result<Vec<Value>, ApiError> {
        let path = "api/v1/seller/orders";
        let v = match self
            .call(Method::GET, path, Some(&seller.token), None)
            .await
        {
            Err(ApiError::Auth { status: 401, .. }) => {
                let fresh = self.login(&seller.name).await?;
                self.call(Method::GET, path, Some(&fresh.token), None)
                    .await?
            }
            other => other?,
        };
        match v.get("orders").and_then(Value::as_array) {
            Some(list) => Ok(list.clone()),
            None => Err(ApiError::Decode {
                url: self.url(path)?.to_string(),
                detail: "no `orders` list".into(),
            }),
        }
    }

    fn field(&self, v: &Value, name: &str, path: &str) -> Result<String, ApiError> {
        match v.get(name).and_then(Value::as_str) {
            Some(s) => Ok(s.to_owned()),
            None => Err(ApiError::Decode {
                url: self
                    .url(path)
                    .map_or_else(|_| path.to_owned(), |u| u.to_string()),
                detail: format!("no `{name}` in {}", truncate(&v.to_string(), 200)),
            }),
        }
    }
}

/// Paths naming a fixed route (no id): a 404 there means a wrong base URL,
/// while a 404 on `lots/{id}` is the contract's "no such lot".
fn path_is_route(path: &str) -> bool {
    matches!(
        path,
        "healthz" | "api/v1/rooms" | "api/v1/auth/register" | "api/v1/seller/orders"
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_owned()
    } else {
        let cut = (0..=n).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}...", &s[..cut])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path() {
        let api = Api::new("http://127.0.0.1:9/prefix", Duration::from_secs(1), 4).unwrap();
        assert_eq!(
            api.url("api/v1/rooms").unwrap().as_str(),
            "http://127.0.0.1:9/prefix/api/v1/rooms"
        );
        assert_eq!(api.ws_url("T"), "ws://127.0.0.1:9/prefix/ws?token=T");
        let api = Api::new("https://shop.example/", Duration::from_secs(1), 4).unwrap();
        assert_eq!(api.ws_url("T"), "wss://shop.example/ws?token=T");
    }

    #[test]
    fn bad_targets_are_refused_with_a_reason() {
        for bad in ["127.0.0.1:8080", "ftp://x/", "not a url"] {
            let err = Api::new(bad, Duration::from_secs(1), 1).err().unwrap();
            assert!(err.to_string().starts_with("bad target URL"), "{err}");
        }
    }
}
