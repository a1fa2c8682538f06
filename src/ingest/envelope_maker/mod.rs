//! The envelopes made from posted objects (`taxii.envelopes_from_posts = "all"`), stored after the POST is
//! acknowledged. A background task keeps, per collection, a checkpoint: the `date_added` of the last object it
//! has taken in. It writes envelopes in batches, together with the checkpoint after them.
//!
//! Mostly it takes the envelopes that the POSTs made while checking their objects: the writer hands them on,
//! group by group, once their objects are durable ([`Writer::posted_objects`]). A group is taken in when it
//! follows the checkpoint: the first object after the checkpoint is the group's first (a group's objects are
//! contiguous in a collection's order), and the checkpoint becomes its last object's `date_added`. Whatever
//! memory does not cover, it reads from the store after the checkpoint and makes the envelopes there: at
//! start, when no group came for a while, and where a group does not follow the checkpoint (objects stored
//! by pulls, restores or other nodes, groups dropped while it was behind).
//!
//! A crash between a POST and the maker loses nothing: the objects are durable and the checkpoint is not yet
//! past them, so the next start makes their envelopes from the store. Redoing a batch is harmless: an
//! envelope made again has the same bytes, which the store takes as a duplicate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::envelope::Envelope;
use crate::jobs::Job;
use crate::store::{
    DuplicatePolicy, MadeEnvelope, PostedGroup, Store, StoreError, StoreResult, WriteOp, Writer,
};
use from_store::{batch, checkpoint, checkpoint_op, envelopes};

mod from_store;

/// Envelopes per write: enough to amortise the writer's flush, few enough to keep a group short.
const BATCH: usize = 2_000;
/// How long the maker waits for posted objects before it reads the store for others.
const IDLE: Duration = Duration::from_secs(1);

/// Tests hold the maker back, to kill a server between a POST and its envelopes; release builds ignore it.
const TEST_DELAY_VARIABLE: &str = "ENVELOPE_MAKER_TEST_DELAY_MS";

pub struct EnvelopeMaker {
    store: Arc<dyn Store>,
    writer: Writer,
    collections: Vec<String>,
    policy: DuplicatePolicy,
}

impl EnvelopeMaker {
    pub fn new(
        store: Arc<dyn Store>,
        writer: Writer,
        collections: Vec<String>,
        policy: DuplicatePolicy,
    ) -> Self {
        Self {
            store,
            writer,
            collections,
            policy,
        }
    }

    /// Makes envelopes until the task is aborted or the writer stops. The writer hands posted objects on only
    /// while this runs: a node that does not run it holds none.
    async fn maintain(self: Arc<Self>) {
        let mut posted = self.writer.posted_objects();
        tokio::time::sleep(test_delay()).await;
        loop {
            for collection in &self.collections {
                if let Err(error) = self.catch_up(collection, None).await {
                    tracing::warn!(%error, %collection, "the envelopes of posted objects are behind");
                }
            }
            loop {
                let first = match tokio::time::timeout(IDLE, posted.recv()).await {
                    Ok(Some(group)) => group,
                    Ok(None) => return,
                    Err(_) => break,
                };
                let mut groups = vec![first];
                let mut objects = groups[0].objects.len();
                while objects < BATCH
                    && let Some(group) = posted.try_recv()
                {
                    objects += group.objects.len();
                    groups.push(group);
                }
                if let Err(error) = self.take_in(groups).await {
                    tracing::warn!(%error, "the envelopes of posted objects are behind");
                }
            }
        }
    }

    /// Stores the envelopes of posted groups, in order, reading the store where one does not follow the
    /// checkpoint.
    async fn take_in(&self, groups: Vec<PostedGroup>) -> StoreResult<()> {
        let mut pending = Pending::default();
        for group in groups {
            if !self.collections.contains(&group.collection) {
                continue;
            }
            let known = pending.checkpoints.get(&group.collection).copied();
            let (store, policy) = (Arc::clone(&self.store), self.policy);
            let (group, plan) = tokio::task::spawn_blocking(move || {
                let plan = plan(store.as_ref(), &group, known, policy);
                (group, plan)
            })
            .await
            .map_err(|e| StoreError::Io(Box::new(e)))?;
            match plan? {
                Plan::Covered => {}
                Plan::Read(through) => {
                    self.write(&mut pending).await?;
                    self.catch_up(&group.collection, through).await?;
                }
                Plan::Take {
                    read_first,
                    through,
                    from_store,
                } => {
                    if read_first.is_some() {
                        self.write(&mut pending).await?;
                        self.catch_up(&group.collection, read_first).await?;
                    }
                    for object in group.objects {
                        if let MadeEnvelope::Made(envelope) = object.envelope {
                            pending
                                .envelopes
                                .push(self.put(envelope, &group.collection));
                        }
                    }
                    pending.envelopes.extend(from_store);
                    pending.checkpoints.insert(group.collection, through);
                    if pending.envelopes.len() >= BATCH {
                        self.write(&mut pending).await?;
                    }
                }
            }
        }
        self.write(&mut pending).await
    }

    fn put(&self, envelope: Envelope, collection: &str) -> WriteOp {
        WriteOp::PutEnvelope {
            envelope,
            collection: collection.to_owned(),
            policy: self.policy,
            objects: Vec::new(),
        }
    }

    /// Writes the pending envelopes with the checkpoints they bring their collections to.
    async fn write(&self, pending: &mut Pending) -> StoreResult<()> {
        if pending.checkpoints.is_empty() {
            return Ok(());
        }
        let envelopes = pending.envelopes.len();
        let mut ops = std::mem::take(&mut pending.envelopes);
        for (collection, through) in pending.checkpoints.drain() {
            ops.push(checkpoint_op(&collection, through));
        }
        self.writer.write(ops).await?;
        tracing::debug!(envelopes, "envelopes of posted objects made");
        Ok(())
    }

    /// Makes the envelopes of the collection's objects after its checkpoint, up to `through` (a `date_added`;
    /// all when `None`), from the store.
    async fn catch_up(&self, collection: &str, through: Option<u64>) -> StoreResult<()> {
        loop {
            let (store, batch_collection, policy) =
                (Arc::clone(&self.store), collection.to_owned(), self.policy);
            let ops = tokio::task::spawn_blocking(move || {
                batch(store.as_ref(), &batch_collection, policy, through)
            })
            .await
            .map_err(|e| StoreError::Io(Box::new(e)))??;
            let Some(ops) = ops else {
                return Ok(());
            };
            // The checkpoint is the last op; the rest are envelopes. How far behind it is shows in the log.
            let envelopes = ops.len() - 1;
            self.writer.write(ops).await?;
            tracing::debug!(%collection, envelopes, "envelopes of posted objects made");
        }
    }
}

/// Envelopes taken from posted groups, not yet written, and the checkpoints they bring their collections to.
#[derive(Default)]
struct Pending {
    envelopes: Vec<WriteOp>,
    checkpoints: HashMap<String, u64>,
}

/// What to do with a posted group.
#[derive(Debug)]
enum Plan {
    /// Its objects were taken in already.
    Covered,
    /// Read the store up to this `date_added` (to the end when `None`): that takes the group in too.
    Read(Option<u64>),
    /// Take its envelopes, and those made `from_store`, with the checkpoint `through`, after reading the store
    /// up to `read_first` where objects stored by others come before it.
    Take {
        read_first: Option<u64>,
        through: u64,
        from_store: Vec<WriteOp>,
    },
}

fn test_delay() -> Duration {
    if !cfg!(debug_assertions) {
        return Duration::ZERO;
    }
    std::env::var(TEST_DELAY_VARIABLE)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

/// Where a posted group stands against the checkpoint (`known` when it is not written yet).
fn plan(
    store: &dyn Store,
    group: &PostedGroup,
    known: Option<u64>,
    policy: DuplicatePolicy,
) -> StoreResult<Plan> {
    let collection = &group.collection;
    let checkpoint = match known {
        Some(through) => Some(through),
        None => checkpoint(store, collection)?,
    };
    let (Some(first), Some(last)) = (group.objects.first(), group.objects.last()) else {
        return Ok(Plan::Covered);
    };
    let added = |id: &str, version: i64| -> StoreResult<Option<u64>> {
        Ok(store
            .object(collection, id, version)?
            .map(|object| object.date_added))
    };
    // An object deleted since: the store knows what is left.
    let (Some(first_added), Some(last_added)) = (
        added(&first.id, first.version)?,
        added(&last.id, last.version)?,
    ) else {
        return Ok(Plan::Read(None));
    };
    if checkpoint.is_some_and(|c| last_added <= c) {
        return Ok(Plan::Covered);
    }
    if checkpoint.is_some_and(|c| first_added <= c) {
        return Ok(Plan::Read(Some(last_added)));
    }
    let next = store
        .added_after(collection, None, checkpoint)
        .next()
        .transpose()?;
    let read_first = match next {
        Some(next) if next.id == first.id && next.version == first.version => None,
        Some(_) => Some(first_added - 1),
        None => return Ok(Plan::Read(None)),
    };
    let mut wanted = Vec::new();
    for object in &group.objects {
        if let MadeEnvelope::FromStore = object.envelope
            && let Some(stored) = store.object(collection, &object.id, object.version)?
        {
            wanted.push(stored);
        }
    }
    Ok(Plan::Take {
        read_first,
        through: last_added,
        from_store: envelopes(store, collection, &wanted, policy)?,
    })
}

impl Job for EnvelopeMaker {
    fn name(&self) -> String {
        "envelope-maker".into()
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        self.maintain().boxed()
    }
}

#[cfg(test)]
mod tests;
