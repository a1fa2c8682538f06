//! Walking a collection's objects page by page (TAXII 2.1 §3.4, §3.7).
//!
//! Pages follow `next`. A server that says `more: true` without a `next` is asked again with `added_after` =
//! the page's `X-TAXII-Date-Added-Last`, copied verbatim: reformatting it could move it.
//!
//! A server that makes no progress ends the walk with an error instead of an endless loop. An `added_after`
//! names a position, so asking for one twice is no progress. A `next` need not: medallion gives the same
//! `next` (a session id) on every page of a walk. So a `next` makes no progress only when it answers the very
//! page it answered before.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use reqwest::Url;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ClientError, Remote};

const DATE_ADDED_LAST: &str = "X-TAXII-Date-Added-Last";
/// stixgate's live extension (see `server::taxii::live`): the query parameter and the header announcing it.
const WAIT_PARAMETER: &str = "x-stixgate-wait";
const LIVE_HEADER: &str = "X-Stixgate-Live";

/// Objects asked for per page when the user names no number. Always sending a `limit` matters: medallion
/// 3.0.0's memory backend answers 500 to a `next` request without one. Servers cap it to their own maximum.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// How a walk asks for its pages.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Objects per page.
    pub limit: usize,
    /// Seconds a stixgate server may hold a request whose page would be empty, until objects arrive (other
    /// servers ignore it); `None` for a walk that ends at once.
    pub wait: Option<u64>,
}

/// One page of objects.
#[derive(Debug)]
pub struct Page {
    pub objects: Vec<Box<RawValue>>,
    /// `X-TAXII-Date-Added-Last`, verbatim: where a later walk can start.
    pub date_added_last: Option<String>,
    /// Whether the server announced the live extension.
    pub live: bool,
}

/// Where the next request starts.
#[derive(Debug)]
enum Position {
    Next(String),
    AddedAfter(Option<String>),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    more: bool,
    next: Option<String>,
    objects: Option<Vec<Box<RawValue>>>,
}

pub struct Pager<'a> {
    remote: &'a Remote,
    url: Url,
    limit: String,
    wait: Option<String>,
    /// The `added_after` the walk began with; `next` requests repeat it, as the spec asks for the same filters.
    start: Option<String>,
    position: Option<Position>,
    /// The `added_after` values asked for.
    asked: HashSet<Option<String>>,
    /// Each `next` asked for, with a digest of the page it answered last.
    next_pages: HashMap<String, u64>,
}

impl<'a> Pager<'a> {
    /// Walks the objects endpoint `url`, from `added_after` if given, asking for pages as `paging` says.
    pub fn new(remote: &'a Remote, url: Url, added_after: Option<String>, paging: Paging) -> Self {
        Self {
            remote,
            url,
            limit: paging.limit.to_string(),
            wait: paging.wait.map(|seconds| seconds.to_string()),
            position: Some(Position::AddedAfter(added_after.clone())),
            start: added_after,
            asked: HashSet::new(),
            next_pages: HashMap::new(),
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ClientError> {
        let Some(position) = self.position.take() else {
            return Ok(None);
        };
        let mut query: Vec<(&str, &str)> = vec![("limit", &self.limit)];
        let added_after = match &position {
            Position::Next(_) => self.start.as_deref(),
            Position::AddedAfter(after) => after.as_deref(),
        };
        if let Some(after) = added_after {
            query.push(("added_after", after));
        }
        if let Position::Next(next) = &position {
            query.push(("next", next));
        }
        if let Some(wait) = &self.wait {
            query.push((WAIT_PARAMETER, wait));
        }
        let (headers, envelope): (_, Envelope) = self.remote.get_json(&self.url, &query).await?;
        let date_added_last = headers
            .get(DATE_ADDED_LAST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let live = headers.contains_key(LIVE_HEADER);
        let objects = envelope.objects.unwrap_or_default();
        match position {
            Position::Next(next) => {
                let digest = digest(&objects);
                if self.next_pages.insert(next, digest) == Some(digest) {
                    return Err(self.no_progress(
                        "it answered a `next` with the same page as the last time".to_owned(),
                    ));
                }
            }
            Position::AddedAfter(after) => {
                self.asked.insert(after);
            }
        }
        if envelope.more {
            let following = self.following(envelope.next, &date_added_last)?;
            if let Position::AddedAfter(after) = &following
                && self.asked.contains(after)
            {
                return Err(self.no_progress(format!(
                    "it answered `more: true` without `next`, and X-TAXII-Date-Added-Last is {}, \
                     where this walk has been already",
                    after.as_deref().unwrap_or("missing")
                )));
            }
            self.position = Some(following);
        }
        Ok(Some(Page {
            objects,
            date_added_last,
            live,
        }))
    }

    fn following(
        &self,
        next: Option<String>,
        date_added_last: &Option<String>,
    ) -> Result<Position, ClientError> {
        match (next.filter(|n| !n.is_empty()), date_added_last) {
            (Some(next), _) => Ok(Position::Next(next)),
            (None, Some(last)) => Ok(Position::AddedAfter(Some(last.clone()))),
            (None, None) => Err(self.no_progress(String::from(
                "it answered `more: true` without `next` and without an X-TAXII-Date-Added-Last \
                 header to continue from",
            ))),
        }
    }

    fn no_progress(&self, reason: String) -> ClientError {
        ClientError::NoProgress {
            url: self.url.to_string(),
            reason,
        }
    }
}

/// Tells pages apart; not a security measure.
fn digest(objects: &[Box<RawValue>]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for object in objects {
        object.get().hash(&mut hasher);
    }
    hasher.finish()
}
