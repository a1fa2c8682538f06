//! Credentials for the configuration: argon2 password hashes and bearer tokens stored as SHA-256 digests.

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHasher};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> String {
    let salt =
        SaltString::encode_b64(Uuid::new_v4().as_bytes()).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// A fresh random bearer token (256 bits, hex) and the SHA-256 digest (hex) to put in the configuration.
pub fn new_token() -> (String, String) {
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let digest = token_digest(&token);
    (token, digest)
}

/// The SHA-256 digest (hex) of a token, as `users.tokens` lists it.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
