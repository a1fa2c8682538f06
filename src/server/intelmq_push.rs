//! The `[[intelmq.push]]` entries: each posts a collection's new events to an IntelMQ `api` collector
//! (`POST /intelmq/push`) on a schedule, as NDJSON batches of flat events for its JSON parser
//! (`splitlines: true`), with only the keys the receiver accepts.
//!
//! The collector answers 200 to everything and validates nothing, so what goes out is made deliverable here.
//! Each entry keeps the position of the last event it delivered in a note, and moves it only after the
//! collector answered: an event may be sent twice after a failure, never lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use tokio::time::MissedTickBehavior;

use super::intelmq::{FeedFormat, feed_page};
use super::{ApiError, AppState, StartError};
use crate::config::{IntelmqPushSettings, Settings};
use crate::jobs::Jobs;
use crate::secret::redacted_url;
use crate::store::{StoreError, WriteOp};

/// Events per POST.
const BATCH: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error(transparent)]
    Feed(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Makes every entry ready to run. Fails when an entry's field list cannot be read (it was readable when
/// the settings were loaded, but the file may have changed since).
pub fn prepare(settings: &Settings) -> Result<Vec<Push>, StartError> {
    settings
        .intelmq
        .push
        .iter()
        .map(|entry| {
            Push::new(entry, settings).map_err(|error| {
                StartError::Refused(format!(
                    "intelmq.push {:?}: {error}",
                    redacted_url(&entry.url)
                ))
            })
        })
        .collect()
}

/// Adds every entry to `jobs`, each under a lease of its own.
pub fn add(jobs: &mut Jobs, pushes: Vec<Push>, state: &web::Data<AppState>) {
    for push in pushes {
        let (push, state) = (Arc::new(push), state.clone());
        let lease = format!("intelmq-push/{}/{}", push.collection, push.shown_url);
        jobs.add(lease, move || Arc::clone(&push).run_forever(state.clone()));
    }
}

impl Push {
    /// Runs every `interval`, until dropped.
    async fn run_forever(self: Arc<Self>, state: web::Data<AppState>) {
        let mut ticks = tokio::time::interval(Duration::from_secs(self.interval));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            let outcome = self.run(&state).await;
            let seconds = started.elapsed().as_secs_f64();
            // A run with nothing new is the common case; a line for each would bury the others.
            match outcome {
                Ok(0) => {}
                Ok(events) => tracing::info!(
                    job = "intelmq-push",
                    url = self.shown_url,
                    events,
                    seconds,
                    "pushed to IntelMQ"
                ),
                Err(error) => {
                    tracing::warn!(job = "intelmq-push", url = self.shown_url, %error, seconds, "a push to IntelMQ failed; trying again at the next run")
                }
            }
        }
    }

    fn new(entry: &IntelmqPushSettings, settings: &Settings) -> Result<Self, String> {
        let fields = entry.field_list().map_err(|e| e.to_string())?;
        let name = entry.collection(&settings.intake.collection);
        let collection = settings
            .collection(name)
            .ok_or_else(|| format!("no collection has the id or alias {name:?}"))?
            .id
            .clone();
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

    /// Pushes everything after the cursor, a batch at a time; how many events were pushed.
    async fn run(&self, state: &web::Data<AppState>) -> Result<usize, PushError> {
        let mut cursor = self.cursor(state).await?;
        let mut pushed = 0;
        loop {
            let page = {
                let (state, collection, format) =
                    (state.clone(), self.collection.clone(), self.format.clone());
                web::block(move || feed_page(&state, &collection, cursor, BATCH, &format))
                    .await
                    .map_err(ApiError::from)??
            };
            let Some(last) = page.last else {
                return Ok(pushed);
            };
            if !page.lines.is_empty() {
                let events = page.lines.lines().count();
                let response = self
                    .client
                    .post(&self.url)
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
                key: self.note.clone(),
                value: last.to_string().into_bytes(),
            };
            state.writer.write(vec![op]).await?;
            cursor = Some(last);
        }
    }

    async fn cursor(&self, state: &web::Data<AppState>) -> Result<Option<u64>, PushError> {
        let (store, note) = (state.store.clone(), self.note.clone());
        let stored = web::block(move || store.note(&note))
            .await
            .map_err(ApiError::from)??;
        stored
            .map(|value| {
                let text = String::from_utf8_lossy(&value).into_owned();
                text.parse().map_err(|_| PushError::Cursor(text))
            })
            .transpose()
    }
}
