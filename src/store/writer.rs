//! The single writer: group commit over any [`Store`].
//!
//! Requests queue on a channel. The writer takes whatever has queued up (up to [`MAX_GROUP_OPS`]) and applies it
//! as one atomic group; its second stage (`flusher.rs`) flushes, and only then answers every request of the
//! group. The writer applies the next group while the previous one is flushed, and the groups that wait for a
//! flush share it. Under load, many requests share one fsync; alone, a request pays one.
//!
//! A failed group (a full disk) is answered with its error and leaves the store as it was; the writer pauses a
//! little before the next group while groups keep failing ([`Failures`]), and tries each next group anew, so
//! writes resume by themselves once the cause is gone.
//!
//! A read that must see one consistent state (a backup) runs on the writer's side between two groups, through
//! [`Writer::exclusive`]: writes queue meanwhile and are applied after it.
//!
//! After a group that stored objects is durable, the writer bumps a counter per collection that stored them,
//! which anyone may watch ([`Writer::objects_added`]): a reader waiting for new objects of a collection wakes
//! once per such group instead of polling, and writes to other collections do not wake it.
//!
//! A request that posts objects may hand, with each, the envelope it made of it while checking it
//! ([`Writer::write_posted`]). After the group is durable the writer passes those on, per collection and in the
//! order the objects were stored, to whoever takes them ([`Writer::posted_objects`]: the envelope maker), so
//! that nobody reads the objects back to make them again. It never waits for the taker: when too much is held
//! it drops the group, and the taker finds the gap in the store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Compaction, OthersAdded, Store, StoreError, StoreResult, WriteOp, WriteOutcome};
use flusher::{Applied, Stage};
use posted::{Addition, PostedTaker};

pub use posted::{MadeEnvelope, PostedGroup, PostedGroups, PostedObject};

mod flusher;
mod posted;

/// Enough to amortise a flush, small enough to keep one group's latency low.
const MAX_GROUP_OPS: usize = 20_000;
const QUEUE_DEPTH: usize = 1024;
/// The pause before the next group after one failed, doubled after each further failure up to
/// [`LONGEST_PAUSE`]: a full disk refuses groups quickly, and without a pause the writer would spin on it.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Short enough that writes resume within about a second of the disk having room again.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<StoreResult<Vec<WriteOutcome>>>;

/// Writes that depend on the outcomes of a request's own writes, made durable with them in the same flush
/// (a TAXII status, which reports what was stored).
pub type FollowUp = Box<dyn FnOnce(&[WriteOutcome]) -> Vec<WriteOp> + Send>;

struct Write {
    ops: Vec<WriteOp>,
    /// What the request made of its first `made.len()` ops, which are [`WriteOp::PutObject`]s.
    made: Vec<MadeEnvelope>,
    follow_up: Option<FollowUp>,
    reply: Reply,
}

/// How many groups failed in a row (the flusher counts them as it answers), for the writer's pause before the
/// next group. Nothing else changes after a failure: each group is tried again from the store's state, which a
/// failed group leaves as it was (see `text_log` and `sled_store::write`).
#[derive(Default)]
struct Failures(AtomicU32);

impl Failures {
    fn failed(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(1))
            });
    }

    fn succeeded(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// How long to wait before the next group.
    fn pause(&self) -> Option<Duration> {
        let failed = self.0.load(Ordering::Relaxed);
        (failed > 0).then(|| {
            FIRST_PAUSE
                .saturating_mul(1 << (failed - 1).min(16))
                .min(LONGEST_PAUSE)
        })
    }
}

/// A read run between two groups; see [`Writer::exclusive`].
type Exclusive = Box<dyn FnOnce(&dyn Store) + Send>;

enum Request {
    Write(Write),
    Exclusive(Exclusive),
    Stop(oneshot::Sender<()>),
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::Sender<Request>,
    added: Arc<AddedCounters>,
    posted: Arc<PostedTaker>,
}

/// The counters of [`Writer::objects_added`], one per collection, made when first watched: collections that
/// nobody watches cost nothing.
#[derive(Default)]
struct AddedCounters(Mutex<HashMap<String, watch::Sender<u64>>>);

impl AddedCounters {
    fn watch(&self, collection: &str) -> watch::Receiver<u64> {
        let mut counters = self.0.lock().expect("not poisoned");
        match counters.get(collection) {
            Some(counter) => counter.subscribe(),
            None => {
                let (counter, watcher) = watch::channel(0);
                counters.insert(collection.to_owned(), counter);
                watcher
            }
        }
    }

    fn bump(&self, collections: &HashSet<String>) {
        let counters = self.0.lock().expect("not poisoned");
        for collection in collections {
            if let Some(counter) = counters.get(collection) {
                counter.send_modify(|count| *count += 1);
            }
        }
    }

    /// Drops the counters, which ends every watch.
    fn close(&self) {
        self.0.lock().expect("not poisoned").clear();
    }
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> (Self, JoinHandle<()>) {
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let added = Arc::new(AddedCounters::default());
        let posted = Arc::new(PostedTaker::default());
        let task = tokio::spawn(run(store, queue, Arc::clone(&added), Arc::clone(&posted)));
        (
            Self {
                requests,
                added,
                posted,
            },
            task,
        )
    }

    /// The objects posted with [`Writer::write_posted`], group by group once durable. One taker: a later call
    /// replaces the earlier one.
    pub fn posted_objects(&self) -> PostedGroups {
        self.posted.take()
    }

    /// A counter that changes after every durable group that stored an object in `collection` (an id). A
    /// watcher re-reads what it waits for when it changes; it ends (`changed()` fails) when the writer stops.
    pub fn objects_added(&self, collection: &str) -> watch::Receiver<u64> {
        self.added.watch(collection)
    }

    /// What wakes the watchers of [`Writer::objects_added`] for objects that another process sharing the store
    /// added, to hand to [`Store::follow_others`].
    pub fn others_added(&self) -> OthersAdded {
        let added = Arc::clone(&self.added);
        Arc::new(move |collection: &str| added.bump(&HashSet::from([collection.to_owned()])))
    }

    /// Applies `ops` atomically and returns once they are durable.
    pub async fn write(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.send(ops, Vec::new(), None).await
    }

    /// Like [`Writer::write`], and then the writes `follow_up` makes of the outcomes, durable in the same
    /// flush.
    pub async fn write_then(
        &self,
        ops: Vec<WriteOp>,
        follow_up: impl FnOnce(&[WriteOutcome]) -> Vec<WriteOp> + Send + 'static,
    ) -> StoreResult<Vec<WriteOutcome>> {
        self.send(ops, Vec::new(), Some(Box::new(follow_up))).await
    }

    /// Like [`Writer::write_then`], where the first `made.len()` ops are [`WriteOp::PutObject`]s of posted
    /// objects and `made` what their request made of them: handed on once stored (see
    /// [`Writer::posted_objects`]).
    pub async fn write_posted(
        &self,
        ops: Vec<WriteOp>,
        made: Vec<MadeEnvelope>,
        follow_up: impl FnOnce(&[WriteOutcome]) -> Vec<WriteOp> + Send + 'static,
    ) -> StoreResult<Vec<WriteOutcome>> {
        let made = if self.posted.wanted() {
            made
        } else {
            Vec::new()
        };
        self.send(ops, made, Some(Box::new(follow_up))).await
    }

    async fn send(
        &self,
        ops: Vec<WriteOp>,
        made: Vec<MadeEnvelope>,
        follow_up: Option<FollowUp>,
    ) -> StoreResult<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            ops,
            made,
            follow_up,
            reply,
        };
        self.requests
            .send(Request::Write(write))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `read` after the writes queued before this call and before any queued after it: nothing is written
    /// while it runs, so it sees one consistent state of the store (sled has no snapshot reads). Writes wait
    /// for it, so it should only read (compaction excepted, [`Writer::compact`]).
    pub async fn exclusive<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let exclusive: Exclusive = Box::new(move |store| {
            let _ = reply.send(read(store));
        });
        self.requests
            .send(Request::Exclusive(exclusive))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)
    }

    /// Compacts the store's texts ([`Store::compact`]) between two groups, with every other write waiting.
    pub async fn compact(&self) -> StoreResult<Compaction> {
        self.exclusive(|store| store.compact()).await?
    }

    /// Finishes every request queued before this call, then stops the writer.
    pub async fn stop(&self) {
        let (done, finished) = oneshot::channel();
        if self.requests.send(Request::Stop(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Request>,
    added: Arc<AddedCounters>,
    posted: Arc<PostedTaker>,
) {
    let (to_flusher, stages) = mpsc::channel(flusher::DEPTH);
    let failures = Arc::new(Failures::default());
    let flushing = tokio::spawn(flusher::run(
        Arc::clone(&store),
        stages,
        Arc::clone(&failures),
        Arc::clone(&added),
        Arc::clone(&posted),
    ));
    let mut stopped = None;
    while stopped.is_none() {
        let Some(first) = queue.recv().await else {
            break;
        };
        if let Some(pause) = failures.pause() {
            // What queues meanwhile is tried as one group.
            tokio::time::sleep(pause).await;
        }
        let mut group = Vec::new();
        let mut ops_in_group = 0;
        let mut exclusive = None;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Write(write) => {
                    ops_in_group += write.ops.len();
                    group.push(write);
                }
                Request::Exclusive(read) => {
                    exclusive = Some(read);
                    break;
                }
                Request::Stop(done) => {
                    stopped = Some(done);
                    break;
                }
            }
            if ops_in_group < MAX_GROUP_OPS {
                next = queue.try_recv().ok();
            }
        }
        if !group.is_empty() {
            let applied = apply(&store, group, &posted).await;
            if to_flusher.send(Stage::Applied(applied)).await.is_err() {
                tracing::error!("the writer's flusher stopped");
                break;
            }
        }
        if let Some(read) = exclusive {
            // What the read sees is durable.
            flusher::drain(&to_flusher).await;
            let store = Arc::clone(&store);
            if let Err(panic) = tokio::task::spawn_blocking(move || read(&*store)).await {
                tracing::error!(%panic, "an exclusive read failed");
            }
        }
    }
    drop(to_flusher);
    if let Err(panic) = flushing.await {
        tracing::error!(%panic, "the writer's flusher failed");
    }
    added.close();
    posted.close();
    if let Some(done) = stopped {
        let _ = done.send(());
    }
}

/// Applies a group, with the writes its requests' follow-ups make of the outcomes, for the flusher to make
/// durable and answer (see `flusher`).
async fn apply(store: &Arc<dyn Store>, mut group: Vec<Write>, posted: &PostedTaker) -> Applied {
    let started = Instant::now();
    let sizes: Vec<usize> = group.iter().map(|w| w.ops.len()).collect();
    let mut ops = Vec::new();
    let mut follow_ups = Vec::new();
    let mut replies = Vec::new();
    // The collection each op may add objects to.
    let adds: Vec<Option<String>> = group
        .iter()
        .flat_map(|w| &w.ops)
        .map(|op| match op {
            WriteOp::PutObject { collection, .. }
            | WriteOp::RestoreObject { collection, .. }
            | WriteOp::PutEnvelope { collection, .. } => Some(collection.clone()),
            _ => None,
        })
        .collect();
    // Only while someone takes posted objects: otherwise nothing is handed on.
    let additions: Option<Vec<Addition>> = posted.wanted().then(|| {
        group
            .iter_mut()
            .flat_map(|write| {
                let mut made = std::mem::take(&mut write.made).into_iter();
                write
                    .ops
                    .iter()
                    .map(move |op| Addition::of(op, made.next()))
            })
            .collect()
    });
    for write in group {
        ops.extend(write.ops);
        follow_ups.push(write.follow_up);
        replies.push(write.reply);
    }
    let store = Arc::clone(store);
    let sizes_for_apply = sizes.clone();
    let result = tokio::task::spawn_blocking(move || {
        let count = ops.len();
        let outcomes = store.apply(ops)?;
        let mut more = Vec::new();
        let mut start = 0;
        for (size, follow_up) in sizes_for_apply.iter().zip(follow_ups) {
            if let Some(follow_up) = follow_up {
                more.extend(follow_up(&outcomes[start..start + size]));
            }
            start += size;
        }
        if !more.is_empty() {
            store.apply(more)?;
        }
        tracing::debug!(
            ops = count,
            apply_us = started.elapsed().as_micros() as u64,
            "group applied"
        );
        Ok::<_, StoreError>(outcomes)
    })
    .await
    .unwrap_or_else(|panic| Err(StoreError::Io(panic.to_string().into())));
    Applied {
        result,
        sizes,
        replies,
        adds,
        additions,
        started,
    }
}
