//! What can go wrong talking to a remote TAXII server.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A connection option that cannot be used: a missing file, a malformed URL.
    #[error("{0}")]
    Options(String),
    /// The server answered with an error that retrying would not change.
    #[error("{method} {url} answered {status}: {message}")]
    Refused {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// Connection errors, 429 or 5xx, still there after every retry.
    #[error("{method} {url} failed{}: {reason}", tries(*.attempts))]
    Unreachable {
        method: &'static str,
        url: String,
        attempts: u32,
        reason: String,
    },
    /// The server answered 2xx with something that is not the TAXII resource asked for.
    #[error("{url} did not answer with a TAXII resource: {reason}")]
    Invalid { url: String, reason: String },
    /// A page that would lead nowhere new: asking for the next one would ask for one already seen.
    #[error(
        "{url}: the server makes no progress: {reason}; stopping instead of asking for the same page again"
    )]
    NoProgress { url: String, reason: String },
    /// The URL leads to no collection the job can use.
    #[error("{0}")]
    NoCollection(String),
    #[error("a status resource at {url} stayed {status:?} for {seconds} s; giving up waiting")]
    StatusTimeout {
        url: String,
        status: String,
        seconds: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn tries(attempts: u32) -> String {
    match attempts {
        1 => String::new(),
        n => format!(" {n} times; the last time"),
    }
}
