//! Envelope texts that embed an object text are stored spliced and read back as the exact bytes written.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::super::SledStore;
use crate::envelope::{Envelope, IntakeRules, Minting, Shape};
use crate::store::{DuplicatePolicy, NewObject, Store, WriteOp};

const OBJECT: &str =
    r#"{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '10.0.0.1']"}"#;

fn object(collection: &str, version: i64, text: &str) -> WriteOp {
    WriteOp::PutObject {
        collection: collection.into(),
        object: NewObject {
            id: "indicator--1".into(),
            version,
            version_text: format!("v{version}"),
            text: text.into(),
        },
    }
}

/// An envelope whose `raw` is the base64 of `embedded`, and its exact text.
pub(crate) fn envelope(id: &str, collection: &str, embedded: &str) -> (WriteOp, Vec<u8>) {
    let text = format!(
        r#"{{"meta":{{"uuid":{{"current":"{id}"}}}},"payload":{{"source.ip":"10.0.0.1","raw":"{}","time.source":"2026-01-01T00:00:00+00:00"}}}}"#,
        STANDARD.encode(embedded)
    );
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    };
    let envelope = Envelope::parse(text.as_bytes(), &rules).unwrap();
    let exact = envelope.text().to_vec();
    let op = WriteOp::PutEnvelope {
        envelope,
        collection: collection.into(),
        policy: DuplicatePolicy::KeepFirst,
        objects: Vec::new(),
    };
    (op, exact)
}

/// What the log grows by for a spliced envelope: a header of 8 bytes, a place and a length, the text without the
/// base64 of `embedded`.
fn spliced_size(text: &[u8], embedded: &str) -> u64 {
    (8 + 12 + 4 + text.len() - STANDARD.encode(embedded).len()) as u64
}

fn log_growth(store: &SledStore, ops: Vec<WriteOp>) -> u64 {
    let before = store.log.size().unwrap();
    store.apply(ops).unwrap();
    store.flush().unwrap();
    store.log.size().unwrap() - before
}

/// Reads each (collection, id, text) back, and all of them in the order of [`Store::envelopes`].
fn assert_reads(store: &SledStore, expected: &[(&str, &str, &[u8])]) {
    for (collection, id, text) in expected {
        let stored = store.envelope(collection, id).unwrap().unwrap();
        assert_eq!(stored.text, *text, "{id}");
    }
    let all: Vec<_> = store.envelopes().map(|e| e.unwrap().text).collect();
    let texts: Vec<_> = expected.iter().map(|(_, _, text)| text.to_vec()).collect();
    assert_eq!(all, texts);
}

fn open(dir: &Path) -> SledStore {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Ok(store) => return store,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    panic!("the store stayed locked");
}

#[test]
fn an_envelope_embedding_a_stored_object_text_is_spliced_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let other = OBJECT.replace("10.0.0.1", "10.0.0.2");
    let expected = {
        let store = open(dir.path());
        store.apply(vec![object("c1", 1, OBJECT)]).unwrap();
        // Stored in an earlier group, and in the same group as the envelope.
        let (earlier, earlier_text) = envelope("e1", "c1", OBJECT);
        assert_eq!(
            log_growth(&store, vec![earlier]),
            spliced_size(&earlier_text, OBJECT)
        );
        let (same_group, same_group_text) = envelope("e2", "c1", &other);
        let growth = log_growth(&store, vec![object("c1", 2, &other), same_group]);
        assert_eq!(
            growth,
            8 + other.len() as u64 + spliced_size(&same_group_text, &other)
        );
        // Whole: an embedded text of no stored version, or of another collection's object.
        let (unknown, unknown_text) = envelope("e3", "c1", &OBJECT.replace('1', "9"));
        assert_eq!(
            log_growth(&store, vec![unknown]),
            8 + unknown_text.len() as u64
        );
        let (elsewhere, elsewhere_text) = envelope("e4", "c2", OBJECT);
        assert_eq!(
            log_growth(&store, vec![elsewhere]),
            8 + elsewhere_text.len() as u64
        );
        let expected = vec![
            ("c1", "e1", earlier_text),
            ("c1", "e2", same_group_text),
            ("c1", "e3", unknown_text),
            ("c2", "e4", elsewhere_text),
        ];
        let borrowed: Vec<_> = expected.iter().map(|(c, i, t)| (*c, *i, &t[..])).collect();
        assert_reads(&store, &borrowed);
        expected
    };
    let store = open(dir.path());
    let borrowed: Vec<_> = expected.iter().map(|(c, i, t)| (*c, *i, &t[..])).collect();
    assert_reads(&store, &borrowed);
    // A spliced envelope's text stays when its object is deleted.
    store
        .apply(vec![WriteOp::DeleteObject {
            collection: "c1".into(),
            id: "indicator--1".into(),
            version: 1,
        }])
        .unwrap();
    assert_reads(&store, &borrowed);
}
