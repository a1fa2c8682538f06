use std::sync::Arc;

pub(super) use super::test_ops::{envelope, put_in};
use super::*;

pub(super) fn put(id: &str, body: &str, policy: DuplicatePolicy) -> WriteOp {
    put_in("c1", id, body, policy)
}

fn object(id: &str, version: i64, text: &str) -> WriteOp {
    WriteOp::PutObject {
        collection: "c1".into(),
        object: NewObject {
            id: id.into(),
            version,
            version_text: format!("v{version}"),
            text: text.as_bytes().to_vec(),
        },
    }
}

/// Opens the store, waiting for a lock that a just-dropped handle in this process may still hold: sled's
/// background threads let go of it a little after the last handle (sled #1289).
pub(super) fn open(dir: &tempfile::TempDir) -> SledStore {
    for _ in 0..100 {
        match SledStore::open(dir.path()) {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(50)),
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed locked");
}

/// Where a test's store lives: it opens a store there, again after the previous one was dropped.
pub(super) trait Engine {
    fn open(&self) -> Box<dyn Store>;
}

pub(super) struct Sled(tempfile::TempDir);

impl Engine for Sled {
    fn open(&self) -> Box<dyn Store> {
        Box::new(open(&self.0))
    }
}

/// A fresh database of the test cluster.
pub(super) struct Postgres(String);

impl Engine for Postgres {
    fn open(&self) -> Box<dyn Store> {
        let options = PostgresOptions {
            url: self.0.clone(),
            pool_size: 4,
            sslmode: SslMode::Disable,
            ca: None,
        };
        Box::new(PostgresStore::open(&options).unwrap())
    }
}

pub(super) fn sled() -> Sled {
    Sled(tempfile::tempdir().unwrap())
}

pub(super) fn postgres() -> Postgres {
    Postgres(super::postgres::pg_cluster::Cluster::get().fresh_database())
}

/// Runs each test (a function taking `&dyn Engine`) once on every engine: `sled::NAME` and `postgres::NAME`.
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(#[test]
            fn $name() {
                super::$name(&super::sled());
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::postgres());
            })*
        }
    };
    (async $($name:ident),* $(,)?) => {
        mod sled_async {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(&super::sled()).await;
            })*
        }
        mod postgres_async {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(&super::postgres()).await;
            })*
        }
    };
}
pub(super) use on_every_engine;

on_every_engine!(
    duplicates_and_conflicts_within_one_group_and_across_groups,
    envelopes_survive_reopening_in_the_order_they_were_stored,
    date_added_is_unique_and_increasing_within_a_group_and_after_reopening,
    object_versions_are_kept_and_exact_duplicates_add_nothing,
    deleting_a_version_removes_it_from_every_index,
    notes_are_replaced_and_survive_reopening,
    statuses_are_kept_until_pruned_and_the_cursor_secret_is_stable,
    an_object_sent_again_reformatted_is_a_duplicate_and_its_first_bytes_stay,
    restored_records_keep_their_positions_and_dates_and_later_writes_follow_them,
    a_visit_lends_what_added_after_gives_and_stops_when_told,
);

/// The writer's promises, on every engine.
#[path = "writer_tests.rs"]
mod each_engine_async;

fn duplicates_and_conflicts_within_one_group_and_across_groups(engine: &dyn Engine) {
    let store = engine.open();
    let keep = DuplicatePolicy::KeepFirst;
    let outcomes = store
        .apply(vec![
            put("a", r#"{"n1":1}"#, keep),
            put("a", r#"{"n1":1}"#, keep),
            put("a", r#"{"n1":2}"#, keep),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Stored { version: 0 },
            WriteOutcome::Duplicate,
            WriteOutcome::Conflict
        ]
    );
    let outcomes = store
        .apply(vec![
            put("a", r#"{"n1":2}"#, DuplicatePolicy::NewVersion),
            put("a", r#"{"n1":2}"#, DuplicatePolicy::NewVersion),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [WriteOutcome::Stored { version: 1 }, WriteOutcome::Duplicate]
    );
    let latest = store.envelope("c1", "a").unwrap().unwrap();
    assert_eq!((latest.version, latest.collection.as_str()), (1, "c1"));
    assert!(latest.text.ends_with(br#"{"n1":2}}"#));
    assert_eq!(store.envelopes().count(), 2);
    assert!(store.envelope("c1", "ab").unwrap().is_none());
    assert!(store.envelope("c2", "a").unwrap().is_none());
    let first = store.envelope_version("c1", "a", 0).unwrap().unwrap();
    assert_eq!(first.version, 0);
    assert!(first.text.ends_with(br#"{"n1":1}}"#));
    assert_eq!(store.envelope_version("c1", "a", 1).unwrap(), Some(latest));
    assert!(store.envelope_version("c1", "a", 2).unwrap().is_none());
    assert!(store.envelope_version("c2", "a", 0).unwrap().is_none());
}

fn envelopes_survive_reopening_in_the_order_they_were_stored(engine: &dyn Engine) {
    {
        let store = engine.open();
        for id in ["z", "b", "m"] {
            store
                .apply(vec![put(id, "{}", DuplicatePolicy::KeepFirst)])
                .unwrap();
        }
        store.flush().unwrap();
    }
    let store = engine.open();
    store
        .apply(vec![put("a", "{}", DuplicatePolicy::KeepFirst)])
        .unwrap();
    let ids: Vec<String> = store.envelopes().map(|e| e.unwrap().id).collect();
    assert_eq!(ids, ["z", "b", "m", "a"]);
    let b = store.envelope("c1", "b").unwrap().unwrap();
    let after_b: Vec<String> = store
        .envelopes_after("c1", Some(b.position))
        .map(|e| e.unwrap().id)
        .collect();
    assert_eq!(after_b, ["m", "a"]);
}

fn date_added_is_unique_and_increasing_within_a_group_and_after_reopening(engine: &dyn Engine) {
    {
        let store = engine.open();
        let ops = (0..100)
            .map(|i| object(&format!("indicator--{i}"), 1, "{}"))
            .collect();
        store.apply(ops).unwrap();
        store.flush().unwrap();
    }
    let store = engine.open();
    store.apply(vec![object("indicator--x", 1, "{}")]).unwrap();
    let added: Vec<u64> = store
        .added_after("c1", None, None)
        .map(|o| o.unwrap().date_added)
        .collect();
    assert_eq!(added.len(), 101);
    assert!(!store.has_multiple_versions("c1").unwrap());
    assert_eq!(
        store.version_bounds("c1", "indicator--7").unwrap(),
        Some((1, 1))
    );
    assert!(added.windows(2).all(|w| w[0] < w[1]));
    let after_fifty: Vec<u64> = store
        .added_after("c1", None, Some(added[49]))
        .map(|o| o.unwrap().date_added)
        .collect();
    assert_eq!(after_fifty, added[50..]);
}

fn a_visit_lends_what_added_after_gives_and_stops_when_told(engine: &dyn Engine) {
    let store = engine.open();
    // Two groups, the first larger than a group record holds (`GROUP_ENTRIES`), texts of several lengths.
    for group in [0..700, 700..760] {
        let ops = group
            .map(|i| {
                let kind = if i % 3 == 0 { "malware" } else { "indicator" };
                object(&format!("{kind}--{i}"), i, &"x".repeat(i as usize % 50))
            })
            .collect();
        store.apply(ops).unwrap();
    }
    let all: Vec<StoredObject> = store
        .added_after("c1", None, None)
        .map(Result::unwrap)
        .collect();
    assert_eq!(all.len(), 760);
    let visited = |object_type, after, stop_after| {
        let mut lent = Vec::new();
        let mut visit = |object: ObjectRef<'_>| {
            lent.push(object.to_stored());
            if lent.len() == stop_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        store
            .visit_added_after("c1", object_type, after, 10, &mut visit)
            .unwrap();
        lent
    };
    for object_type in [None, Some("malware"), Some("indicator"), Some("tool")] {
        for after in [
            None,
            Some(all[0].date_added),
            Some(all[600].date_added),
            Some(u64::MAX),
        ] {
            let expected: Vec<StoredObject> = store
                .added_after("c1", object_type, after)
                .map(Result::unwrap)
                .collect();
            assert_eq!(visited(object_type, after, usize::MAX), expected);
            let first_ten = &expected[..expected.len().min(10)];
            assert_eq!(visited(object_type, after, 10), first_ten);
        }
    }
}

fn object_versions_are_kept_and_exact_duplicates_add_nothing(engine: &dyn Engine) {
    let store = engine.open();
    let outcomes = store
        .apply(vec![
            object("indicator--1", 10, "v10"),
            object("indicator--1", 20, "v20"),
            object("indicator--1", 10, "v10"),
            object("indicator--1", 10, "other"),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Stored { version: 0 },
            WriteOutcome::Stored { version: 0 },
            WriteOutcome::Duplicate,
            WriteOutcome::Conflict
        ]
    );
    let versions: Vec<(i64, String, Vec<u8>)> = store
        .object_versions("c1", "indicator--1")
        .unwrap()
        .into_iter()
        .map(|o| (o.version, o.version_text, o.text))
        .collect();
    assert_eq!(
        versions,
        [
            (10, "v10".into(), b"v10".to_vec()),
            (20, "v20".into(), b"v20".to_vec())
        ]
    );
    assert_eq!(
        store.version_bounds("c1", "indicator--1").unwrap(),
        Some((10, 20))
    );
    assert_eq!(store.version_bounds("c1", "indicator--2").unwrap(), None);
    assert!(store.has_multiple_versions("c1").unwrap());
    assert_eq!(store.added_after("c2", None, None).count(), 0);
    let by_type: Vec<(String, Vec<u8>)> = store
        .added_after("c1", Some("indicator"), None)
        .map(|e| e.map(|e| (e.id, e.text)).unwrap())
        .collect();
    assert_eq!(
        by_type,
        [
            ("indicator--1".into(), b"v10".to_vec()),
            ("indicator--1".into(), b"v20".to_vec())
        ]
    );
    assert_eq!(store.added_after("c1", Some("malware"), None).count(), 0);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let error = SledStore::open(dir.path()).err().unwrap();
    assert!(matches!(error, StoreError::Locked(_)), "{error}");
    assert!(error.to_string().contains("in use by another process"));
}

fn deleting_a_version_removes_it_from_every_index(engine: &dyn Engine) {
    let store = engine.open();
    store
        .apply(vec![
            object("indicator--1", 10, "a"),
            object("indicator--1", 20, "b"),
        ])
        .unwrap();
    let outcomes = store
        .apply(vec![
            WriteOp::DeleteObject {
                collection: "c1".into(),
                id: "indicator--1".into(),
                version: 10,
            },
            WriteOp::DeleteObject {
                collection: "c1".into(),
                id: "indicator--1".into(),
                version: 99,
            },
        ])
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Removed, WriteOutcome::Absent]);
    assert!(
        !store.has_multiple_versions("c1").unwrap(),
        "one version is left"
    );
    assert_eq!(
        store.version_bounds("c1", "indicator--1").unwrap(),
        Some((20, 20))
    );
    assert_eq!(store.added_after("c1", None, None).count(), 1);
    assert_eq!(store.added_after("c1", Some("indicator"), None).count(), 1);
    assert!(store.object("c1", "indicator--1", 10).unwrap().is_none());
    assert_eq!(
        store
            .object("c1", "indicator--1", 20)
            .unwrap()
            .unwrap()
            .text,
        b"b"
    );
}

fn notes_are_replaced_and_survive_reopening(engine: &dyn Engine) {
    {
        let store = engine.open();
        for value in [b"1".to_vec(), b"2".to_vec()] {
            store
                .apply(vec![WriteOp::PutNote {
                    key: "checkpoint/x".into(),
                    value,
                }])
                .unwrap();
        }
        store.flush().unwrap();
    }
    let store = engine.open();
    assert_eq!(store.note("checkpoint/x").unwrap().unwrap(), b"2");
    assert!(store.note("checkpoint/y").unwrap().is_none());
}

fn statuses_are_kept_until_pruned_and_the_cursor_secret_is_stable(engine: &dyn Engine) {
    let secret = {
        let store = engine.open();
        store
            .apply(vec![WriteOp::PutStatus {
                id: "s1".into(),
                text: b"{}".to_vec(),
            }])
            .unwrap();
        assert_eq!(store.status("s1").unwrap().unwrap(), b"{}");
        store.cursor_secret().unwrap()
    };
    let store = engine.open();
    assert_eq!(store.cursor_secret().unwrap(), secret);
    store
        .apply(vec![WriteOp::PruneStatuses { before: 0 }])
        .unwrap();
    assert!(store.status("s1").unwrap().is_some());
    store
        .apply(vec![WriteOp::PruneStatuses { before: u64::MAX }])
        .unwrap();
    assert!(store.status("s1").unwrap().is_none());
}

#[test]
fn objects_are_kept_byte_for_byte_with_their_version_as_written() {
    let text = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.1Z",  "x": 1.50}"#;
    let object = NewObject::from_text(text.as_bytes().to_vec()).unwrap();
    assert_eq!(object.text, text.as_bytes());
    assert_eq!(object.version_text, "2020-01-01T00:00:00.1Z");
    let error = NewObject::from_text(br#"{"type":"indicator"}"#.to_vec()).unwrap_err();
    assert!(error.message.contains("id"), "{error}");
}

fn an_object_sent_again_reformatted_is_a_duplicate_and_its_first_bytes_stay(engine: &dyn Engine) {
    let store = engine.open();
    let id = "indicator--00000000-0000-4000-8000-000000000001";
    let first = r#"{"id":"x","confidence":50,"labels":["a","b"]}"#;
    let reformatted = "{ \"labels\": [\"a\", \"b\"],\n  \"confidence\": 5.0e1, \"id\": \"x\" }";
    let changed = r#"{"id":"x","confidence":51,"labels":["a","b"]}"#;
    let outcomes = store
        .apply(vec![object(id, 1, first), object(id, 1, reformatted)])
        .unwrap();
    assert_eq!(
        outcomes,
        [WriteOutcome::Stored { version: 0 }, WriteOutcome::Duplicate]
    );
    let outcomes = store
        .apply(vec![object(id, 1, reformatted), object(id, 1, changed)])
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Duplicate, WriteOutcome::Conflict]);
    let stored = store.object("c1", id, 1).unwrap().unwrap();
    assert_eq!(stored.text, first.as_bytes());
    assert_eq!(store.object_versions("c1", id).unwrap().len(), 1);
}

#[test]
fn data_directory_errors_name_the_directory_the_cause_and_the_way_out() {
    let path = std::path::Path::new("/srv/stixgate");
    let cases = [
        (
            std::io::ErrorKind::PermissionDenied,
            "cannot write to the data directory /srv/stixgate: permission denied; run as the directory's owner or change --data",
        ),
        (
            std::io::ErrorKind::StorageFull,
            "cannot write to the data directory /srv/stixgate: no space left on the device; free some space or change --data",
        ),
        (
            std::io::ErrorKind::ReadOnlyFilesystem,
            "cannot write to the data directory /srv/stixgate: the file system is read-only; change --data",
        ),
    ];
    for (kind, expected) in cases {
        let error = StoreError::data_directory(path, &std::io::Error::from(kind));
        assert_eq!(error.to_string(), expected);
    }
}

fn restored_records_keep_their_positions_and_dates_and_later_writes_follow_them(
    engine: &dyn Engine,
) {
    let store = engine.open();
    let stored = |id: &str, version, position| StoredEnvelope {
        id: id.into(),
        version,
        position,
        collection: "c9".into(),
        received: 1_000 + position,
        text: format!(r#"{{"meta":{{"uuid":"{id}"}},"v":{version}}}"#).into_bytes(),
    };
    let restored_object = |id: &str, version, date_added| WriteOp::RestoreObject {
        collection: "c1".into(),
        object: StoredObject {
            id: id.into(),
            version,
            version_text: format!("v{version}"),
            date_added,
            text: format!(r#"{{"id":"{id}","v":{version}}}"#).into_bytes(),
        },
    };
    let outcomes = store
        .apply(vec![
            WriteOp::RestoreEnvelope(stored("a", 0, 3)),
            WriteOp::RestoreEnvelope(stored("a", 1, 7)),
            WriteOp::RestoreEnvelope(stored("a", 1, 8)),
            WriteOp::RestoreEnvelope(stored("c", 0, 5)),
            restored_object("x--1", 2, 50),
            restored_object("x--1", 1, 60),
            restored_object("x--2", 1, 40),
            restored_object("x--1", 2, 70),
            WriteOp::SetCursorSecret([7; 32]),
        ])
        .unwrap();
    let stored_outcome = WriteOutcome::Stored { version: 0 };
    assert_eq!(
        outcomes,
        [
            stored_outcome,
            WriteOutcome::Stored { version: 1 },
            WriteOutcome::Conflict,
            WriteOutcome::Conflict,
            stored_outcome,
            stored_outcome,
            WriteOutcome::Conflict,
            WriteOutcome::Conflict,
            stored_outcome,
        ]
    );
    let envelopes: Vec<StoredEnvelope> = store.envelopes().map(Result::unwrap).collect();
    assert_eq!(envelopes, [stored("a", 0, 3), stored("a", 1, 7)]);
    let objects: Vec<(String, i64, u64)> = store
        .all_objects()
        .map(|o| o.map(|(c, o)| (c, o.version, o.date_added)).unwrap())
        .collect();
    assert_eq!(objects, [("c1".into(), 2, 50), ("c1".into(), 1, 60)]);
    assert_eq!(store.version_bounds("c1", "x--1").unwrap(), Some((1, 2)));
    assert_eq!(store.cursor_secret().unwrap(), [7; 32]);
    store
        .apply(vec![
            put("d", "{}", DuplicatePolicy::KeepFirst),
            object("x--3", 1, "{}"),
        ])
        .unwrap();
    // Positions count one collection: c1's first envelope takes its first position.
    assert_eq!(store.envelope("c1", "d").unwrap().unwrap().position, 0);
    store
        .apply(vec![put_in("c9", "d", "{}", DuplicatePolicy::KeepFirst)])
        .unwrap();
    assert_eq!(store.envelope("c9", "d").unwrap().unwrap().position, 8);
    let last = store
        .added_after("c1", None, Some(60))
        .next()
        .unwrap()
        .unwrap();
    assert!(last.date_added > 60);
}
