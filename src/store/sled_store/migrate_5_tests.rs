//! A data directory of layout 5 (group records of whole ids and fixed-width fields) is carried over to layout 6
//! when opened, also after a migration that stopped halfway, and serves the same objects and envelopes.

use std::path::Path;

use super::REGROUPING;
use super::tests::{open, open_sled};
use crate::stix::Timestamp;
use crate::store::keys;
use crate::store::sled_store::SledStore;
use crate::store::sled_store::groups::{self, Envelopes, Objects};
use crate::store::sled_store::groups_5::{self, Layout5};
use crate::store::tests::put;
use crate::store::{DuplicatePolicy, NewObject, Store, StoredEnvelope, StoredObject, WriteOp};

/// Writer groups, each adding records to `c1`, `c2` and the envelopes: more records than one batch takes.
const GROUPS: usize = REGROUPING.records / 3 + 10;

/// Writes every group record back in layout 5's form and marks the tree with layout 5, as a layout 5 binary left
/// it.
pub(super) fn back_to_layout_5(db: &sled::Db) {
    let mut batch = sled::Batch::default();
    for tag in [keys::OBJECT_GROUP, keys::ENVELOPE_GROUP] {
        for record in db.scan_prefix([tag]) {
            let (key, value) = record.unwrap();
            let value = if tag == keys::OBJECT_GROUP {
                layout_5::<Objects>(&key, &value)
            } else {
                layout_5::<Envelopes>(&key, &value)
            };
            batch.insert(key, value);
        }
    }
    batch.insert(keys::META_FORMAT, &5u32.to_be_bytes());
    db.apply_batch(batch).unwrap();
    db.flush().unwrap();
}

fn layout_5<K: Layout5>(key: &[u8], value: &[u8]) -> Vec<u8> {
    let first = groups::key_position(key).unwrap();
    let entries: Vec<_> = groups::entries::<K>(first, value)
        .collect::<Result<_, _>>()
        .unwrap();
    groups_5::encode::<K>(first, &entries)
}

/// Ids and version texts of every form: those layout 6 writes short and those it keeps whole.
fn object(group: usize, n: usize) -> NewObject {
    let uuid = format!("{group:08x}-0000-4000-8000-{n:012x}");
    let (id, version_text) = match n {
        0 => (
            format!("indicator--{uuid}"),
            "2023-11-14T22:13:20.123Z".to_owned(),
        ),
        1 => (format!("indicator--{}", uuid.to_uppercase()), String::new()),
        2 => (
            format!("indicator--{group}"),
            "2023-11-14T22:13:20Z".to_owned(),
        ),
        3 => (
            format!("x-{}--{uuid}", "long".repeat(20)),
            "2023-11-14T22:13:20.123456789Z".to_owned(),
        ),
        _ => (
            format!("malware--{uuid}"),
            "2023-11-14T22:13:20.1Z".to_owned(),
        ),
    };
    let version = match version_text.as_str() {
        "" => 0,
        text => Timestamp::parse_stix(text).unwrap().micros(),
    };
    NewObject {
        text: format!(r#"{{"id":"{id}","n":{n}}}"#).into_bytes(),
        id,
        version,
        version_text,
    }
}

fn envelope_id(group: usize, n: usize) -> String {
    match n {
        0 => format!("{group:08x}-0000-4000-8000-{n:012x}"),
        1 => format!("cert-at:intelmq:{group:08x}-0000-4000-8000-{n:012x}"),
        _ => format!("e-{group}-{n}"),
    }
}

/// Writes a store through this layout, then turns it into layout 5; returns what it holds.
fn write_layout_5(dir: &Path) -> (Vec<(String, StoredObject)>, Vec<StoredEnvelope>) {
    let held = {
        let store = open(dir);
        for group in 0..GROUPS {
            let mut ops = Vec::new();
            for n in 0..5 {
                for collection in ["c1", "c2"] {
                    ops.push(WriteOp::PutObject {
                        collection: collection.into(),
                        object: object(group, n),
                    });
                }
            }
            for n in 0..3 {
                ops.push(put(
                    &envelope_id(group, n),
                    "{}",
                    DuplicatePolicy::KeepFirst,
                ));
            }
            store.apply(ops).unwrap();
        }
        store.flush().unwrap();
        held(&store)
    };
    back_to_layout_5(&open_sled(dir));
    held
}

fn held(store: &SledStore) -> (Vec<(String, StoredObject)>, Vec<StoredEnvelope>) {
    let objects = store.all_objects().collect::<Result<_, _>>().unwrap();
    let envelopes = store.envelopes().collect::<Result<_, _>>().unwrap();
    (objects, envelopes)
}

fn assert_carried_over(
    store: &SledStore,
    before: &(Vec<(String, StoredObject)>, Vec<StoredEnvelope>),
) {
    assert_eq!(
        store.tree.get(keys::META_FORMAT).unwrap().unwrap(),
        6u32.to_be_bytes()
    );
    assert!(
        store
            .tree
            .get(keys::META_REGROUPED_THROUGH)
            .unwrap()
            .is_none()
    );
    let now = held(store);
    assert_eq!(now.0.len(), GROUPS * 10);
    assert_eq!(now.1.len(), GROUPS * 3);
    assert_eq!(&now, before);
    for n in 0..5 {
        let written = object(GROUPS - 1, n);
        let found = store
            .object("c2", &written.id, written.version)
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id, found.version_text, found.text),
            (written.id, written.version_text, written.text)
        );
    }
    for n in 0..3 {
        let id = envelope_id(GROUPS - 1, n);
        assert_eq!(store.envelope(&id).unwrap().unwrap().id, id);
    }
}

#[test]
fn a_layout_5_directory_is_carried_over_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_layout_5(dir.path());
    {
        let db = open_sled(dir.path());
        // Layout 6 cannot read the records as they are now.
        let (key, value) = db
            .scan_prefix([keys::OBJECT_GROUP])
            .next()
            .unwrap()
            .unwrap();
        let first = groups::key_position(&key).unwrap();
        assert!(groups::entries::<Objects>(first, &value).any(|entry| entry.is_err()));
    }
    assert_carried_over(&open(dir.path()), &before);
    // And once more, as layout 6.
    assert_carried_over(&open(dir.path()), &before);
}

#[test]
fn a_layout_5_migration_that_stopped_halfway_is_taken_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_layout_5(dir.path());
    {
        let db = open_sled(dir.path());
        let through = REGROUPING.batch(&db, None).unwrap().unwrap();
        db.flush().unwrap();
        assert_eq!(
            db.get(keys::META_REGROUPED_THROUGH).unwrap().unwrap(),
            through
        );
        assert_eq!(
            db.get(keys::META_FORMAT).unwrap().unwrap(),
            5u32.to_be_bytes()
        );
        assert!(db.scan_prefix([keys::ENVELOPE_GROUP]).count() > 0);
    }
    assert_carried_over(&open(dir.path()), &before);
}
