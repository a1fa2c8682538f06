//! A data directory of layout 4 (statuses and views stored plain) is carried over to layout 5 (and on to 6) when
//! opened, also after a migration that stopped halfway, and serves the same bytes.

use std::path::Path;

use super::layout_5_tests::back_to_layout_5;
use super::tests::{open, open_sled};
use super::{PACK_BATCH, PACKING};
use crate::store::keys;
use crate::store::sled_store::SledStore;
use crate::store::sled_store::packed::{unpack, unpack_status};
use crate::store::{NewObject, Store, StoredStatus, WriteOp};

/// More views than one batch packs, so that a migration can stop halfway.
const VIEWS: usize = PACK_BATCH + 40;

fn status_text(n: usize) -> Vec<u8> {
    format!(
        r#"{{"id":"s{n}","objects":[{}]}}"#,
        r#"{"id":"indicator--1"},"#.repeat(n * 20)
    )
    .into_bytes()
}

fn view_value(n: usize) -> Vec<u8> {
    format!("view {n} ").repeat(n % 50).into_bytes()
}

/// Writes a layout 4 directory: objects and texts as layout 5 wrote them (the same records: nothing embeds an
/// object text here), statuses and views plain, as layout 4 wrote them.
fn write_layout_4(dir: &Path) {
    {
        let store = open(dir);
        let mut ops = vec![WriteOp::PutObject {
            collection: "c1".into(),
            object: NewObject {
                id: "indicator--1".into(),
                version: 1,
                version_text: "v1".into(),
                text: br#"{"id":"indicator--1"}"#.to_vec(),
            },
        }];
        for n in 0..3 {
            ops.push(WriteOp::RestoreStatus(StoredStatus {
                id: format!("s{n}"),
                stored_at: n as u64,
                text: status_text(n),
            }));
        }
        for n in 0..VIEWS {
            ops.push(WriteOp::PutView {
                key: format!("feed/{n:04}").into_bytes(),
                value: view_value(n),
            });
        }
        store.apply(ops).unwrap();
        store.flush().unwrap();
    }
    let db = open_sled(dir);
    back_to_layout_5(&db);
    let mut batch = sled::Batch::default();
    for entry in db.scan_prefix([keys::STATUS]) {
        let (key, value) = entry.unwrap();
        let (stored_at, text) = unpack_status(&value).unwrap();
        batch.insert(key, [&stored_at.to_be_bytes()[..], &text].concat());
    }
    for entry in db.scan_prefix([keys::VIEW]) {
        let (key, value) = entry.unwrap();
        batch.insert(key, unpack(&value, "view").unwrap());
    }
    batch.insert(keys::META_FORMAT, &4u32.to_be_bytes());
    db.apply_batch(batch).unwrap();
    db.flush().unwrap();
}

fn assert_carried_over(store: &SledStore) {
    assert_eq!(
        store.tree.get(keys::META_FORMAT).unwrap().unwrap(),
        6u32.to_be_bytes()
    );
    assert!(store.tree.get(keys::META_PACKED_THROUGH).unwrap().is_none());
    let statuses: Vec<_> = store.statuses().map(|s| s.unwrap()).collect();
    assert_eq!(statuses.len(), 3);
    for (n, status) in statuses.iter().enumerate() {
        assert_eq!(
            (status.id.as_str(), status.stored_at, &status.text),
            (format!("s{n}").as_str(), n as u64, &status_text(n))
        );
        assert_eq!(store.status(&status.id).unwrap().unwrap(), status_text(n));
    }
    let views: Vec<_> = store
        .view_range(b"feed/", None)
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(views.len(), VIEWS);
    for (n, (key, value)) in views.iter().enumerate() {
        assert_eq!(key, format!("feed/{n:04}").as_bytes());
        assert_eq!(value, &view_value(n));
    }
    assert_eq!(store.view(b"feed/0049").unwrap().unwrap(), view_value(49));
    let object = store.object("c1", "indicator--1", 1).unwrap().unwrap();
    assert_eq!(object.text, br#"{"id":"indicator--1"}"#);
}

#[test]
fn a_layout_4_directory_is_carried_over_on_open() {
    let dir = tempfile::tempdir().unwrap();
    write_layout_4(dir.path());
    assert_carried_over(&open(dir.path()));
    // And once more, as layout 5.
    assert_carried_over(&open(dir.path()));
}

#[test]
fn a_layout_4_migration_that_stopped_halfway_is_taken_up_again() {
    let dir = tempfile::tempdir().unwrap();
    write_layout_4(dir.path());
    {
        let db = open_sled(dir.path());
        let through = PACKING.batch(&db, None).unwrap().unwrap();
        db.flush().unwrap();
        assert_eq!(db.get(keys::META_PACKED_THROUGH).unwrap().unwrap(), through);
        assert_eq!(
            db.get(keys::META_FORMAT).unwrap().unwrap(),
            4u32.to_be_bytes()
        );
    }
    assert_carried_over(&open(dir.path()));
}
