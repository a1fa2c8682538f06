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

/// Creates (or empties) a file that only its owner may read or write: it will hold secrets or TLP:AMBER data.
/// An existing file keeps its inode, so its mode is set again too: `mode` applies only to a new one.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(file)
}

/// A URL's user name and password (`https://user:password@host/`), taken out of it: the URL without them,
/// and what they were, percent-decoded. `None` when the URL has none or is not a URL.
pub fn split_url_credentials(url: &str) -> Option<(String, String, Option<String>)> {
    let mut parsed = reqwest::Url::parse(url).ok()?;
    if parsed.username().is_empty() && parsed.password().is_none() {
        return None;
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(parsed.username());
    let password = parsed.password().map(decode);
    parsed.set_username("").ok()?;
    parsed.set_password(None).ok()?;
    Some((parsed.into(), user, password))
}

/// Moves a URL's `user:password@` into `user` and `password`, so that the URL can be shown (in answers,
/// logs, errors and metric labels) without them. Refused when credentials are given elsewhere too.
pub fn lift_url_credentials(
    url: &mut String,
    user: &mut Option<String>,
    password: &mut Option<String>,
    token: Option<&str>,
) -> Result<(), String> {
    let Some((bare, url_user, url_password)) = split_url_credentials(url) else {
        return Ok(());
    };
    if user.is_some() || password.is_some() || token.is_some() {
        return Err(format!(
            "{bare} has credentials both in the URL and in user/password/token: give them once"
        ));
    }
    *url = bare;
    *user = Some(url_user);
    *password = url_password;
    Ok(())
}

/// A URL as it may be shown (in answers, logs and metrics): without the user name and password it may hold.
pub fn redacted_url(url: &str) -> String {
    split_url_credentials(url).map_or_else(|| url.to_owned(), |(url, _, _)| url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_taken_out() {
        assert_eq!(
            split_url_credentials("https://al%40ice:p%3Ass@b.example:8443/api/x/?a=1"),
            Some((
                "https://b.example:8443/api/x/?a=1".to_owned(),
                "al@ice".to_owned(),
                Some("p:ss".to_owned())
            ))
        );
        assert_eq!(split_url_credentials("https://b.example/"), None);
        assert_eq!(redacted_url("http://u:pw@h/"), "http://h/");
        assert_eq!(redacted_url("not a url"), "not a url");
    }
}
