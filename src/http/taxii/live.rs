//! stixgate's live extension of Get Objects (§5.4): with `x-stixgate-wait=SECONDS`, a request whose page would
//! be empty waits until an object is added to the collection (or the wait ends, or the server stops), then
//! answers the page as usual. Only stixgate clients send the parameter; other clients never see a difference,
//! as TAXII 2.1 servers ignore parameters they do not know. Every Get Objects answer carries [`HEADER`], so
//! that a client learns whether the server offers the wait before it relies on it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::super::error::ApiError;
use crate::quote::{cut, shown};

/// The query parameter: whole seconds, capped at [`LONGEST_WAIT`].
pub const WAIT_PARAMETER: &str = "x-stixgate-wait";
/// The answer header that announces the extension.
pub const HEADER: &str = "X-Stixgate-Live";
/// Shorter than the idle timeouts of common proxies (nginx's `proxy_read_timeout` is 60 s by default, and a
/// client asks for less), long enough that an idle follower costs one request a minute.
pub const LONGEST_WAIT: u64 = 60;

/// The wait a request asks for: `None` without the parameter.
pub fn requested_wait(query: &str) -> Result<Option<Duration>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
        ApiError::BadRequest(format!("bad query parameters: {}", cut(&e.to_string())))
    })?;
    let Some((_, value)) = pairs.iter().find(|(name, _)| name == WAIT_PARAMETER) else {
        return Ok(None);
    };
    let seconds: u64 = value.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "`{WAIT_PARAMETER}` must be a whole number of seconds (at most {LONGEST_WAIT}), not {}",
            shown(value)
        ))
    })?;
    Ok(Some(Duration::from_secs(seconds.min(LONGEST_WAIT))))
}

/// Waits for the next group of added objects, the deadline or the server's stop; true only for added objects
/// (the caller then reads its page again). The server's stop ends it at once, so that a waiting request does not
/// hold up the drain.
pub async fn objects_added(
    added: &mut watch::Receiver<u64>,
    stopping: &mut watch::Receiver<bool>,
    deadline: Instant,
) -> bool {
    tokio::select! {
        changed = added.changed() => changed.is_ok(),
        () = tokio::time::sleep_until(deadline) => false,
        _ = stopping.wait_for(|stopping| *stopping) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_read_capped_and_checked() {
        assert_eq!(requested_wait("limit=5").unwrap(), None);
        assert_eq!(
            requested_wait("limit=5&x-stixgate-wait=7").unwrap(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            requested_wait("x-stixgate-wait=3600").unwrap(),
            Some(Duration::from_secs(LONGEST_WAIT))
        );
        for bad in [
            "x-stixgate-wait=",
            "x-stixgate-wait=-1",
            "x-stixgate-wait=soon",
        ] {
            let error = requested_wait(bad).unwrap_err().to_string();
            assert!(error.contains(WAIT_PARAMETER), "{bad}: {error}");
        }
    }
}
