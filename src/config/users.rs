//! `[[users]]`: who may authenticate, and who is asking.

use std::collections::HashSet;

use serde::Deserialize;

use super::{ConfigError, Settings};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    pub name: String,
    /// An argon2 PHC string.
    pub password: Option<String>,
    /// SHA-256 digests (hex) of bearer tokens.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// May see the server's operations: `/peers`, and `/metrics` when it is not public.
    #[serde(default)]
    pub admin: bool,
}

/// Who is asking: nobody in particular, a configured user, or the command line on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(String),
    /// Whoever holds the admin token of the data directory (`admin.json`): it may read the store's files
    /// anyway, so it may do everything.
    Operator,
}

impl Settings {
    pub(super) fn validate_users(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (index, user) in self.users.iter().enumerate() {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::at(format!("users[{index}]{key}"), message))
            };
            if user.name.is_empty() || user.name.contains(':') || user.name == "*" {
                return invalid(
                    ".name",
                    format!(
                        "user name {:?} must be non-empty, without ':', and not \"*\"",
                        user.name
                    ),
                );
            }
            if !names.insert(user.name.as_str()) {
                return invalid(".name", format!("user {:?} is configured twice", user.name));
            }
            if user.password.is_none() && user.tokens.is_empty() {
                return invalid(
                    "",
                    format!(
                        "user {:?} has neither a password nor a token, so nobody can ever log in as it; \
                     give it one (`stixgate hash-password`, `stixgate new-token`) or remove it",
                        user.name
                    ),
                );
            }
            if let Some(hash) = &user.password
                && argon2::PasswordHash::new(hash).is_err()
            {
                return invalid(
                    ".password",
                    format!(
                        "the password of user {:?} is not an argon2 hash; make one with `stixgate hash-password`",
                        user.name
                    ),
                );
            }
            if let Some(bad) = user
                .tokens
                .iter()
                .position(|t| t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                // Not repeated: what is there may be the token itself, put there by mistake.
                return invalid(
                    &format!(".tokens[{bad}]"),
                    format!(
                        "token {} of user {:?} is not a SHA-256 in hex (the token's digest, not the token); \
                     `stixgate new-token` prints one",
                        bad + 1,
                        user.name
                    ),
                );
            }
        }
        Ok(())
    }

    /// Whether `principal` may see the server's operations (`/peers`, a private `/metrics`).
    pub fn is_admin(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Anonymous => false,
            Principal::User(name) => self.users.iter().any(|u| u.admin && &u.name == name),
            Principal::Operator => true,
        }
    }
}
