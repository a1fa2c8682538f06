//! The rules' decisions, tested once here; each engine's tests (`store/tests.rs`, `scope_tests.rs`) check that it
//! reads what the rules need and persists what they decide.

use super::*;

const KEEP: DuplicatePolicy = DuplicatePolicy::KeepFirst;
const NEW: DuplicatePolicy = DuplicatePolicy::NewVersion;
/// The largest number sled stores, and PostgreSQL's (`bigint`).
const SLED: u64 = u64::MAX;
const POSTGRES: u64 = i64::MAX.unsigned_abs();

#[test]
fn an_envelope_is_stored_a_duplicate_a_conflict_or_a_new_version() {
    let stored: &[u8] = b"first";
    let cases = [
        (None, b"first" as &[u8], KEEP, Decision::Write(0)),
        (None, b"first", NEW, Decision::Write(0)),
        (
            Some((0, stored)),
            b"first",
            KEEP,
            Decision::Unchanged(WriteOutcome::Duplicate),
        ),
        (
            Some((3, stored)),
            b"first",
            NEW,
            Decision::Unchanged(WriteOutcome::Duplicate),
        ),
        (
            Some((0, stored)),
            b"other",
            KEEP,
            Decision::Unchanged(WriteOutcome::Conflict),
        ),
        (Some((0, stored)), b"other", NEW, Decision::Write(1)),
        (Some((3, stored)), b"other", NEW, Decision::Write(4)),
    ];
    for (latest, text, policy, expected) in cases {
        assert_eq!(
            put_envelope(latest, text, policy),
            expected,
            "{latest:?} {text:?} {policy:?}"
        );
    }
}

/// Envelopes are the same only byte for byte: a reformatted envelope is other content.
#[test]
fn an_envelope_reformatted_is_other_content() {
    let latest = Some((0, br#"{"a":1}"# as &[u8]));
    assert_eq!(
        put_envelope(latest, br#"{ "a": 1 }"#, KEEP),
        Decision::Unchanged(WriteOutcome::Conflict)
    );
}

#[test]
fn the_next_envelope_takes_the_next_position_or_the_floor_and_the_floor_never_goes_down() {
    assert_eq!(envelope_position(5, 0), 5);
    assert_eq!(envelope_position(5, 9), 9);
    assert_eq!(envelope_position(9, 5), 9);
    assert_eq!(raised_floor(0, 7), 7);
    assert_eq!(raised_floor(7, 3), 7);
}

fn envelope(version: u32, position: u64, received: u64) -> StoredEnvelope {
    StoredEnvelope {
        id: "a".into(),
        version,
        position,
        collection: "c1".into(),
        received,
        text: b"{}".to_vec(),
    }
}

#[test]
fn a_restored_envelope_comes_after_what_its_collection_holds() {
    let write = Decision::Write(());
    let conflict = Decision::Unchanged(WriteOutcome::Conflict);
    let cases = [
        // (latest version of the id, next position, the envelope, what becomes of it)
        (None, 0, envelope(0, 0, 1), write),
        // Versions may skip (ids of an earlier stixgate spanned collections), never go back or repeat.
        (None, 0, envelope(2, 0, 1), write),
        (Some(1), 0, envelope(2, 5, 1), write),
        (Some(1), 0, envelope(5, 5, 1), write),
        (Some(1), 0, envelope(1, 5, 1), conflict),
        (Some(1), 0, envelope(0, 5, 1), conflict),
        // Positions may skip, never go back or repeat.
        (None, 6, envelope(0, 6, 1), write),
        (None, 6, envelope(0, 60, 1), write),
        (None, 6, envelope(0, 5, 1), conflict),
    ];
    for (latest, next_position, envelope, expected) in cases {
        for largest in [SLED, POSTGRES] {
            assert_eq!(
                restore_envelope(latest, next_position, &envelope, largest),
                expected,
                "{latest:?} {next_position} {envelope:?}"
            );
        }
    }
}

/// The largest position is refused, since later envelopes take the one after; received times are stored up to
/// the largest number.
#[test]
fn a_restored_envelope_fits_what_the_engine_stores() {
    let conflict = Decision::Unchanged(WriteOutcome::Conflict);
    assert_eq!(
        restore_envelope(None, 0, &envelope(0, SLED - 1, SLED), SLED),
        Decision::Write(())
    );
    assert_eq!(
        restore_envelope(None, 0, &envelope(0, SLED, 1), SLED),
        conflict
    );
    assert_eq!(
        restore_envelope(None, 0, &envelope(0, POSTGRES - 1, POSTGRES), POSTGRES),
        Decision::Write(())
    );
    for too_large in [envelope(0, POSTGRES, 1), envelope(0, SLED, 1)] {
        assert_eq!(
            restore_envelope(None, 0, &too_large, POSTGRES),
            conflict,
            "{too_large:?}"
        );
    }
    assert_eq!(
        restore_envelope(None, 0, &envelope(0, 1, POSTGRES + 1), POSTGRES),
        conflict
    );
}

fn object(text: &[u8]) -> NewObject {
    NewObject {
        id: "indicator--1".into(),
        version: 7,
        version_text: "v7".into(),
        text: text.to_vec(),
    }
}

/// The `date_added` of a new object version, or the outcome of one that is not stored.
fn added(
    same_version: Option<&[u8]>,
    text: &[u8],
    now: u64,
    last_added: u64,
) -> Result<u64, WriteOutcome> {
    match put_object(same_version, object(text), now, last_added) {
        Decision::Write(stored) => Ok(stored.date_added),
        Decision::Unchanged(outcome) => Err(outcome),
    }
}

#[test]
fn a_new_object_version_is_added_after_every_other_of_its_collection() {
    // The clock, when it is later than the last date_added.
    assert_eq!(added(None, b"{}", 100, 50), Ok(100));
    // One after the last, when the clock is not later (several objects of one group, a clock set back).
    assert_eq!(added(None, b"{}", 100, 100), Ok(101));
    assert_eq!(added(None, b"{}", 100, 500), Ok(501));
}

#[test]
fn a_new_object_version_is_stored_as_it_came() {
    let stored = put_object(None, object(b"{ }"), 100, 50);
    let expected = StoredObject {
        id: "indicator--1".into(),
        version: 7,
        version_text: "v7".into(),
        date_added: 100,
        text: b"{ }".to_vec(),
    };
    assert_eq!(stored, Decision::Write(expected));
}

#[test]
fn an_object_version_held_already_is_a_duplicate_when_the_same_json_else_a_conflict() {
    let stored = br#"{"id":"x","confidence":50,"labels":["a","b"]}"#;
    let duplicate = Err(WriteOutcome::Duplicate);
    let conflict = Err(WriteOutcome::Conflict);
    let cases: [(&[u8], Result<u64, WriteOutcome>); 4] = [
        (stored, duplicate),
        (
            b"{ \"labels\": [\"a\", \"b\"],\n  \"confidence\": 5.0e1, \"id\": \"x\" }",
            duplicate,
        ),
        (
            br#"{"id":"x","confidence":51,"labels":["a","b"]}"#,
            conflict,
        ),
        (
            br#"{"id":"x","confidence":50,"labels":["b","a"]}"#,
            conflict,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            added(Some(stored), text, 100, 50),
            expected,
            "{}",
            String::from_utf8_lossy(text)
        );
    }
    // Text that is not JSON is the same only byte for byte.
    assert_eq!(added(Some(b"v10"), b"v10", 100, 50), duplicate);
    assert_eq!(added(Some(b"v10"), b"v 10", 100, 50), conflict);
}

#[test]
fn a_restored_object_comes_after_what_its_collection_holds_and_is_not_held_yet() {
    let write = Decision::Write(());
    let conflict = Decision::Unchanged(WriteOutcome::Conflict);
    for largest in [SLED, POSTGRES] {
        assert_eq!(restore_object(false, 51, 50, largest), write);
        assert_eq!(restore_object(false, 5_000, 50, largest), write);
        assert_eq!(restore_object(false, 50, 50, largest), conflict);
        assert_eq!(restore_object(false, 49, 50, largest), conflict);
        assert_eq!(restore_object(true, 51, 50, largest), conflict);
        // The largest date_added is refused: later additions take the one after.
        assert_eq!(restore_object(false, largest - 1, 50, largest), write);
        assert_eq!(restore_object(false, largest, 50, largest), conflict);
    }
    assert_eq!(restore_object(false, SLED, 50, POSTGRES), conflict);
}

#[test]
fn a_delete_removes_a_version_stored_before_the_group() {
    assert_eq!(
        delete_object(Some(Held::Stored(42))).unwrap(),
        Decision::Write(42)
    );
    assert_eq!(
        delete_object::<u64>(None).unwrap(),
        Decision::Unchanged(WriteOutcome::Absent)
    );
    let error = delete_object::<u64>(Some(Held::Written)).unwrap_err();
    assert!(matches!(error, StoreError::Malformed(_)), "{error}");
}

#[test]
fn a_prune_removes_the_statuses_stored_before_its_time() {
    assert!(pruned(9, 10));
    assert!(!pruned(10, 10));
    assert!(!pruned(11, 10));
    assert!(pruned(u64::MAX - 1, u64::MAX));
    assert_eq!(removal(true), WriteOutcome::Removed);
    assert_eq!(removal(false), WriteOutcome::Absent);
}

#[test]
fn a_put_envelopes_objects_are_stored_only_with_it() {
    assert!(stores_objects(WriteOutcome::Stored { version: 0 }));
    assert!(stores_objects(WriteOutcome::Stored { version: 3 }));
    assert!(!stores_objects(WriteOutcome::Duplicate));
    assert!(!stores_objects(WriteOutcome::Conflict));
}
