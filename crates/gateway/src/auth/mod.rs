//! Credentials: password hashes (Argon2id, computed off the async threads),
//! access tokens ([`jwt`]), refresh tokens (rotated families, stored as
//! SHA-256 hashes) and the extractors that say who a request is from.

pub mod extractor;
pub mod jwt;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use liveshop_protocol::{Secret, TokenReply, UserId};
use liveshop_store::{RefreshFamily, Rotation, UserRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::context::ApiContext;
use crate::error::{Error, Result};
use crate::util::{hex, now_ms, random_hex};
use jwt::{Claims, Identity};

/// Shortest and longest password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// Shortest and longest username, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;

/// Checks the username rules and returns the stored form (lowercased).
pub fn normalize_username(name: &str) -> Result<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !USERNAME_CHARS.contains(&name.chars().count()) || !ok_chars {
        return Err(Error::BadRequest(
            "username must be 3 to 32 characters of letters, digits, '_', '.' or '-'".into(),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

pub fn check_password(password: &Secret) -> Result<()> {
    if !PASSWORD_CHARS.contains(&password.expose().chars().count()) {
        return Err(Error::BadRequest(
            "password must be 8 to 128 characters".into(),
        ));
    }
    Ok(())
}

/// Runs `work` (Argon2, deliberately slow) on the blocking pool, at most
/// `max_concurrent_hashes` at once, so hashing never stalls the runtime.
async fn on_hash_pool<T: Send + 'static>(
    ctx: &ApiContext,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    // The permit moves into the blocking job: a cancelled request (client
    // gone) must not free it while the hash still runs.
    let permit = ctx
        .hash_permits()
        .clone()
        .acquire_owned()
        .await
        .map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(Error::internal)?
}

/// An Argon2id PHC string for `password`.
pub async fn hash_password(ctx: &ApiContext, password: Secret) -> Result<String> {
    let argon2 = ctx.argon2().clone();
    on_hash_pool(ctx, move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
        argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(Error::internal)
    })
    .await
}

/// Whether `password` matches the PHC string `hash` (verified at the cost
/// stored in it). A hash that cannot be parsed is an internal error, not a
/// mismatch.
pub async fn verify_password(ctx: &ApiContext, password: Secret, hash: String) -> Result<bool> {
    on_hash_pool(ctx, move || {
        let parsed = PasswordHash::new(&hash).map_err(Error::internal)?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

/// A PHC string that matches no password anyone types: login verifies
/// against it when the user does not exist, so both failures cost the same.
pub async fn dummy_hash(ctx: &ApiContext) -> Result<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash_password(ctx, Secret::new(random_hex(16))))
        .await
        .cloned()
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Splits `<family>.<secret>`.
fn family_of(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    (!family.is_empty() && !secret.is_empty()).then_some(family)
}

fn identity_of(user: &UserRecord) -> Identity {
    Identity {
        user_id: user.user_id.clone(),
        role: user.role,
        name: user.username.clone(),
    }
}

/// A signed access token for `identity`.
pub fn access_token(ctx: &ApiContext, identity: &Identity) -> Result<Secret> {
    let ttl = ctx.config().access_ttl.as_secs();
    let claims = Claims::new(identity, now_ms() / 1000, ttl);
    ctx.jwt()
        .sign(&claims)
        .map(Secret::new)
        .map_err(Error::internal)
}

fn token_reply(ctx: &ApiContext, user_id: UserId, access: Secret, refresh: String) -> TokenReply {
    TokenReply {
        user_id,
        access_token: access,
        refresh_token: Secret::new(refresh),
        expires_in: ctx.config().access_ttl.as_secs(),
    }
}

/// Tokens for a fresh login: an access token and a new refresh family.
pub async fn issue_tokens(ctx: &ApiContext, user: &UserRecord) -> Result<TokenReply> {
    let access = access_token(ctx, &identity_of(user))?;
    let family = random_hex(16);
    let refresh = format!("{family}.{}", random_hex(32));
    let record = RefreshFamily {
        family,
        user_id: user.user_id.clone(),
        current_hash: token_hash(&refresh),
        expires_ms: now_ms().saturating_add(ctx.config().refresh_ttl.as_millis() as u64),
        revoked: false,
    };
    ctx.store().create_family(&record).await?;
    Ok(token_reply(ctx, user.user_id.clone(), access, refresh))
}

/// Whether the cache knows `family` as revoked. The store is the truth and
/// revocation never ends, so a `true` here is final; a cache that does not
/// answer counts as `false` and the store decides (fail-open to the store,
/// which costs one store round trip, not safety).
async fn known_revoked(ctx: &ApiContext, family: &str) -> bool {
    let call = ctx.cache().is_family_revoked(family);
    ctx.hot()
        .call("is_family_revoked", call)
        .await
        .unwrap_or(false)
}

/// Tells the cache that the store revoked `family`, for the family's
/// longest remaining lifetime (every rotation renews it to `refresh_ttl`).
async fn remember_revoked(ctx: &ApiContext, family: &str) {
    let ttl = ctx.config().refresh_ttl.as_millis() as u64;
    let call = ctx.cache().revoke_family(family, ttl);
    ctx.hot().call("revoke_family", call).await;
}

/// Rotates `presented`: a new refresh token of the same family and a new
/// access token. An old token of the family revokes it (in the store, then
/// in the cache, which the next refresh of the family on any node reads
/// first).
pub async fn refresh_tokens(ctx: &ApiContext, presented: &Secret) -> Result<TokenReply> {
    const INVALID: &str = "invalid or expired refresh token";
    let presented = presented.expose();
    let family = family_of(presented).ok_or(Error::Unauthorized(INVALID))?;
    if known_revoked(ctx, family).await {
        return Err(Error::Unauthorized(INVALID));
    }
    let next = format!("{family}.{}", random_hex(32));
    let now = now_ms();
    let expires = now.saturating_add(ctx.config().refresh_ttl.as_millis() as u64);
    let rotated = ctx
        .store()
        .rotate(
            family,
            &token_hash(presented),
            &token_hash(&next),
            expires,
            now,
        )
        .await?;
    let family = match rotated {
        Rotation::Rotated(family) => family,
        Rotation::Reused => {
            tracing::warn!(family, "refresh token reused; family revoked");
            remember_revoked(ctx, family).await;
            return Err(Error::Unauthorized(
                "refresh token reused; every session of this login is revoked",
            ));
        }
        Rotation::Revoked => {
            // Revoked before the cache heard of it (it was down, or its entry
            // expired): tell it now.
            remember_revoked(ctx, family).await;
            return Err(Error::Unauthorized(INVALID));
        }
        Rotation::Unknown => return Err(Error::Unauthorized(INVALID)),
    };
    let user = ctx
        .store()
        .user(&family.user_id)
        .await?
        .ok_or(Error::Unauthorized(INVALID))?;
    let access = access_token(ctx, &identity_of(&user))?;
    Ok(token_reply(ctx, user.user_id, access, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_and_lowercased() {
        assert_eq!(normalize_username("Ann_B.c-1").unwrap(), "ann_b.c-1");
        for bad in ["ab", "a b c", "ann!", "änn", &"x".repeat(33), ""] {
            assert!(normalize_username(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_username(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert!(check_password(&Secret::new("1234567")).is_err());
        assert!(check_password(&Secret::new("12345678")).is_ok());
        assert!(check_password(&Secret::new("é".repeat(128))).is_ok());
        assert!(check_password(&Secret::new("é".repeat(129))).is_err());
    }

    #[test]
    fn refresh_tokens_name_their_family() {
        assert_eq!(family_of("abc.def"), Some("abc"));
        assert_eq!(family_of("abc."), None);
        assert_eq!(family_of(".def"), None);
        assert_eq!(family_of("nodot"), None);
        assert_ne!(token_hash("a.b"), token_hash("a.c"));
        assert_eq!(token_hash("a.b").len(), 64);
    }
}
