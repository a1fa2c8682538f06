//! The counts behind [`Store::collection_summary`] and the newest-first walk of [`Store::envelopes_before`].

use super::tests::{Engine, envelope as parsed, on_every_engine, postgres, sled};
use super::*;

fn envelope(id: &str, collection: &str) -> WriteOp {
    WriteOp::PutEnvelope {
        envelope: parsed(id, r#"{"n1":1}"#),
        collection: collection.into(),
        policy: DuplicatePolicy::KeepFirst,
        objects: vec![object_of(&format!("indicator--{id}"), 1)],
    }
}

fn object_of(id: &str, version: i64) -> NewObject {
    NewObject {
        id: id.into(),
        version,
        version_text: format!("v{version}"),
        text: format!(r#"{{"id":"{id}","v":{version}}}"#).into_bytes(),
    }
}

fn object(collection: &str, id: &str, version: i64) -> WriteOp {
    WriteOp::PutObject {
        collection: collection.into(),
        object: object_of(id, version),
    }
}

fn summary(store: &dyn Store, collection: &str) -> (u64, u64) {
    let summary = store.collection_summary(collection).unwrap();
    (summary.objects, summary.envelopes)
}

on_every_engine!(
    counts_follow_stores_duplicates_deletes_and_reopening,
    envelopes_before_walks_newest_first_from_a_position,
);

fn counts_follow_stores_duplicates_deletes_and_reopening(engine: &dyn Engine) {
    let store = engine.open();
    assert_eq!(
        store.collection_summary("a").unwrap(),
        CollectionSummary::default()
    );
    store
        .apply(vec![
            envelope("e1", "a"),
            envelope("e2", "a"),
            envelope("e3", "b"),
            object("a", "indicator--x", 1),
            object("a", "indicator--x", 2),
        ])
        .unwrap();
    // Duplicates count nothing: the same envelope, the same object version.
    store
        .apply(vec![envelope("e1", "a"), object("a", "indicator--x", 2)])
        .unwrap();
    assert_eq!(summary(&*store, "a"), (4, 2));
    assert_eq!(summary(&*store, "b"), (1, 1));
    let newest = store.added_after("a", None, None).last().unwrap().unwrap();
    assert_eq!(
        store.collection_summary("a").unwrap().newest_added,
        Some(newest.date_added)
    );
    store
        .apply(vec![WriteOp::DeleteObject {
            collection: "a".into(),
            id: "indicator--x".into(),
            version: 1,
        }])
        .unwrap();
    assert_eq!(summary(&*store, "a"), (3, 2));
    drop(store);
    let store = engine.open();
    assert_eq!(summary(&*store, "a"), (3, 2));
}

fn envelopes_before_walks_newest_first_from_a_position(engine: &dyn Engine) {
    let store = engine.open();
    store
        .apply(vec![
            envelope("e1", "a"),
            envelope("e2", "a"),
            envelope("e3", "b"),
        ])
        .unwrap();
    let ids = |collection, before| -> Vec<String> {
        store
            .envelopes_before(collection, before)
            .map(|e| e.unwrap().id)
            .collect()
    };
    assert_eq!(ids("a", None), ["e2", "e1"]);
    assert_eq!(ids("b", None), ["e3"]);
    let e2 = store.envelope("a", "e2").unwrap().unwrap().position;
    assert_eq!(ids("a", Some(e2)), ["e1"]);
}
