//! When to try a request again: exponential backoff with jitter, or what the server's `Retry-After` asks.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first one.
    pub retries: u32,
    /// The wait after the first failure; it doubles with every failure after that.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
    /// The longest `Retry-After` honoured; a server asking for more is given up on.
    pub longest_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            longest_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `failures + 1`: between half and all of `base * 2^(failures - 1)`, capped. The
    /// random half spreads clients that failed together (a restarted server) so they do not come back together.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self
            .base
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
            .min(self.cap);
        doubled / 2 + doubled.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Whether a status is worth another try: the server is overloaded or failed for now.
pub fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3); `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let policy = RetryPolicy::default();
        for failures in 1..=10 {
            let full = (policy.base * 2u32.pow(failures - 1)).min(policy.cap);
            for _ in 0..50 {
                let wait = policy.backoff(failures);
                assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
            }
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn transient_statuses() {
        assert!(is_transient(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_transient(StatusCode::SERVICE_UNAVAILABLE));
        assert!(is_transient(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!is_transient(StatusCode::NOT_FOUND));
        assert!(!is_transient(StatusCode::UNAUTHORIZED));
    }
}
