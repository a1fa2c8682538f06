//! What the sled engine adds to the store's promises: its layout is versioned, and its texts live in the text
//! log with the crash rules of `text_log`.

use std::io::Write;
use std::path::Path;

use super::SledStore;
use crate::envelope::{Envelope, IntakeRules, Minting, Shape};
use crate::store::{DuplicatePolicy, NewObject, Store, StoreError, WriteOp, WriteOutcome};

fn open(dir: &Path) -> StoreResult {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(50)),
            other => return other,
        }
    }
    panic!("the store stayed locked");
}

type StoreResult = crate::store::StoreResult<SledStore>;

fn put(id: &str) -> WriteOp {
    let text = format!(r#"{{"meta":{{"uuid":{{"current":"{id}"}}}},"payload":{{}}}}"#);
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    };
    WriteOp::PutEnvelope {
        envelope: Envelope::parse(text.as_bytes(), &rules).unwrap(),
        collection: "c1".into(),
        policy: DuplicatePolicy::KeepFirst,
        objects: vec![NewObject {
            id: format!("indicator--{id}"),
            version: 1,
            version_text: "v1".into(),
            text: format!(r#"{{"id":"indicator--{id}"}}"#).into_bytes(),
        }],
    }
}

fn stored(store: &SledStore) -> (Vec<String>, Vec<Vec<u8>>) {
    let envelopes = store.envelopes().map(|e| e.unwrap().id).collect();
    let objects = store
        .added_after("c1", None, None)
        .map(|o| o.unwrap().text)
        .collect();
    (envelopes, objects)
}

#[test]
fn a_data_directory_of_an_earlier_layout_is_refused_with_the_way_to_move_it() {
    let layout_1: &[(&[u8], &[u8])] = &[(b"Eold\0\0\0\0\0", b"an envelope record of layout 1")];
    let layout_2: &[(&[u8], &[u8])] = &[
        (b"Mformat", &2u32.to_be_bytes()),
        (b"Eold\0\0\0\0\0", b"an envelope record of layout 2"),
    ];
    // Layout 6 had one envelope keyspace for every collection (ids unique across collections).
    let layout_6: &[(&[u8], &[u8])] = &[
        (b"Mformat", &6u32.to_be_bytes()),
        (
            b"R\0\0\0\0\0\0\0\0",
            b"an envelope group record of layout 6",
        ),
    ];
    for records in [layout_1, layout_2, layout_6] {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            for (key, value) in records {
                db.insert(key, *value).unwrap();
            }
            db.flush().unwrap();
        }
        let error = open(dir.path()).err().unwrap();
        assert!(matches!(error, StoreError::EarlierLayout(_)), "{error}");
        let message = error.to_string();
        for part in [
            &format!("stixgate backup --data {}", dir.path().display()),
            "with the earlier stixgate",
            "stixgate restore --data NEW-DIRECTORY",
        ] {
            assert!(message.contains(part), "{message}");
        }
    }
}

/// As a binary of layout 6 refuses a directory of layout 7.
#[test]
fn a_data_directory_of_a_later_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"Mformat", &8u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let error = open(dir.path()).err().unwrap();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(
        error.to_string().contains("perhaps of a later stixgate"),
        "{error}"
    );
}

#[test]
fn a_new_store_is_marked_with_its_layout_and_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).unwrap();
    let store = open(dir.path()).unwrap();
    store.apply(vec![put("a")]).unwrap();
    assert_eq!(stored(&store).0, ["a"]);
}

/// A kill after the texts of a group were written, before its index batch was durable: the log holds whole
/// records nothing names, perhaps followed by one cut off mid-write.
#[test]
fn texts_written_before_a_kill_and_never_indexed_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = open(dir.path()).unwrap();
        store.apply(vec![put("a"), put("b")]).unwrap();
        store.flush().unwrap();
        stored(&store)
    };
    let segment = dir.path().join("texts").join("00000000.seg");
    let indexed = std::fs::metadata(&segment).unwrap().len();
    let mut unindexed = Vec::new();
    for text in [&br#"{"id":"indicator--lost"}"#[..], b"lost envelope"] {
        unindexed.extend_from_slice(&(text.len() as u32).to_be_bytes());
        unindexed.extend_from_slice(&crc32fast::hash(text).to_be_bytes());
        unindexed.extend_from_slice(text);
    }
    let whole = unindexed.len() as u64;
    unindexed.extend_from_slice(&[0, 0, 1, 0, 9, 9, 9, 9, b'{']);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    file.write_all(&unindexed).unwrap();
    drop(file);

    let store = open(dir.path()).unwrap();
    assert_eq!(stored(&store), before);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        indexed + whole,
        "only the torn record is cut"
    );
    store.apply(vec![put("c")]).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = open(dir.path()).unwrap();
    let (envelopes, objects) = stored(&store);
    assert_eq!(envelopes, ["a", "b", "c"]);
    assert_eq!(objects.last().unwrap(), br#"{"id":"indicator--c"}"#);
    assert_eq!(
        store.envelope("c1", "c").unwrap().unwrap().text,
        br#"{"meta":{"uuid":{"current":"c"}},"payload":{}}"#
    );
}

/// The in-memory indexes are built again from the records after a reopen.
#[test]
fn ids_stored_before_a_reopen_are_found_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).unwrap();
        store.apply(vec![put("a")]).unwrap();
        store.flush().unwrap();
    }
    let store = open(dir.path()).unwrap();
    let newer = |text: &str| WriteOp::PutObject {
        collection: "c1".into(),
        object: NewObject {
            id: "indicator--a".into(),
            version: 2,
            version_text: "v2".into(),
            text: text.as_bytes().to_vec(),
        },
    };
    let outcomes = store
        .apply(vec![put("a"), newer("{}"), newer(r#"{"other":1}"#)])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Duplicate,
            WriteOutcome::Stored { version: 0 },
            WriteOutcome::Conflict
        ]
    );
    assert_eq!(
        store.version_bounds("c1", "indicator--a").unwrap(),
        Some((1, 2))
    );
    assert!(store.has_multiple_versions("c1").unwrap());
}

/// What sled does when one of its writes finds the disk full (which the engine's reserve, `room.rs`, keeps
/// from happening): it keeps the error and fails every later write and flush of that open database, also once
/// space is freed, and the engine then says that only a restart helps.
#[test]
fn sled_keeps_a_failed_write_until_reopened_and_the_engine_says_so() {
    let tmpfs = crate::store::test_ops::Tmpfs::mount("16m");
    // Never dropped, also when an assertion fails: sled flushes on drop and, after a kept error, waits for a
    // write that never comes (sled 0.34's `make_stable`).
    let store = std::mem::ManuallyDrop::new(open(&tmpfs.path().join("data")).unwrap());
    let filler = tmpfs.fill("filler");
    // Past the engine's reserve check: straight into sled, as a write racing another process for the last bytes.
    let full = (0..10_000u32)
        .find_map(|n| {
            let inserted = store.tree.insert(n.to_be_bytes(), vec![7; 1000]);
            inserted.map_err(|e| store.write_error(e)).err()
        })
        .or_else(|| store.flush().err())
        .expect("sled found the disk full");
    assert!(matches!(full, StoreError::DiskFull(_)), "{full}");
    std::fs::remove_file(filler).unwrap();
    let stopped = store.flush().unwrap_err();
    assert!(
        stopped.to_string().contains("restart stixgate"),
        "{stopped}"
    );
    let refused = store.apply(vec![put("after space was freed")]).unwrap_err();
    assert!(
        refused.to_string().contains("restart stixgate"),
        "{refused}"
    );
}
