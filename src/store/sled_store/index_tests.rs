//! The in-memory indexes are built again from the records when a store is reopened, and ids whose
//! hashes collide are told apart by their records.

use std::path::Path;

use super::SledStore;
use crate::store::tests::{put, put_in};
use crate::store::{DuplicatePolicy, NewObject, Store, StoreError, WriteOp, WriteOutcome};

const STORED: WriteOutcome = WriteOutcome::Stored { version: 0 };

fn open(dir: &Path, colliding: bool) -> SledStore {
    for _ in 0..100 {
        let opened = if colliding {
            SledStore::open_colliding(dir)
        } else {
            SledStore::open(dir)
        };
        match opened {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(50)),
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

fn object(collection: &str, id: &str, version: i64, text: &str) -> WriteOp {
    WriteOp::PutObject {
        collection: collection.into(),
        object: NewObject {
            id: id.into(),
            version,
            version_text: format!("v{version}"),
            text: text.as_bytes().to_vec(),
        },
    }
}

fn delete(id: &str, version: i64) -> WriteOp {
    WriteOp::DeleteObject {
        collection: "c1".into(),
        id: id.into(),
        version,
    }
}

fn versions(store: &SledStore, id: &str) -> Vec<i64> {
    let versions = store.object_versions("c1", id).unwrap();
    versions.into_iter().map(|o| o.version).collect()
}

fn ids_of_type(store: &SledStore, object_type: &str) -> Vec<String> {
    let objects = store.added_after("c1", Some(object_type), None);
    objects.map(|o| o.unwrap().id).collect()
}

/// Versions, deletes, types and envelope versions written before a reopen, then read and written after it.
fn versions_deletes_and_duplicates_survive_a_reopen(colliding: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (keep, new_version) = (DuplicatePolicy::KeepFirst, DuplicatePolicy::NewVersion);
    {
        let store = open(dir.path(), colliding);
        let outcomes = store
            .apply(vec![
                put("a", r#"{"n1":1}"#, keep),
                put("b", r#"{"n1":1}"#, keep),
                put_in("c2", "a", r#"{"n1":9}"#, keep),
                object("c1", "indicator--x", 1, r#"{"v":1}"#),
                object("c1", "indicator--x", 2, r#"{"v":2}"#),
                object("c1", "indicator--x", 3, r#"{"v":3}"#),
                object("c1", "malware--y", 1, r#"{"m":1}"#),
                object("c2", "indicator--x", 1, r#"{"other collection":1}"#),
            ])
            .unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, WriteOutcome::Stored { .. }))
        );
        let outcomes = store
            .apply(vec![
                delete("indicator--x", 2),
                put("a", r#"{"n1":2}"#, new_version),
            ])
            .unwrap();
        assert_eq!(
            outcomes,
            [WriteOutcome::Removed, WriteOutcome::Stored { version: 1 }]
        );
        store.flush().unwrap();
    }

    let store = open(dir.path(), colliding);
    assert_eq!(versions(&store, "indicator--x"), [1, 3]);
    assert_eq!(versions(&store, "malware--y"), [1]);
    assert_eq!(versions(&store, "indicator--none"), [] as [i64; 0]);
    assert_eq!(
        store.version_bounds("c1", "indicator--x").unwrap(),
        Some((1, 3))
    );
    assert_eq!(
        store.version_bounds("c1", "malware--y").unwrap(),
        Some((1, 1))
    );
    assert_eq!(store.version_bounds("c1", "malware--none").unwrap(), None);
    assert!(store.object("c1", "indicator--x", 2).unwrap().is_none());
    assert_eq!(
        store.object("c1", "indicator--x", 3).unwrap().unwrap().text,
        br#"{"v":3}"#
    );
    assert_eq!(
        store.object("c2", "indicator--x", 1).unwrap().unwrap().text,
        br#"{"other collection":1}"#
    );
    assert!(store.has_multiple_versions("c1").unwrap());
    assert_eq!(ids_of_type(&store, "malware"), ["malware--y"]);
    assert_eq!(ids_of_type(&store, "indicator"), ["indicator--x"; 2]);
    assert_eq!(ids_of_type(&store, "tool"), [] as [String; 0]);

    let latest = store.envelope("c1", "a").unwrap().unwrap();
    assert_eq!((latest.version, latest.position), (1, 2));
    assert!(latest.text.ends_with(br#"{"n1":2}}"#));
    let first = store.envelope_version("c1", "a", 0).unwrap().unwrap();
    assert_eq!((first.version, first.position), (0, 0));
    assert!(first.text.ends_with(br#"{"n1":1}}"#));
    assert!(store.envelope_version("c1", "a", 2).unwrap().is_none());
    let elsewhere = store.envelope("c2", "a").unwrap().unwrap();
    assert_eq!((elsewhere.version, elsewhere.position), (0, 0));
    assert!(elsewhere.text.ends_with(br#"{"n1":9}}"#));
    assert_eq!(store.envelope("c1", "b").unwrap().unwrap().version, 0);
    assert!(store.envelope("c1", "c").unwrap().is_none());

    let outcomes = store
        .apply(vec![
            object("c1", "indicator--x", 3, r#"{"v":3}"#),
            object("c1", "indicator--x", 3, r#"{"v":"other"}"#),
            object("c1", "indicator--x", 2, r#"{"v":2}"#),
            object("c1", "malware--y", 1, r#"{ "m": 1 }"#),
            object("c1", "tool--z", 1, r#"{"t":1}"#),
            put("a", r#"{"n1":2}"#, keep),
            put("a", r#"{"n1":1}"#, keep),
            put("b", r#"{"n1":1}"#, keep),
            put("c", r#"{"n1":1}"#, keep),
            delete("indicator--x", 1),
            delete("indicator--x", 1),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Duplicate,
            WriteOutcome::Conflict,
            STORED,
            WriteOutcome::Duplicate,
            STORED,
            WriteOutcome::Duplicate,
            WriteOutcome::Conflict,
            WriteOutcome::Duplicate,
            STORED,
            WriteOutcome::Removed,
            WriteOutcome::Absent,
        ]
    );
    assert_eq!(versions(&store, "indicator--x"), [2, 3]);
    assert_eq!(ids_of_type(&store, "tool"), ["tool--z"]);
    assert_eq!(store.envelope("c1", "c").unwrap().unwrap().position, 3);
    assert_eq!(store.envelope("c2", "a").unwrap().unwrap().version, 0);
    assert_eq!(store.collection_summary("c1").unwrap().objects, 4);
}

#[test]
fn the_indexes_are_built_again_on_reopen() {
    versions_deletes_and_duplicates_survive_a_reopen(false);
}

#[test]
fn ids_whose_hashes_collide_are_told_apart_by_their_records() {
    versions_deletes_and_duplicates_survive_a_reopen(true);
}

#[test]
fn a_collection_of_single_versions_needs_no_version_lookups_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), false);
        store
            .apply(vec![
                object("c1", "indicator--a", 1, "{}"),
                object("c1", "indicator--b", 1, "{}"),
                object("c1", "indicator--a", 2, "{}"),
                delete("indicator--a", 1),
            ])
            .unwrap_err();
        store
            .apply(vec![
                object("c1", "indicator--a", 1, "{}"),
                object("c1", "indicator--b", 1, "{}"),
                object("c1", "indicator--a", 2, "{}"),
            ])
            .unwrap();
        assert!(store.has_multiple_versions("c1").unwrap());
        store.apply(vec![delete("indicator--a", 1)]).unwrap();
        assert!(!store.has_multiple_versions("c1").unwrap());
        store.flush().unwrap();
    }
    let store = open(dir.path(), false);
    assert!(!store.has_multiple_versions("c1").unwrap());
    assert_eq!(versions(&store, "indicator--a"), [2]);
    assert_eq!(store.collection_summary("c1").unwrap().objects, 2);
}
