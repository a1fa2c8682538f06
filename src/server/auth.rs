//! Who is asking: HTTP Basic (argon2 password hashes) or a bearer token, else anonymous.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::web;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::{Principal, UserSettings};

/// How long a verified Basic credential is trusted without running argon2 again.
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;

pub struct Authenticator {
    /// User name to argon2 PHC string.
    passwords: HashMap<String, String>,
    /// SHA-256 of a token to whose it is.
    tokens: HashMap<[u8; 32], Principal>,
    /// SHA-256 of a whole `Authorization` value that passed argon2, to its user.
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

impl Authenticator {
    pub fn new(users: &[UserSettings]) -> Self {
        let passwords = users
            .iter()
            .filter_map(|u| Some((u.name.clone(), u.password.clone()?)))
            .collect();
        let tokens = users
            .iter()
            .flat_map(|u| u.tokens.iter().map(move |t| (t, &u.name)))
            .filter_map(|(token, name)| Some((decode_hex(token)?, Principal::User(name.clone()))))
            .collect();
        Self {
            passwords,
            tokens,
            verified: Mutex::default(),
        }
    }

    /// Also accepts the data directory's admin token (its SHA-256, hex) as the [`Principal::Operator`].
    pub fn with_operator_token(mut self, digest: &str) -> Self {
        if let Some(digest) = decode_hex(digest) {
            self.tokens.insert(digest, Principal::Operator);
        }
        self
    }

    /// Whether any credentials would hold: without them, nobody can be asked to authenticate.
    pub fn knows_anyone(&self) -> bool {
        !self.passwords.is_empty() || !self.tokens.is_empty()
    }

    /// The principal of an `Authorization` value, or 401 if it names credentials that do not hold.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(authorization) = authorization else {
            return Ok(Principal::Anonymous);
        };
        let (scheme, credentials) = authorization
            .trim()
            .split_once(' ')
            .unwrap_or((authorization, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            let digest: [u8; 32] = Sha256::digest(credentials.as_bytes()).into();
            // The map lookup compares digests, not tokens: a timing difference says nothing of the token.
            return self
                .tokens
                .get(&digest)
                .cloned()
                .ok_or_else(|| ApiError::Unauthorized("the bearer token is not valid".into()));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            // Not even the scheme is repeated: a value without one is likely a bare token or password.
            return Err(ApiError::Unauthorized(
                "the Authorization header is neither Basic nor Bearer credentials".into(),
            ));
        }
        let key: [u8; 32] = Sha256::digest(authorization.as_bytes()).into();
        if let Some(name) = self.cached(&key) {
            return Ok(Principal::User(name));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Basic credentials are not valid base64".into())
            })?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::Unauthorized("the Basic credentials have no `:`".into()))?;
        let refused = || ApiError::Unauthorized("the user name or password is wrong".into());
        let hash = self.passwords.get(name).cloned().ok_or_else(refused)?;
        let password = password.to_owned();
        // argon2 takes tens of milliseconds on purpose: off the event loop.
        let valid = web::block(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        if !valid {
            return Err(refused());
        }
        self.remember(key, name);
        Ok(Principal::User(name.to_owned()))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        let verified = self.verified.lock().ok()?;
        let (name, at) = verified.get(key)?;
        (at.elapsed() < CACHE_TTL).then(|| name.clone())
    }

    fn remember(&self, key: [u8; 32], name: &str) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= CACHE_MAX {
                verified.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if verified.len() >= CACHE_MAX {
                    verified.clear();
                }
            }
            verified.insert(key, (name.to_owned(), Instant::now()));
        }
    }
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;

    fn users() -> Vec<UserSettings> {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        let token: String = Sha256::digest(b"tok")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        vec![UserSettings {
            name: "alice".into(),
            password: Some(hash),
            tokens: vec![token],
            admin: false,
        }]
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[actix_web::test]
    async fn basic_bearer_and_anonymous() {
        let auth = Authenticator::new(&users());
        let alice = Principal::User("alice".into());
        assert_eq!(auth.authenticate(None).await.unwrap(), Principal::Anonymous);
        assert_eq!(
            auth.authenticate(Some(&basic("alice:s3cret")))
                .await
                .unwrap(),
            alice
        );
        assert_eq!(
            auth.authenticate(Some(&basic("alice:s3cret")))
                .await
                .unwrap(),
            alice,
            "cached"
        );
        assert_eq!(auth.authenticate(Some("Bearer tok")).await.unwrap(), alice);
        assert_eq!(auth.authenticate(Some("Token tok")).await.unwrap(), alice);
        for bad in [
            basic("alice:wrong"),
            basic("bob:s3cret"),
            basic("nocolon"),
            "Bearer nope".into(),
            "Digest x".into(),
            "Basic ***".into(),
        ] {
            assert!(
                matches!(
                    auth.authenticate(Some(&bad)).await,
                    Err(ApiError::Unauthorized(_))
                ),
                "{bad}"
            );
        }
    }
}
