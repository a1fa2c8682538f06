//! A data directory of layout 3 is carried over to layout 4 (and on to 6) when opened, also after a migration that stopped
//! halfway, and reads and writes as before.

use std::path::Path;

use super::{BATCH_KEYS, migrate_batch};
use crate::store::keys;
use crate::store::sled_store::SledStore;
use crate::store::sled_store::records::Counts;
use crate::store::text_log::{DEFAULT_SEGMENT_BYTES, Place, TextLog};
use crate::store::{NewObject, Store, StoreError, WriteOp, WriteOutcome};

/// Objects in the layout 3 directory: more than one batch of keys, so that a migration can stop halfway.
const OBJECTS: u64 = BATCH_KEYS as u64 + 900;
const FIRST_ADDED: u64 = 1_000_000;

fn object_text(collection: &str, n: u64) -> String {
    format!(r#"{{"id":"indicator--{n}","in":"{collection}"}}"#)
}

fn envelope_text(n: u64) -> String {
    format!(r#"{{"meta":{{"uuid":{{"current":"e{n}"}}}},"payload":{{}}}}"#)
}

fn layout_3_object(version: i64, id: &str, version_text: &str, place: Place) -> Vec<u8> {
    let mut value = version.to_be_bytes().to_vec();
    value.extend_from_slice(&(id.len() as u16).to_be_bytes());
    value.extend_from_slice(id.as_bytes());
    value.push(version_text.len() as u8);
    value.extend_from_slice(version_text.as_bytes());
    place.encode(&mut value);
    value
}

fn layout_3_envelope(received: u64, collection: &str, id: &str, place: Place) -> Vec<u8> {
    let mut value = received.to_be_bytes().to_vec();
    value.extend_from_slice(&0u32.to_be_bytes());
    value.extend_from_slice(&(collection.len() as u16).to_be_bytes());
    value.extend_from_slice(collection.as_bytes());
    value.extend_from_slice(&(id.len() as u16).to_be_bytes());
    value.extend_from_slice(id.as_bytes());
    place.encode(&mut value);
    value
}

/// Writes a layout 3 directory as that layout's writer did: in `c1`, object `indicator--{n}` at
/// `FIRST_ADDED + n` and envelope `e{n}` at seq n; every tenth object in `c2` too.
fn write_layout_3(dir: &Path) {
    let log = TextLog::open(&dir.join("texts"), None, &[], DEFAULT_SEGMENT_BYTES).unwrap();
    let mut texts = log.stage();
    let db = sled::open(dir).unwrap();
    let mut batch = sled::Batch::default();
    batch.insert(keys::META_FORMAT, &3u32.to_be_bytes());
    let mut c2 = 0;
    for n in 0..OBJECTS {
        let id = format!("indicator--{n}");
        for collection in ["c1", "c2"] {
            if collection == "c2" && n % 10 != 0 {
                continue;
            }
            c2 += u64::from(collection == "c2");
            let place = texts.push(object_text(collection, n).as_bytes());
            let mut key = vec![keys::LAYOUT_3_ADDED];
            key.extend_from_slice(collection.as_bytes());
            key.push(0);
            key.extend_from_slice(&(FIRST_ADDED + n).to_be_bytes());
            batch.insert(key, layout_3_object(n as i64, &id, "v", place));
        }
        let place = texts.push(envelope_text(n).as_bytes());
        let mut key = vec![keys::LAYOUT_3_ENVELOPE_ORDER];
        key.extend_from_slice(&n.to_be_bytes());
        batch.insert(key, layout_3_envelope(n, "c1", &format!("e{n}"), place));
    }
    let counts = |objects, envelopes| Counts { objects, envelopes }.encode();
    batch.insert(keys::counts("c1"), counts(OBJECTS, OBJECTS));
    batch.insert(keys::counts("c2"), counts(c2, 0));
    batch.insert(keys::META_LOG_END, &texts.end().encode()[..]);
    log.commit(texts).unwrap();
    db.apply_batch(batch).unwrap();
    db.flush().unwrap();
}

pub(super) fn open(dir: &Path) -> SledStore {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(50)),
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

/// The bare sled database, once the previous opener's background threads have let go of its lock.
pub(super) fn open_sled(dir: &Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir) {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

fn assert_carried_over(store: &SledStore) {
    for tag in [keys::LAYOUT_3_ADDED, keys::LAYOUT_3_ENVELOPE_ORDER] {
        assert_eq!(
            store.tree.scan_prefix([tag]).count(),
            0,
            "no layout 3 key is left"
        );
    }
    assert_eq!(
        store.tree.get(keys::META_FORMAT).unwrap().unwrap(),
        6u32.to_be_bytes()
    );
    let objects: Vec<_> = store
        .added_after("c1", None, None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(objects.len() as u64, OBJECTS);
    for (n, object) in (0..).zip(&objects) {
        assert_eq!(object.date_added, FIRST_ADDED + n);
        assert_eq!(object.text, object_text("c1", n).as_bytes());
        assert_eq!(
            (object.version, object.version_text.as_str()),
            (n as i64, "v")
        );
    }
    let c2: Vec<_> = store
        .added_after("c2", None, Some(FIRST_ADDED + 4_000))
        .map(|o| o.unwrap().id)
        .collect();
    let expected: Vec<_> = (4_010..OBJECTS)
        .step_by(10)
        .map(|n| format!("indicator--{n}"))
        .collect();
    assert_eq!(c2, expected);
    let envelopes: Vec<_> = store.envelopes().map(|e| e.unwrap()).collect();
    assert_eq!(envelopes.len() as u64, OBJECTS);
    for (n, envelope) in (0..).zip(&envelopes) {
        assert_eq!((envelope.position, envelope.received), (n, n));
        assert_eq!(envelope.text, envelope_text(n).as_bytes());
    }
    let last = OBJECTS - 1;
    let found = store.envelope(&format!("e{last}")).unwrap().unwrap();
    assert_eq!(found.position, last);
    let object = store
        .object("c2", "indicator--4090", 4090)
        .unwrap()
        .unwrap();
    assert_eq!(object.text, object_text("c2", 4090).as_bytes());
    let summary = store.collection_summary("c1").unwrap();
    assert_eq!(summary.newest_added, Some(FIRST_ADDED + last));
    assert_eq!((summary.objects, summary.envelopes), (OBJECTS, OBJECTS));
}

#[test]
fn a_layout_3_directory_is_carried_over_on_open_and_written_after() {
    let dir = tempfile::tempdir().unwrap();
    write_layout_3(dir.path());
    {
        let store = open(dir.path());
        assert_carried_over(&store);
        let put = |version: i64| WriteOp::PutObject {
            collection: "c1".into(),
            object: NewObject {
                id: "indicator--7".into(),
                version,
                version_text: "v".into(),
                text: object_text("c1", 7).into_bytes(),
            },
        };
        let outcomes = store
            .apply(vec![
                put(7),
                put(8),
                WriteOp::DeleteObject {
                    collection: "c1".into(),
                    id: "indicator--8".into(),
                    version: 8,
                },
            ])
            .unwrap();
        assert_eq!(
            outcomes,
            [
                WriteOutcome::Duplicate,
                WriteOutcome::Stored { version: 0 },
                WriteOutcome::Removed
            ]
        );
        store.flush().unwrap();
    }
    let store = open(dir.path());
    assert!(store.object("c1", "indicator--8", 8).unwrap().is_none());
    assert_eq!(
        store.version_bounds("c1", "indicator--7").unwrap(),
        Some((7, 8))
    );
    assert_eq!(store.collection_summary("c1").unwrap().objects, OBJECTS);
}

#[test]
fn a_migration_that_stopped_halfway_is_taken_up_again() {
    let dir = tempfile::tempdir().unwrap();
    write_layout_3(dir.path());
    {
        let db = open_sled(dir.path());
        assert_eq!(migrate_batch(&db).unwrap(), BATCH_KEYS);
        db.flush().unwrap();
        assert!(db.scan_prefix([keys::LAYOUT_3_ADDED]).count() > 0);
        assert_eq!(
            db.get(keys::META_FORMAT).unwrap().unwrap(),
            3u32.to_be_bytes()
        );
    }
    assert_carried_over(&open(dir.path()));
}
