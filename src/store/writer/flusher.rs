//! The writer's second stage: it makes applied groups durable and answers them, while the writer applies the
//! next group (see [`super`]).
//!
//! The writer applies a group (its texts written and fsynced to the text log, then its index batch) and hands
//! it here; the flusher flushes the store, then answers the group. Whatever queued up meanwhile shares one
//! flush. Groups are answered in the order they were applied, and each only after a flush that started after
//! its batch was applied, so an acknowledgement still means that everything it acknowledges is durable; the
//! crash rules of `text_log` hold as before, since a group's texts are durable before its batch is applied,
//! whichever flush then makes the batch durable.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::posted::{self, Addition, PostedTaker};
use super::{AddedCounters, Failures, Reply};
use crate::store::{Store, StoreError, StoreResult, WriteOutcome};

/// Applied groups waiting for their flush at most: beyond, the writer waits before applying more.
pub(super) const DEPTH: usize = 4;

/// Tests hold the flush back, to kill a server while applied groups wait for it; release builds ignore it.
const TEST_DELAY_VARIABLE: &str = "WRITER_TEST_FLUSH_DELAY_MS";

/// A group the writer applied, with what its answer needs.
pub(super) struct Applied {
    /// The outcomes of its ops, or why applying failed.
    pub result: StoreResult<Vec<WriteOutcome>>,
    /// The number of ops of each request, in order.
    pub sizes: Vec<usize>,
    pub replies: Vec<Reply>,
    /// The collection each op may add objects to.
    pub adds: Vec<Option<String>>,
    /// What each op adds, for the taker of posted objects (`None` while nobody takes them).
    pub additions: Option<Vec<Addition>>,
    /// When the writer started applying it.
    pub started: Instant,
}

pub(super) enum Stage {
    Applied(Applied),
    /// Answered once every group handed over before it is answered.
    Drained(oneshot::Sender<()>),
}

/// Waits until every group handed to the flusher before this call is durable and answered.
pub(super) async fn drain(flusher: &mpsc::Sender<Stage>) {
    let (done, drained) = oneshot::channel();
    if flusher.send(Stage::Drained(done)).await.is_ok() {
        let _ = drained.await;
    }
}

/// Flushes and answers the groups handed over until the writer drops its end.
pub(super) async fn run(
    store: Arc<dyn Store>,
    mut stages: mpsc::Receiver<Stage>,
    failures: Arc<Failures>,
    added: Arc<AddedCounters>,
    posted: Arc<PostedTaker>,
) {
    while let Some(first) = stages.recv().await {
        let mut groups = Vec::new();
        let mut drained = Vec::new();
        let mut next = Some(first);
        while let Some(stage) = next.take() {
            match stage {
                Stage::Applied(group) => groups.push(group),
                Stage::Drained(done) => drained.push(done),
            }
            next = stages.try_recv().ok();
        }
        let flushed = if groups.iter().any(|group| group.result.is_ok()) {
            flush(&store).await
        } else {
            Ok(())
        };
        for group in groups {
            answer(group, &flushed, &failures, &added, &posted);
        }
        for done in drained {
            let _ = done.send(());
        }
    }
}

async fn flush(store: &Arc<dyn Store>) -> StoreResult<()> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        hold_back();
        store.flush()
    })
    .await
    .unwrap_or_else(|panic| Err(StoreError::Io(panic.to_string().into())))
}

fn hold_back() {
    if !cfg!(debug_assertions) {
        return;
    }
    if let Some(ms) = std::env::var(TEST_DELAY_VARIABLE)
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Wakes the watchers of the collections a durable group stored objects in, then answers its requests (whoever
/// sees a write acknowledged can count on its watchers having been woken), then hands its posted objects on.
fn answer(
    group: Applied,
    flushed: &StoreResult<()>,
    failures: &Failures,
    added: &AddedCounters,
    posted: &PostedTaker,
) {
    let failed = match (group.result, flushed) {
        (Ok(outcomes), Ok(())) => Ok(outcomes),
        (Err(error), _) => Err(error),
        (Ok(_), Err(error)) => Err(shared(error)),
    };
    let outcomes = match failed {
        Ok(outcomes) => {
            failures.succeeded();
            outcomes
        }
        Err(error) => {
            failures.failed();
            tracing::error!(%error, "a write group failed; nothing of it was acknowledged");
            for reply in group.replies {
                let _ = reply.send(Err(shared(&error)));
            }
            return;
        }
    };
    tracing::debug!(
        ops = outcomes.len(),
        total_us = group.started.elapsed().as_micros() as u64,
        "group committed"
    );
    // An envelope's objects are stored with it, so a stored envelope may have added objects too.
    let stored_in: HashSet<String> = group
        .adds
        .into_iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| matches!(outcome, WriteOutcome::Stored { .. }))
        .filter_map(|(collection, _)| collection)
        .collect();
    added.bump(&stored_in);
    let handed = group
        .additions
        .map(|additions| posted::groups(additions, &outcomes));
    let mut outcomes = outcomes.into_iter();
    for (size, reply) in group.sizes.into_iter().zip(group.replies) {
        let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
    }
    for handed in handed.into_iter().flatten() {
        posted.hand_over(handed);
    }
}

/// The error of a failed group, for each of its requests: a full disk stays one (its answer differs), others
/// keep their message.
fn shared(error: &StoreError) -> StoreError {
    match error {
        StoreError::DiskFull(path) => StoreError::DiskFull(path.clone()),
        other => StoreError::Io(other.to_string().into()),
    }
}
