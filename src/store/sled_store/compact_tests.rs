//! Compaction of the text log: the texts that stay are read back byte for byte, before and after a reopen, and
//! the space of the deleted ones is given back.

use std::path::Path;

use super::{SledOptions, SledStore};
use crate::store::{NewObject, Store, WriteOp};

const COLLECTION: &str = "c";

fn open(dir: &Path) -> SledStore {
    let options = SledOptions {
        segment_mb: 1,
        ..SledOptions::default()
    };
    SledStore::open_with_options(dir, options).unwrap()
}

/// An indicator of about 1 KB, so that a 1 MiB segment holds about a thousand.
fn text(n: usize) -> String {
    format!(
        r#"{{"type":"indicator","id":"indicator--{n}","pattern":"[ipv4-addr:value = '10.0.0.1']","description":"{}"}}"#,
        "x".repeat(900)
    )
}

fn put(n: usize) -> WriteOp {
    WriteOp::PutObject {
        collection: COLLECTION.into(),
        object: NewObject {
            id: format!("indicator--{n}"),
            version: 1,
            version_text: "v1".into(),
            text: text(n).into_bytes(),
        },
    }
}

fn delete(n: usize) -> WriteOp {
    WriteOp::DeleteObject {
        collection: COLLECTION.into(),
        id: format!("indicator--{n}"),
        version: 1,
    }
}

/// An envelope whose `raw` embeds object `n`'s text, so that it is stored spliced onto it; and its exact text.
fn envelope(n: usize) -> (WriteOp, Vec<u8>) {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    super::splice::store_tests::envelope(&id, COLLECTION, &text(n))
}

/// Writes `ops` in groups of 100, as the writer would, and makes them durable.
fn write(store: &SledStore, mut ops: Vec<WriteOp>) {
    while !ops.is_empty() {
        let rest = ops.split_off(ops.len().min(100));
        store.apply(ops).unwrap();
        ops = rest;
    }
    store.flush().unwrap();
}

/// The collection's objects, in order of addition, as (id, text, date_added).
fn objects(store: &SledStore) -> Vec<(String, Vec<u8>, u64)> {
    store
        .added_after(COLLECTION, None, None)
        .map(|o| {
            let o = o.unwrap();
            (o.id, o.text, o.date_added)
        })
        .collect()
}

fn envelopes(store: &SledStore) -> Vec<Vec<u8>> {
    store.envelopes().map(|e| e.unwrap().text).collect()
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("texts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_mostly_deleted_segment_is_moved_and_removed_and_what_stays_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, (0..3000).map(put).collect());
    // Envelopes spliced onto objects 0..10 of segment 0, one of them onto an object deleted below.
    let (ops, envelope_texts): (Vec<_>, Vec<_>) = (0..10).map(envelope).unzip();
    write(&store, ops);
    assert_eq!(segments(dir.path()).len(), 3, "{:?}", segments(dir.path()));
    // Two thirds of segments 0 and 1 die, with most of the objects the envelopes embed.
    write(
        &store,
        (0..2100).filter(|n| n % 3 != 0).map(delete).collect(),
    );
    let before = objects(&store);
    let size_before = store.log.size().unwrap();

    let compaction = store.compact().unwrap();

    assert_eq!(compaction.segments, [0, 1]);
    assert!(compaction.texts_moved >= 600, "{compaction:?}");
    assert!(!segments(dir.path()).contains(&"00000000.seg".to_owned()));
    assert!(store.log.size().unwrap() < size_before - 1_000_000);
    assert_eq!(objects(&store), before);
    assert_eq!(envelopes(&store), envelope_texts);
    let one = store
        .object(COLLECTION, "indicator--3", 1)
        .unwrap()
        .unwrap();
    assert_eq!(one.text, text(3).into_bytes());
    // Nothing more to do: the copies are live.
    assert_eq!(store.compact().unwrap().segments, Vec::<u32>::new());

    drop(store);
    let store = open(dir.path());
    assert_eq!(objects(&store), before);
    assert_eq!(envelopes(&store), envelope_texts);
    // Writes go on after the moved texts, and compaction again finds nothing.
    write(&store, vec![put(5000)]);
    assert_eq!(objects(&store).last().unwrap().1, text(5000).into_bytes());
    assert_eq!(store.compact().unwrap().segments, Vec::<u32>::new());
}

#[test]
fn an_envelope_keeps_the_text_of_a_deleted_object_it_embeds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, (0..1500).map(put).collect());
    let (op, exact) = envelope(7);
    write(&store, vec![op]);
    // Every object of segment 0 goes, object 7 too: only the splice names its text.
    write(&store, (0..1000).map(delete).collect());

    let compaction = store.compact().unwrap();

    assert_eq!(compaction.segments, [0]);
    assert_eq!(envelopes(&store), std::slice::from_ref(&exact));
    drop(store);
    let store = open(dir.path());
    assert_eq!(envelopes(&store), [exact]);
    assert!(
        store
            .object(COLLECTION, "indicator--7", 1)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_segment_with_most_of_its_texts_alive_and_the_segment_being_written_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, (0..1500).map(put).collect());
    // A third of segment 0 dies, and all of segment 1, which is still being written.
    write(
        &store,
        (0..1000).filter(|n| n % 3 == 0).map(delete).collect(),
    );
    write(&store, (1000..1500).map(delete).collect());
    let files = segments(dir.path());

    assert_eq!(store.compact().unwrap(), Default::default());

    assert_eq!(segments(dir.path()), files);
}

#[test]
fn a_retired_segment_left_by_a_crash_is_removed_on_open_and_a_lost_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, (0..3000).map(put).collect());
    write(&store, (0..1000).map(delete).collect());
    assert_eq!(store.compact().unwrap().segments, [0]);
    let expected = objects(&store);
    drop(store);
    let texts = dir.path().join("texts");
    // A crash after the batch that retired segment 0 and before its file was removed.
    std::fs::write(texts.join("00000000.seg"), b"left behind").unwrap();

    let store = open(dir.path());

    assert!(!texts.join("00000000.seg").exists());
    assert_eq!(objects(&store), expected);
    drop(store);
    std::fs::remove_file(texts.join("00000001.seg")).unwrap();
    let Err(error) = SledStore::open(dir.path()) else {
        panic!("a data directory that lost a segment opened");
    };
    assert!(error.to_string().contains("lacks segment 1"), "{error}");
}

#[test]
fn a_segment_whose_deleted_texts_splices_still_name_is_left_alone_and_counted_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, (0..1500).map(put).collect());
    let (ops, envelope_texts): (Vec<_>, Vec<_>) = (0..800).map(envelope).unzip();
    write(&store, ops);
    // Deletes count nearly all of segment 0 dead, but the envelopes still name 800 of its texts.
    write(&store, (0..1000).map(delete).collect());
    let size = |store: &SledStore| store.log.segment_sizes().unwrap()[0].1;
    assert!(store.dead_bytes().unwrap().0[&0] * 2 > size(&store));
    let files = segments(dir.path());

    assert_eq!(store.compact().unwrap(), Default::default());

    assert_eq!(segments(dir.path()), files);
    assert!(store.dead_bytes().unwrap().0[&0] * 2 < size(&store));
    assert_eq!(envelopes(&store), envelope_texts);
}
