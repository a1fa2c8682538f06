//! The maker's steps on a real store: reading objects back, and taking posted groups in.

use serde_json::Value;

use super::from_store::{batch, checkpoint_key, checkpoint_op};
use super::*;
use crate::mapping::{Unmapped, unmap};
use crate::store::{NewObject, PostedObject, SledStore, StoredObject, WriteOutcome};

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
    let ops = batch(store, COLLECTION, DuplicatePolicy::NewVersion, None)
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
        batch(&store, COLLECTION, DuplicatePolicy::NewVersion, None)
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
    let made = store
        .envelope(COLLECTION, observed)
        .unwrap()
        .expect("its envelope");
    let made: Value = serde_json::from_slice(&made.text).unwrap();
    assert_eq!(made["payload"]["source.ip"], "203.0.113.9");
}

/// The posted group of these indicators, each with the envelope its POST made.
fn posted(texts: &[Value]) -> PostedGroup {
    let objects = texts
        .iter()
        .map(|text| {
            let object = NewObject::from_text(serde_json::to_vec(text).unwrap()).unwrap();
            let Ok(Unmapped::Foreign(envelope)) = unmap(&object.text, &[]) else {
                panic!("an indicator gives an envelope");
            };
            PostedObject {
                id: object.id,
                version: object.version,
                envelope: MadeEnvelope::Made(envelope),
            }
        })
        .collect();
    PostedGroup {
        collection: COLLECTION.into(),
        objects,
    }
}

fn stored(store: &dyn Store) -> Vec<StoredObject> {
    store
        .added_after(COLLECTION, None, None)
        .collect::<StoreResult<_>>()
        .unwrap()
}

fn plan_of(store: &dyn Store, group: &PostedGroup) -> Plan {
    plan(store, group, None, DuplicatePolicy::NewVersion).unwrap()
}

#[test]
fn a_group_right_after_the_checkpoint_is_taken_up_to_its_last_object() {
    let data = tempfile::tempdir().unwrap();
    let store = SledStore::open(data.path()).unwrap();
    let texts: Vec<Value> = (0..3).map(indicator).collect();
    put(&store, &texts);
    let last = stored(&store).pop().unwrap().date_added;
    let Plan::Take {
        read_first: None,
        through,
        from_store,
    } = plan_of(&store, &posted(&texts))
    else {
        panic!("the group follows the checkpoint");
    };
    assert_eq!(through, last);
    assert!(from_store.is_empty());
}

#[test]
fn objects_stored_by_others_before_a_group_are_read_first_and_a_read_group_is_covered() {
    let data = tempfile::tempdir().unwrap();
    let store = SledStore::open(data.path()).unwrap();
    put(&store, &[indicator(0)]);
    let texts: Vec<Value> = (1..3).map(indicator).collect();
    put(&store, &texts);
    let objects = stored(&store);
    let group = posted(&texts);
    let Plan::Take {
        read_first: Some(read_first),
        through,
        ..
    } = plan_of(&store, &group)
    else {
        panic!("an object comes between the checkpoint and the group");
    };
    assert_eq!(read_first, objects[1].date_added - 1);
    assert_eq!(through, objects[2].date_added);
    // Reading up to there makes the other object's envelope alone.
    let ops = batch(
        &store,
        COLLECTION,
        DuplicatePolicy::NewVersion,
        Some(read_first),
    )
    .unwrap()
    .expect("a batch");
    assert_eq!(ops.len(), 2);
    store.apply(ops).unwrap();
    assert!(matches!(
        plan_of(&store, &group),
        Plan::Take {
            read_first: None,
            ..
        }
    ));
    store
        .apply(vec![checkpoint_op(COLLECTION, through)])
        .unwrap();
    assert!(matches!(plan_of(&store, &group), Plan::Covered));
}

#[test]
fn a_group_the_checkpoint_is_inside_of_is_read_to_its_end() {
    let data = tempfile::tempdir().unwrap();
    let store = SledStore::open(data.path()).unwrap();
    let texts: Vec<Value> = (0..3).map(indicator).collect();
    put(&store, &texts);
    let objects = stored(&store);
    store
        .apply(vec![checkpoint_op(COLLECTION, objects[0].date_added)])
        .unwrap();
    assert!(matches!(
        plan_of(&store, &posted(&texts)),
        Plan::Read(Some(end)) if end == objects[2].date_added
    ));
}
