//! The `[[intelmq.push]]` entries: each posts a collection's new events to an IntelMQ `api` collector
//! (`POST /intelmq/push`) on a schedule, as NDJSON batches of flat events for its JSON parser
//! (`splitlines: true`), with only the keys the receiver accepts.
//!
//! The collector answers 200 to everything and validates nothing, so what goes out is made deliverable here.
//! Each entry keeps the position of the last event it delivered in a note, and moves it only after the
//! collector answered: an event may be sent twice after a failure, never lost.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::time::MissedTickBehavior;

use super::IntelmqPushSettings;
use super::feed::{FeedError, FeedFormat, feed_page};
use crate::jobs::Job;
use crate::secret::redacted_url;
use crate::store::{CollectionNames, Store, StoreError, WriteOp, Writer};

/// Events per POST.
const BATCH: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a blocking task failed: {0}")]
    Blocking(#[from] tokio::task::JoinError),
    /// Without its URL, which may hold credentials; the log line names the redacted URL.
    #[error("the collector did not answer: {0}")]
    Send(reqwest::Error),
    #[error("the collector answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("the stored cursor {0:?} is not a position; delete the note to start over")]
    Cursor(String),
}

/// One entry, ready to run.
pub struct Push {
    url: String,
    /// The URL without credentials, for logs.
    shown_url: String,
    /// Seconds between runs.
    interval: u64,
    collection: String,
    /// The note that keeps the position of the last event delivered.
    note: String,
    format: FeedFormat,
    client: reqwest::Client,
}

/// Makes every entry ready to run, with `collections` to resolve the collection each names (the intake
/// collection when it names none). Fails when an entry's field list cannot be read (it was readable when the
/// settings were loaded, but the file may have changed since); the message names the entry.
pub fn prepare(
    entries: &[IntelmqPushSettings],
    intake_collection: &str,
    collections: &CollectionNames,
) -> Result<Vec<Push>, String> {
    entries
        .iter()
        .map(|entry| {
            Push::new(entry, intake_collection, collections)
                .map_err(|error| format!("intelmq.push {:?}: {error}", redacted_url(&entry.url)))
        })
        .collect()
}

/// One entry, running: where it reads events from and keeps its cursor.
pub struct PushJob {
    pub push: Push,
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    /// Where events left out of the feed are counted (`stixgate_intelmq_events_skipped_total`).
    pub skipped: Arc<AtomicU64>,
}

impl Job for PushJob {
    fn name(&self) -> String {
        format!(
            "intelmq-push/{}/{}",
            self.push.collection, self.push.shown_url
        )
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        self.run_forever().boxed()
    }
}

impl PushJob {
    /// Runs every `interval`, until dropped.
    async fn run_forever(self: Arc<Self>) {
        let push = &self.push;
        let mut ticks = tokio::time::interval(Duration::from_secs(push.interval));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            let outcome = self.run_once().await;
            let seconds = started.elapsed().as_secs_f64();
            // A run with nothing new is the common case; a line for each would bury the others.
            match outcome {
                Ok(0) => {}
                Ok(events) => tracing::info!(
                    job = "intelmq-push",
                    url = push.shown_url,
                    events,
                    seconds,
                    "pushed to IntelMQ"
                ),
                Err(error) => {
                    tracing::warn!(job = "intelmq-push", url = push.shown_url, %error, seconds, "a push to IntelMQ failed; trying again at the next run")
                }
            }
        }
    }

    /// Pushes everything after the cursor, a batch at a time; how many events were pushed.
    async fn run_once(&self) -> Result<usize, PushError> {
        let push = &self.push;
        let mut cursor = self.cursor().await?;
        let mut pushed = 0;
        loop {
            let page = {
                let (store, skipped) = (Arc::clone(&self.store), Arc::clone(&self.skipped));
                let (collection, format) = (push.collection.clone(), push.format.clone());
                tokio::task::spawn_blocking(move || {
                    feed_page(&*store, &skipped, &collection, cursor, BATCH, &format)
                })
                .await??
            };
            let Some(last) = page.last else {
                return Ok(pushed);
            };
            if !page.lines.is_empty() {
                let events = page.lines.lines().count();
                let response = push
                    .client
                    .post(&push.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                    .body(page.lines)
                    .send()
                    .await
                    .map_err(|error| PushError::Send(error.without_url()))?;
                if !response.status().is_success() {
                    return Err(PushError::Refused(response.status()));
                }
                pushed += events;
            }
            let op = WriteOp::PutNote {
                key: push.note.clone(),
                value: last.to_string().into_bytes(),
            };
            self.writer.write(vec![op]).await?;
            cursor = Some(last);
        }
    }

    async fn cursor(&self) -> Result<Option<u64>, PushError> {
        let (store, note) = (Arc::clone(&self.store), self.push.note.clone());
        let stored = tokio::task::spawn_blocking(move || store.note(&note)).await??;
        stored
            .map(|value| {
                let text = String::from_utf8_lossy(&value).into_owned();
                text.parse().map_err(|_| PushError::Cursor(text))
            })
            .transpose()
    }
}

impl Push {
    fn new(
        entry: &IntelmqPushSettings,
        intake_collection: &str,
        collections: &CollectionNames,
    ) -> Result<Self, String> {
        let fields = entry.field_list().map_err(|e| e.to_string())?;
        let name = entry.collection(intake_collection);
        let collection = collections
            .id_of(name)
            .ok_or_else(|| format!("no collection has the id or alias {name:?}"))?
            .to_owned();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            note: format!("intelmq-push/{collection}/{}", entry.url),
            url: entry.url.clone(),
            shown_url: redacted_url(&entry.url),
            interval: entry.interval,
            collection,
            format: FeedFormat {
                fields: Arc::new(fields),
                id_key: None,
                with_type: false,
            },
            client,
        })
    }
}
