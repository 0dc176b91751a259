//! Access tokens: HS256 JWTs with `sub` = user id, `role`, `name` =
//! username, `iat` and `exp`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use liveshop_protocol::{Role, UserId};
use serde::{Deserialize, Serialize};

/// Who a valid access token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub role: Role,
    /// The username, shown as the display name in chat.
    pub name: String,
}

/// The claims of an access token, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub name: String,
    pub iat: u64,
    pub exp: u64,
}

impl Claims {
    /// Claims for `identity`, valid from `now_s` for `ttl_s` seconds.
    pub fn new(identity: &Identity, now_s: u64, ttl_s: u64) -> Claims {
        Claims {
            sub: identity.user_id.to_string(),
            role: identity.role,
            name: identity.name.clone(),
            iat: now_s,
            exp: now_s.saturating_add(ttl_s),
        }
    }
}

/// Why a token was not accepted. Its `Display` is the reply's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("access token expired")]
    Expired,
    #[error("invalid access token")]
    Invalid,
}

/// Signing and verifying keys for one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs `claims`. Any claims may be signed, including expired ones
    /// (tests use that).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Checks the signature, the algorithm and `exp`, and reads the identity.
    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        let user_id = UserId::new(claims.sub).map_err(|_| TokenError::Invalid)?;
        Ok(Identity {
            user_id,
            role: claims.role,
            name: claims.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Identity {
        Identity {
            user_id: UserId::new("01ANN").unwrap(),
            role: Role::Seller,
            name: "ann".into(),
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_signed_token_verifies_to_its_identity() {
        let keys = JwtKeys::new(&[7u8; 32]);
        let token = keys.sign(&Claims::new(&ann(), now(), 900)).unwrap();
        assert_eq!(keys.verify(&token), Ok(ann()));
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let keys = JwtKeys::new(&[7u8; 32]);
        let token = keys.sign(&Claims::new(&ann(), now(), 900)).unwrap();
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(keys.verify(&tampered), Err(TokenError::Invalid));
        let other = JwtKeys::new(&[8u8; 32]);
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        let old = keys.sign(&Claims::new(&ann(), now() - 7200, 900)).unwrap();
        assert_eq!(keys.verify(&old), Err(TokenError::Expired));
        assert_eq!(keys.verify("not.a.jwt"), Err(TokenError::Invalid));
    }
}
