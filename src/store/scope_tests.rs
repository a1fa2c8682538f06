//! Collections that leak nothing: an envelope id is unique within its collection only, so that what one
//! collection holds never decides what becomes of a write to another, and positions count one collection, so that
//! a walk of one collection never moves for another's envelopes.

use super::tests::{Engine, on_every_engine, postgres, put_in, sled};
use super::{DuplicatePolicy, Store, StoredEnvelope, WriteOp, WriteOutcome};

const KEEP: DuplicatePolicy = DuplicatePolicy::KeepFirst;
const NEW_VERSION: DuplicatePolicy = DuplicatePolicy::NewVersion;
const FIRST: WriteOutcome = WriteOutcome::Stored { version: 0 };

on_every_engine!(
    the_same_id_in_two_collections_is_two_envelopes,
    a_write_to_one_collection_is_judged_by_that_collection_alone,
    positions_count_one_collection,
    a_backup_of_global_positions_restores_and_later_envelopes_follow_per_collection,
    a_raised_floor_puts_every_collections_next_envelope_at_or_after_it,
);

fn text_of(envelope: Option<StoredEnvelope>) -> String {
    String::from_utf8(envelope.expect("stored").text).unwrap()
}

fn the_same_id_in_two_collections_is_two_envelopes(engine: &dyn Engine) {
    {
        let store = engine.open();
        // In one group, and with a group between them.
        let outcomes = store
            .apply(vec![
                put_in("pub", "x", r#"{"n1":"pub"}"#, KEEP),
                put_in("amber", "x", r#"{"n1":"amber"}"#, KEEP),
            ])
            .unwrap();
        assert_eq!(outcomes, [FIRST, FIRST]);
        let outcomes = store
            .apply(vec![put_in("green", "x", r#"{"n1":"green"}"#, KEEP)])
            .unwrap();
        assert_eq!(outcomes, [FIRST]);
        store.flush().unwrap();
    }
    let store = engine.open();
    for collection in ["pub", "amber", "green"] {
        let stored = store.envelope(collection, "x").unwrap().unwrap();
        assert_eq!(
            (stored.collection.as_str(), stored.version),
            (collection, 0)
        );
        assert!(
            stored
                .text
                .ends_with(format!(r#"{{"n1":"{collection}"}}}}"#).as_bytes()),
            "{collection}"
        );
        let version = store.envelope_version(collection, "x", 0).unwrap();
        assert_eq!(version, Some(stored));
    }
    assert!(store.envelope("white", "x").unwrap().is_none());
    assert_eq!(store.envelopes().count(), 3);
    for collection in ["pub", "amber", "green"] {
        let counts = store.collection_summary(collection).unwrap();
        assert_eq!(counts.envelopes, 1, "{collection}");
    }
}

fn a_write_to_one_collection_is_judged_by_that_collection_alone(engine: &dyn Engine) {
    let store = engine.open();
    let amber = r#"{"n1":"amber"}"#;
    store
        .apply(vec![put_in("amber", "x", amber, KEEP)])
        .unwrap();
    let amber_before = store.envelope("amber", "x").unwrap();
    // amber's exact envelope is no duplicate in pub; another one with amber's id is no conflict there.
    let outcomes = store.apply(vec![put_in("pub", "x", amber, KEEP)]).unwrap();
    assert_eq!(outcomes, [FIRST]);
    let outcomes = store
        .apply(vec![put_in("pub", "y", r#"{"n1":"pub"}"#, KEEP)])
        .unwrap();
    assert_eq!(outcomes, [FIRST]);
    // Within pub, the rules hold as before.
    let outcomes = store
        .apply(vec![
            put_in("pub", "x", amber, KEEP),
            put_in("pub", "x", r#"{"n1":"other"}"#, KEEP),
        ])
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Duplicate, WriteOutcome::Conflict]);
    // A new version in pub is pub's alone, in later groups and in amber's own group.
    let outcomes = store
        .apply(vec![
            put_in("pub", "x", r#"{"n1":"pub 2"}"#, NEW_VERSION),
            put_in("amber", "z", r#"{"n1":"amber z"}"#, KEEP),
            put_in("pub", "x", r#"{"n1":"pub 3"}"#, NEW_VERSION),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Stored { version: 1 },
            FIRST,
            WriteOutcome::Stored { version: 2 }
        ]
    );
    assert_eq!(store.envelope("amber", "x").unwrap(), amber_before);
    assert!(store.envelope_version("amber", "x", 1).unwrap().is_none());
    assert!(text_of(store.envelope("pub", "x").unwrap()).ends_with(r#"{"n1":"pub 3"}}"#));
    // And amber's own new version starts from amber's, not from pub's.
    let outcomes = store
        .apply(vec![put_in(
            "amber",
            "x",
            r#"{"n1":"amber 2"}"#,
            NEW_VERSION,
        )])
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Stored { version: 1 }]);
    assert!(text_of(store.envelope("pub", "x").unwrap()).ends_with(r#"{"n1":"pub 3"}}"#));
}

fn positions_count_one_collection(engine: &dyn Engine) {
    let ids = |store: &dyn Store, collection, after| -> Vec<(String, u64)> {
        store
            .envelopes_after(collection, after)
            .map(|e| e.map(|e| (e.id, e.position)).unwrap())
            .collect()
    };
    {
        let store = engine.open();
        store
            .apply(vec![
                put_in("pub", "p1", "{}", KEEP),
                put_in("amber", "a1", "{}", KEEP),
                put_in("pub", "p2", "{}", KEEP),
            ])
            .unwrap();
        let before: Vec<_> = ids(&*store, "pub", Some(0));
        for n in 2..5 {
            store
                .apply(vec![put_in("amber", &format!("a{n}"), "{}", KEEP)])
                .unwrap();
        }
        // amber's arrivals move nothing in pub: no new position, no gap.
        assert_eq!(ids(&*store, "pub", Some(0)), before);
        assert_eq!(
            ids(&*store, "pub", None),
            [("p1".into(), 0), ("p2".into(), 1)]
        );
        store.flush().unwrap();
    }
    let store = engine.open();
    store
        .apply(vec![
            put_in("pub", "p3", "{}", KEEP),
            put_in("amber", "a5", "{}", KEEP),
        ])
        .unwrap();
    assert_eq!(
        ids(&*store, "pub", Some(1)),
        [("p3".into(), 2)],
        "the next position of pub after a reopen"
    );
    let amber: Vec<u64> = ids(&*store, "amber", None)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(amber, [0, 1, 2, 3, 4]);
    let newest_first: Vec<String> = store
        .envelopes_before("pub", None)
        .map(|e| e.unwrap().id)
        .collect();
    assert_eq!(newest_first, ["p3", "p2", "p1"]);
    assert_eq!(store.envelopes_before("pub", Some(1)).count(), 1);
    // Every envelope: collection after collection, each in its order.
    let all: Vec<String> = store.envelopes().map(|e| e.unwrap().id).collect();
    assert_eq!(all, ["a1", "a2", "a3", "a4", "a5", "p1", "p2", "p3"]);
}

/// A backup of an earlier stixgate numbered envelopes across collections, and an id could have versions in two
/// collections: it restores with its positions kept, and later envelopes follow each collection's last.
fn a_backup_of_global_positions_restores_and_later_envelopes_follow_per_collection(
    engine: &dyn Engine,
) {
    let store = engine.open();
    let restored = |collection: &str, id: &str, version, position| {
        WriteOp::RestoreEnvelope(StoredEnvelope {
            id: id.into(),
            version,
            position,
            collection: collection.into(),
            received: 1_000 + position,
            text: format!(r#"{{"meta":{{"uuid":"{id}"}},"v":{version}}}"#).into_bytes(),
        })
    };
    let outcomes = store
        .apply(vec![
            restored("pub", "x", 0, 0),
            restored("amber", "a", 0, 1),
            // x's version 1 was written into amber by the earlier stixgate.
            restored("amber", "x", 1, 2),
            restored("pub", "p", 0, 3),
            // Out of order within amber.
            restored("amber", "b", 0, 2),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        [
            FIRST,
            FIRST,
            WriteOutcome::Stored { version: 1 },
            FIRST,
            WriteOutcome::Conflict
        ]
    );
    assert_eq!(store.envelope("pub", "x").unwrap().unwrap().version, 0);
    assert_eq!(store.envelope("amber", "x").unwrap().unwrap().version, 1);
    store
        .apply(vec![
            put_in("pub", "q", "{}", KEEP),
            put_in("amber", "c", "{}", KEEP),
            put_in("amber", "x", r#"{"n1":2}"#, NEW_VERSION),
        ])
        .unwrap();
    assert_eq!(store.envelope("pub", "q").unwrap().unwrap().position, 4);
    assert_eq!(store.envelope("amber", "c").unwrap().unwrap().position, 3);
    let x = store.envelope("amber", "x").unwrap().unwrap();
    assert_eq!((x.version, x.position), (2, 4));
}

/// After a backup whose positions counted every collection, a cursor may name any collection's position: the
/// floor keeps each collection's next envelope from coming before it, also after a reopen.
fn a_raised_floor_puts_every_collections_next_envelope_at_or_after_it(engine: &dyn Engine) {
    {
        let store = engine.open();
        let ahead: Vec<WriteOp> = (0..12)
            .map(|n| put_in("ahead", &format!("e{n}"), "{}", KEEP))
            .collect();
        store.apply(ahead).unwrap();
        let outcomes = store
            .apply(vec![
                WriteOp::RaiseEnvelopeFloor(10),
                WriteOp::RaiseEnvelopeFloor(7),
                put_in("behind", "b", "{}", KEEP),
            ])
            .unwrap();
        assert_eq!(outcomes, [FIRST, FIRST, FIRST]);
        store.flush().unwrap();
    }
    let store = engine.open();
    store
        .apply(vec![
            put_in("ahead", "e12", "{}", KEEP),
            put_in("behind", "c", "{}", KEEP),
            put_in("new", "n", "{}", KEEP),
        ])
        .unwrap();
    let position = |collection, id| store.envelope(collection, id).unwrap().unwrap().position;
    assert_eq!(position("behind", "b"), 10);
    assert_eq!(position("behind", "c"), 11);
    assert_eq!(position("ahead", "e12"), 12);
    assert_eq!(position("new", "n"), 10);
}
