//! The effective configuration, as `stixgate check-config` prints it: every layer merged, secrets redacted.

use std::path::Path;

use toml::Value;

use super::{ConfigError, extracted};
use crate::secret::split_url_credentials;

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets wherever they are: password hashes, peer passwords and tokens, and the
/// digests of users' tokens (a digest is not the token, but it is no one's business either).
pub(super) const SECRET_KEYS: [&str; 3] = ["password", "token", "tokens"];
/// Keys whose values are URLs that may hold a `user:password@`.
const URL_KEYS: [&str; 2] = ["url", "proxy"];

/// The configuration that `file` and the environment make, as TOML, with every secret replaced by
/// [`REDACTED`].
pub fn effective(file: Option<&Path>) -> Result<String, ConfigError> {
    let mut value: Value = extracted(file)?;
    redact(&mut value);
    toml::to_string_pretty(&value)
        .map_err(|e| ConfigError::Invalid(format!("cannot write the configuration as TOML: {e}")))
}

fn redact(value: &mut Value) {
    match value {
        Value::Table(table) => {
            for (key, entry) in table.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) {
                    hide(entry);
                } else if URL_KEYS.contains(&key.as_str())
                    && let Value::String(url) = entry
                {
                    *url = redact_url(url);
                } else {
                    redact(entry);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A URL with its password, if any, replaced: `https://bob:<redacted>@host/`. The user name stays, as the
/// operator wrote it, so that the output says whose credentials the URL carries.
fn redact_url(url: &str) -> String {
    let Some((bare, user, _)) = split_url_credentials(url) else {
        return url.to_owned();
    };
    match bare.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}:{REDACTED}@{rest}"),
        None => bare,
    }
}

/// Replaces a secret, or each secret of a list, keeping how many there are.
fn hide(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(hide),
        other => *other = Value::String(REDACTED.into()),
    }
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn secrets_are_redacted_and_everything_else_is_shown() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                r#"
                [[users]]
                name = "alice"
                password = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                tokens = ["3c6fc7c3a5b1e2d4f60718293a4b5c6d7e8f90112233445566778899aabbccdd"]
                [[peer]]
                url = "https://bob:hunter2@b.example/api/"
                direction = "pull"
                interval = 60
                proxy = "http://p:proxypass@proxy.example:3128"
                [[peer]]
                name = "c"
                url = "https://c.example/api/"
                direction = "push"
                interval = 60
                token = "sekrit-token"
                "#,
            )?;
            jail.set_env("STIXGATE_LISTEN", "127.0.0.1:9999");
            let text = effective(Some(Path::new("c.toml"))).unwrap();
            for secret in [
                "$argon2id",
                "3c6fc7c3",
                "hunter2",
                "proxypass",
                "sekrit-token",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            let value: Value = toml::from_str(&text).unwrap();
            assert_eq!(
                value["listen"].as_str(),
                Some("127.0.0.1:9999"),
                "the environment counts"
            );
            assert_eq!(value["users"][0]["name"].as_str(), Some("alice"));
            assert_eq!(value["users"][0]["tokens"][0].as_str(), Some(REDACTED));
            let pull = &value["peer"][0];
            assert_eq!(
                pull["url"].as_str(),
                Some("https://bob:<redacted>@b.example/api/")
            );
            assert_eq!(
                pull["proxy"].as_str(),
                Some("http://p:<redacted>@proxy.example:3128/")
            );
            assert_eq!(value["peer"][1]["token"].as_str(), Some(REDACTED));
            assert_eq!(
                value["taxii"]["title"].as_str(),
                Some("stixgate"),
                "defaults are shown"
            );
            Ok(())
        });
    }
}
