//! `push`: a local collection's objects, those added since the last push, to a remote collection.
//!
//! Objects go in POSTs that fit the remote API root's `max_content_length`, in the order they were added, two
//! at a time. Once a POST's status is complete (and those of the POSTs before it), the client reports the
//! objects the remote refused and moves the checkpoint past the batch: a refused object is reported once, not
//! sent forever.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::discover::api_root;
use super::{ClientError, Local, Progress, Remote, RemoteCollection, resolve};
use crate::store::{Store, StoreResult};
use crate::taxii::resources::Status;

/// POSTs sent before the oldest is answered: the next batch is read and sent while the remote stores the one
/// before, so that neither side waits for the other. Their checkpoints are still written in order.
const POSTS_IN_FLIGHT: usize = 2;
/// A POST holds at most this many objects, whatever the remote accepts: a status lists every object.
const MAX_BATCH_OBJECTS: usize = 1000;
/// And at most this many bytes, so that one request never holds the remote for long.
const MAX_BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// `{"objects":[` and `]}`.
const ENVELOPE_OVERHEAD: u64 = 14;
/// How long a status may stay pending.
const STATUS_PATIENCE: Duration = Duration::from_secs(600);
const LONGEST_STATUS_POLL: Duration = Duration::from_secs(10);

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSummary {
    /// Objects sent.
    pub objects: usize,
    /// Objects the remote stored or had already.
    pub succeeded: usize,
    /// Objects left out because of their type.
    pub skipped: usize,
    /// POST requests made.
    pub requests: usize,
    /// Objects that were refused or could not be sent, each with why.
    pub failures: Vec<String>,
}

impl PushSummary {
    pub fn progress_line(&self) -> String {
        format!(
            "{} objects sent in {} requests, {} accepted, {} failures, {} skipped",
            self.objects,
            self.requests,
            self.succeeded,
            self.failures.len(),
            self.skipped
        )
    }

    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The objects of one POST, and how far they take the checkpoint.
#[derive(Default)]
struct Batch {
    texts: Vec<Vec<u8>>,
    /// `date_added` of the last object looked at, sent or not.
    last: Option<u64>,
    skipped: usize,
    too_large: Vec<String>,
}

/// A remote collection ready to take pushes: found and measured once, so that a live peer, which pushes at
/// every wake-up, asks for the discovery and the API root only when it connects again after a failure.
#[derive(Debug, Clone)]
pub struct PushTarget {
    collection: RemoteCollection,
    /// The most bytes one POST may hold.
    limit: u64,
}

impl PushTarget {
    /// The one collection behind `url` that these credentials may write to, and what a POST to it may hold.
    pub async fn find(remote: &Remote, url: &Url) -> Result<Self, ClientError> {
        let collection = writable_collection(remote, url).await?;
        let limit = api_root(remote, &collection.api_root)
            .await?
            .max_content_length
            .min(MAX_BATCH_BYTES);
        Ok(Self { collection, limit })
    }
}

/// Pushes what the local collection `collection` (an id) gained since the last push to `target`. Objects of
/// the types in `skip_types` are not sent.
pub async fn push(
    remote: &Remote,
    local: &Local,
    target: &PushTarget,
    collection: &str,
    skip_types: &[String],
    progress: &dyn Progress,
) -> Result<PushSummary, ClientError> {
    let (limit, target) = (target.limit, &target.collection);
    let key = checkpoint::push_key(collection, target.url.as_str());
    // Where the next batch is read from; the checkpoint lags behind it by the POSTs in flight.
    let mut read_after = checkpoint::read_push(local.store.as_ref(), &key)?;
    let mut summary = PushSummary::default();
    let mut in_flight = FuturesOrdered::new();
    let mut read_all = false;
    loop {
        while !read_all && in_flight.len() < POSTS_IN_FLIGHT {
            let store = Arc::clone(&local.store);
            let (local_collection, skip) = (collection.to_owned(), skip_types.to_vec());
            let batch = tokio::task::spawn_blocking(move || {
                next_batch(store.as_ref(), &local_collection, read_after, limit, &skip)
            })
            .await
            .map_err(|e| {
                ClientError::Options(format!("reading the local collection failed: {e}"))
            })??;
            let Some(last) = batch.last else {
                read_all = true;
                break;
            };
            read_after = Some(last);
            summary.skipped += batch.skipped;
            summary.failures.extend(batch.too_large);
            let texts = batch.texts;
            in_flight.push_back(async move {
                let status = if texts.is_empty() {
                    None
                } else {
                    Some(send(remote, target, &texts).await?)
                };
                Ok::<_, ClientError>((last, texts.len(), status))
            });
        }
        let Some(sent) = in_flight.next().await else {
            break;
        };
        let (last, objects, status) = sent?;
        if let Some(status) = status {
            summary.objects += objects;
            summary.requests += 1;
            tally(status, &mut summary);
        }
        local
            .writer
            .write(vec![checkpoint::push_note(key.clone(), last)])
            .await?;
        progress.update(&summary.progress_line());
    }
    Ok(summary)
}

/// Counts what a status says was stored and refused.
fn tally(status: Status, summary: &mut PushSummary) {
    summary.succeeded += status.success_count as usize;
    let listed = status.failures.unwrap_or_default();
    let unlisted = (status.failure_count as usize).saturating_sub(listed.len());
    summary.failures.extend(listed.into_iter().map(|failure| {
        format!(
            "object {}: {}",
            failure.id,
            failure
                .message
                .as_deref()
                .unwrap_or("refused, without a reason")
        )
    }));
    if unlisted > 0 {
        summary.failures.push(format!(
            "{unlisted} objects were refused; the server did not say which"
        ));
    }
}

async fn writable_collection(remote: &Remote, url: &Url) -> Result<RemoteCollection, ClientError> {
    let mut writable: Vec<RemoteCollection> = resolve(remote, url)
        .await?
        .into_iter()
        .filter(|c| c.resource.can_write)
        .collect();
    match writable.len() {
        1 => Ok(writable.remove(0)),
        0 => Err(ClientError::NoCollection(format!(
            "{url} offers no collection these credentials may write to"
        ))),
        _ => Err(ClientError::NoCollection(format!(
            "{url} offers several collections to write to; name one by its URL: {}",
            writable
                .iter()
                .map(|c| c.url.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// POSTs one envelope and waits until its status is complete.
async fn send(
    remote: &Remote,
    target: &RemoteCollection,
    texts: &[Vec<u8>],
) -> Result<Status, ClientError> {
    let mut body = Vec::with_capacity(texts.iter().map(|t| t.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b"{\"objects\":[");
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(text);
    }
    body.extend_from_slice(b"]}");
    let mut status: Status = remote.post_json(&target.objects_url(), body).await?;
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    while status.status != "complete" {
        let url = target.status_url(&status.id)?;
        if started.elapsed() > STATUS_PATIENCE {
            return Err(ClientError::StatusTimeout {
                url: url.to_string(),
                status: status.status,
                seconds: STATUS_PATIENCE.as_secs(),
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_STATUS_POLL);
        status = remote.get_json(&url, &[]).await?.1;
    }
    Ok(status)
}

/// The next objects after `after` that fit one POST of at most `limit` bytes.
fn next_batch(
    store: &dyn Store,
    collection: &str,
    after: Option<u64>,
    limit: u64,
    skip_types: &[String],
) -> StoreResult<Batch> {
    let mut batch = Batch::default();
    let mut size = ENVELOPE_OVERHEAD;
    for object in store.added_after(collection, None, after) {
        let object = object?;
        let object_type = object.id.split_once("--").map_or("", |(t, _)| t);
        let length = object.text.len() as u64 + 1;
        if skip_types.iter().any(|t| t == object_type) {
            batch.skipped += 1;
        } else if ENVELOPE_OVERHEAD + length > limit {
            batch.too_large.push(format!(
                "object {} version {:?}: {} bytes, more than the {limit} bytes a request to the remote may hold",
                object.id,
                object.version_text,
                object.text.len()
            ));
        } else if size + length > limit || batch.texts.len() == MAX_BATCH_OBJECTS {
            break;
        } else {
            size += length;
            batch.texts.push(object.text);
        }
        batch.last = Some(object.date_added);
    }
    Ok(batch)
}
