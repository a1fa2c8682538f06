//! The envelopes made from posted objects (`taxii.envelopes_from_posts = "all"`), made after the POST is
//! acknowledged: a background task reads each collection's objects added after its checkpoint, in batches,
//! makes the envelopes of the foreign indicators and observed-data through the reverse mapping, and writes
//! them together with the new checkpoint. A POST so waits only for its own objects; an envelope it gives
//! appears once the maker has caught up.
//!
//! A crash between a POST and the maker loses nothing: the objects are durable and the checkpoint is not yet
//! past them, so the next start makes their envelopes. Redoing a batch is harmless: an envelope made again has
//! the same bytes, which the store takes as a duplicate.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::mapping::{CARRIER_TYPE, Unmapped, reference_context, unmap};
use crate::store::{
    DuplicatePolicy, Store, StoreError, StoreResult, StoredObject, WriteOp, Writer,
};

/// Objects read per write: enough to amortise the writer's flush, few enough to keep a group short.
const BATCH: usize = 2_000;
/// How long the maker waits for a wake-up before it looks again anyway.
const IDLE: Duration = Duration::from_secs(1);

/// Tests hold the maker back, to kill a server between a POST and its envelopes; release builds ignore it.
const TEST_DELAY_VARIABLE: &str = "ENVELOPE_MAKER_TEST_DELAY_MS";

pub struct EnvelopeMaker {
    store: Arc<dyn Store>,
    writer: Writer,
    collections: Vec<String>,
    policy: DuplicatePolicy,
    wake: Notify,
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
            wake: Notify::new(),
        }
    }

    /// Tells the maker that objects were added; it takes them in at its next batch.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Makes envelopes until the task is aborted.
    pub async fn maintain(self: Arc<Self>) {
        tokio::time::sleep(test_delay()).await;
        loop {
            for collection in &self.collections {
                if let Err(error) = self.catch_up(collection).await {
                    tracing::warn!(%error, %collection, "the envelopes of posted objects are behind");
                }
            }
            let _ = tokio::time::timeout(IDLE, self.wake.notified()).await;
        }
    }

    async fn catch_up(&self, collection: &str) -> StoreResult<()> {
        loop {
            let (store, batch_collection, policy) =
                (Arc::clone(&self.store), collection.to_owned(), self.policy);
            let ops = tokio::task::spawn_blocking(move || {
                batch(store.as_ref(), &batch_collection, policy)
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

fn test_delay() -> Duration {
    if !cfg!(debug_assertions) {
        return Duration::ZERO;
    }
    std::env::var(TEST_DELAY_VARIABLE)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

/// The note holding the `date_added` of the last object the maker has taken in.
fn checkpoint_key(collection: &str) -> String {
    format!("derived/envelopes/{collection}")
}

/// The envelopes of the next batch of objects and the checkpoint after it; `None` when caught up.
fn batch(
    store: &dyn Store,
    collection: &str,
    policy: DuplicatePolicy,
) -> StoreResult<Option<Vec<WriteOp>>> {
    let key = checkpoint_key(collection);
    let checkpoint = match store.note(&key)? {
        Some(value) => Some(
            std::str::from_utf8(&value)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| StoreError::Malformed(format!("the note {key}")))?,
        ),
        None => None,
    };
    let objects: Vec<StoredObject> = store
        .added_after(collection, None, checkpoint)
        .take(BATCH)
        .collect::<StoreResult<_>>()?;
    let Some(last) = objects.last().map(|o| o.date_added) else {
        return Ok(None);
    };
    let context = context_of(store, collection, &objects)?;
    let mut ops = Vec::new();
    for object in &objects {
        // A carrier's envelope is the data itself: it was stored with the carrier.
        if type_of(&object.id) == CARRIER_TYPE {
            continue;
        }
        match unmap(&object.text, &context) {
            Ok(Unmapped::Foreign(envelope)) => ops.push(WriteOp::PutEnvelope {
                envelope,
                collection: collection.to_owned(),
                policy,
                objects: Vec::new(),
            }),
            Ok(Unmapped::Carrier(_) | Unmapped::Skipped) => {}
            Err(error) => {
                tracing::warn!(%error, id = %object.id, %collection, "a stored object gives no envelope");
            }
        }
    }
    ops.push(WriteOp::PutNote {
        key,
        value: last.to_string().into_bytes(),
    });
    Ok(Some(ops))
}

/// The observables that the batch's observed-data may refer to: those in the batch, and those stored before
/// it (a batch can begin in the middle of a POST, after the observables of its observed-data).
fn context_of(
    store: &dyn Store,
    collection: &str,
    objects: &[StoredObject],
) -> StoreResult<Vec<Value>> {
    let mut context = reference_context(objects.iter().map(|o| o.text.as_slice()));
    let observed = objects.iter().filter(|o| type_of(&o.id) == "observed-data");
    let mut wanted: Vec<String> = observed
        .filter_map(|o| serde_json::from_slice::<Value>(&o.text).ok())
        .flat_map(|o| strings(&o["object_refs"]))
        .collect();
    // Twice: the observed-data's references, then the addresses of the network-traffic among them.
    for _ in 0..2 {
        let present: HashSet<&str> = context.iter().filter_map(|o| o["id"].as_str()).collect();
        let mut found = Vec::new();
        for id in wanted.iter().filter(|id| !present.contains(id.as_str())) {
            if let Some(newest) = store.object_versions(collection, id)?.pop() {
                found.push(newest.text);
            }
        }
        let added = reference_context(found.iter().map(Vec::as_slice));
        wanted = context
            .iter()
            .chain(&added)
            .filter(|o| o["type"] == "network-traffic")
            .flat_map(|t| [&t["src_ref"], &t["dst_ref"]])
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        context.extend(added);
    }
    Ok(context)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn type_of(id: &str) -> &str {
    id.split_once("--").map_or(id, |(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewObject, SledStore, WriteOutcome};

    const COLLECTION: &str = "c";

    fn put(store: &dyn Store, texts: &[Value]) {
        let ops = texts
            .iter()
            .map(|text| WriteOp::PutObject {
                collection: COLLECTION.into(),
                object: NewObject::from_text(serde_json::to_vec(text).unwrap()).unwrap(),
            })
            .collect();
        store.apply(ops).unwrap();
    }

    fn indicator(n: u32) -> Value {
        serde_json::json!({"type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2024-02-03T04:05:06.000Z", "modified": "2024-02-03T04:05:06.000Z",
            "pattern_type": "stix", "pattern": format!("[domain-name:value = 'h{n}.example']")})
    }

    /// Applies the next batch, and gives the outcomes of its envelopes (the last op is the checkpoint).
    fn make(store: &dyn Store) -> Vec<WriteOutcome> {
        let ops = batch(store, COLLECTION, DuplicatePolicy::NewVersion)
            .unwrap()
            .expect("a batch");
        let mut outcomes = store.apply(ops).unwrap();
        outcomes.pop();
        outcomes
    }

    #[test]
    fn a_batch_made_again_changes_nothing() {
        let data = tempfile::tempdir().unwrap();
        let store = SledStore::open(data.path()).unwrap();
        put(&store, &(0..5).map(indicator).collect::<Vec<_>>());
        assert!(
            make(&store)
                .iter()
                .all(|o| matches!(o, WriteOutcome::Stored { .. }))
        );
        assert!(
            batch(&store, COLLECTION, DuplicatePolicy::NewVersion)
                .unwrap()
                .is_none()
        );
        // As after a crash between the envelopes' write and the checkpoint's: the checkpoint before the batch.
        store
            .apply(vec![WriteOp::PutNote {
                key: checkpoint_key(COLLECTION),
                value: b"0".to_vec(),
            }])
            .unwrap();
        assert_eq!(make(&store), vec![WriteOutcome::Duplicate; 5]);
        assert_eq!(store.collection_summary(COLLECTION).unwrap().envelopes, 5);
    }

    #[test]
    fn observed_data_finds_observables_stored_before_its_batch() {
        let data = tempfile::tempdir().unwrap();
        let store = SledStore::open(data.path()).unwrap();
        let address = "ipv4-addr--10000000-0000-4000-8000-000000000001";
        put(
            &store,
            &[
                serde_json::json!({"type": "ipv4-addr", "spec_version": "2.1", "id": address, "value": "203.0.113.9"}),
            ],
        );
        assert!(make(&store).is_empty());
        let observed = "observed-data--20000000-0000-4000-8000-000000000002";
        put(
            &store,
            &[
                serde_json::json!({"type": "observed-data", "spec_version": "2.1", "id": observed,
                "created": "2024-02-03T04:05:06.000Z", "modified": "2024-02-03T04:05:06.000Z",
                "first_observed": "2024-02-03T04:05:06Z", "last_observed": "2024-02-03T04:05:06Z",
                "number_observed": 1, "object_refs": [address]}),
            ],
        );
        make(&store);
        let made = store.envelope(observed).unwrap().expect("its envelope");
        let made: Value = serde_json::from_slice(&made.text).unwrap();
        assert_eq!(made["payload"]["source.ip"], "203.0.113.9");
    }
}
