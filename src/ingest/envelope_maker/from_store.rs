//! The envelopes of objects read back from the store: where no POST made them in memory.

use std::collections::HashSet;

use serde_json::Value;

use super::BATCH;
use crate::mapping::{CARRIER_TYPE, Unmapped, reference_context, unmap};
use crate::store::{DuplicatePolicy, Store, StoreError, StoreResult, StoredObject, WriteOp};

/// The note holding the `date_added` of the last object the maker has taken in.
pub(super) fn checkpoint_key(collection: &str) -> String {
    format!("derived/envelopes/{collection}")
}

pub(super) fn checkpoint_op(collection: &str, through: u64) -> WriteOp {
    WriteOp::PutNote {
        key: checkpoint_key(collection),
        value: through.to_string().into_bytes(),
    }
}

pub(super) fn checkpoint(store: &dyn Store, collection: &str) -> StoreResult<Option<u64>> {
    let key = checkpoint_key(collection);
    let Some(value) = store.note(&key)? else {
        return Ok(None);
    };
    std::str::from_utf8(&value)
        .ok()
        .and_then(|text| text.parse().ok())
        .map(Some)
        .ok_or_else(|| StoreError::Malformed(format!("the note {key}")))
}

/// The envelopes of the next batch of objects after the checkpoint, up to `through` (all when `None`), and
/// the checkpoint after them; `None` when caught up.
pub(super) fn batch(
    store: &dyn Store,
    collection: &str,
    policy: DuplicatePolicy,
    through: Option<u64>,
) -> StoreResult<Option<Vec<WriteOp>>> {
    let mut objects = Vec::new();
    for object in store.added_after(collection, None, checkpoint(store, collection)?) {
        let object = object?;
        if through.is_some_and(|t| object.date_added > t) {
            break;
        }
        objects.push(object);
        if objects.len() == BATCH {
            break;
        }
    }
    let Some(last) = objects.last().map(|o| o.date_added) else {
        return Ok(None);
    };
    let mut ops = envelopes(store, collection, &objects, policy)?;
    ops.push(checkpoint_op(collection, last));
    Ok(Some(ops))
}

/// The envelopes that stored objects give.
pub(super) fn envelopes(
    store: &dyn Store,
    collection: &str,
    objects: &[StoredObject],
    policy: DuplicatePolicy,
) -> StoreResult<Vec<WriteOp>> {
    let context = context_of(store, collection, objects)?;
    let mut ops = Vec::new();
    for object in objects {
        // A carrier's envelope is the data itself: it was stored with the carrier.
        if object.object_type() == CARRIER_TYPE {
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
    Ok(ops)
}

/// The observables that the batch's observed-data may refer to: those in the batch, and those stored before
/// it (a batch can begin in the middle of a POST, after the observables of its observed-data).
fn context_of(
    store: &dyn Store,
    collection: &str,
    objects: &[StoredObject],
) -> StoreResult<Vec<Value>> {
    let mut context = reference_context(objects.iter().map(|o| o.text.as_slice()));
    let observed = objects
        .iter()
        .filter(|o| o.object_type() == "observed-data");
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
