//! `public_url`: the address clients reach this server at, for the answers that carry absolute URLs (TAXII
//! discovery, the operator page), when the request itself cannot say it: behind a proxy that rewrites `Host`
//! and is not in `trusted_proxies`, or under a path prefix.

use std::net::Ipv6Addr;

use serde::Deserialize;

/// An `http` or `https` URL without credentials, query or fragment, kept without its trailing `/`
/// (`https://taxii.example.org`, `https://example.org/stix`), so that a path is appended as `{url}/api/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PublicUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!(
                "public_url {text:?} {why}; it is the address clients reach this server at, such as \
                 \"https://taxii.example.org\""
            )
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("is not a URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(invalid("must start with http:// or https://"));
        }
        if rest.contains(['?', '#']) {
            return Err(invalid("must have no query (?) and no fragment (#)"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(invalid("must hold no user name or password"));
        }
        if !is_host_and_port(authority) {
            return Err(invalid(
                "must name a host, and a port if any, after the scheme",
            ));
        }
        let path = path.trim_end_matches('/');
        if !path.is_empty() && !path[1..].split('/').all(super::is_url_segment) {
            return Err(invalid(
                "may have a path of URL segments of [A-Za-z0-9._~-] only",
            ));
        }
        Ok(Self(format!("{scheme}://{authority}{path}")))
    }
}

/// Longest host name in DNS (253), and room for an IPv6 literal in brackets with a port.
const LONGEST_HOST_AND_PORT: usize = 260;

/// Whether `text` is what a `Host` header may hold: a host name or IPv4 address, or an IPv6 address in
/// brackets, each with an optional port. Anything else is not echoed into an answer.
pub fn is_host_and_port(text: &str) -> bool {
    if text.len() > LONGEST_HOST_AND_PORT {
        return false;
    }
    let (host_is_valid, port) = match text.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, rest)) => (address.parse::<Ipv6Addr>().is_ok(), rest),
            None => return false,
        },
        None => {
            let (host, port) = text.find(':').map_or((text, ""), |at| text.split_at(at));
            (is_host_name(host), port)
        }
    };
    let port_is_valid = match port.strip_prefix(':') {
        Some(digits) => {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok()
        }
        None => port.is_empty(),
    };
    host_is_valid && port_is_valid
}

/// A host name or IPv4 address: labels of letters, digits, `-` and `_` (found in container names), separated
/// by dots.
fn is_host_name(host: &str) -> bool {
    // A name may end in the root's dot: `example.org.`.
    let host = host.strip_suffix('.').unwrap_or(host);
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_url(text: &str) -> Result<String, String> {
        PublicUrl::try_from(text.to_owned()).map(|url| url.as_str().to_owned())
    }

    #[test]
    fn a_public_url_is_kept_without_its_trailing_slash() {
        for (given, kept) in [
            ("https://taxii.example.org", "https://taxii.example.org"),
            ("https://taxii.example.org/", "https://taxii.example.org"),
            ("HTTP://a.example:8443/stix/", "http://a.example:8443/stix"),
            (
                "https://[2001:db8::1]:443/a/b",
                "https://[2001:db8::1]:443/a/b",
            ),
            ("http://192.0.2.1", "http://192.0.2.1"),
        ] {
            assert_eq!(public_url(given).as_deref(), Ok(kept), "{given}");
        }
    }

    #[test]
    fn what_is_no_public_url_is_refused_with_the_reason() {
        for (given, reason) in [
            ("taxii.example.org", "is not a URL"),
            ("ftp://taxii.example.org", "http:// or https://"),
            ("https://taxii.example.org/?a=b", "no query"),
            ("https://taxii.example.org/#top", "no fragment"),
            (
                "https://bob:pw@taxii.example.org",
                "no user name or password",
            ),
            ("https://", "must name a host"),
            ("https://taxii.example.org:99999", "must name a host"),
            ("https://exa mple.org", "must name a host"),
            ("https://taxii.example.org/a b", "a path of URL segments"),
            ("https://taxii.example.org//api", "a path of URL segments"),
        ] {
            let error = public_url(given).unwrap_err();
            assert!(error.contains(reason), "{given}: {error}");
        }
    }

    #[test]
    // figment's `Jail` fixes the closure's error type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    fn public_url_is_checked_when_the_configuration_is_loaded() {
        use super::super::Settings;
        use std::path::Path;
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                Settings::load(None).unwrap().public_url,
                None,
                "unset by default"
            );
            jail.set_env("STIXGATE_PUBLIC_URL", "https://taxii.example.org/");
            let loaded = Settings::load(None).unwrap().public_url;
            assert_eq!(loaded.unwrap().as_str(), "https://taxii.example.org");
            jail.set_env("STIXGATE_PUBLIC_URL", "");
            let error = Settings::load(None).unwrap_err().to_string();
            assert!(
                error.contains("is not a URL"),
                "an empty value is none: {error}"
            );
            jail.clear_env();
            jail.create_file("c.toml", "public_url = \"https://taxii.example.org/?x\"\n")?;
            let error = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("must have no query"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn hosts_and_ports_are_told_from_anything_else() {
        for valid in [
            "localhost",
            "127.0.0.1:8080",
            "taxii.example.org",
            "stixgate_web:80",
            "example.org.:443",
            "[::1]",
            "[2001:db8::1]:8443",
        ] {
            assert!(is_host_and_port(valid), "{valid}");
        }
        let long = format!("{}.example", "a".repeat(300));
        for invalid in [
            "",
            ":8080",
            "example.org:",
            "example.org:80:80",
            "example.org:http",
            "example.org:65536",
            "exa mple.org",
            "evil.example/path",
            "a@b",
            "a..b",
            "example.org..",
            "<script>",
            "[::1",
            "[not-v6]:80",
            "::1",
            long.as_str(),
        ] {
            assert!(!is_host_and_port(invalid), "{invalid}");
        }
    }
}
