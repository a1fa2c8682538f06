//! The store's rules, written once for every engine: what a write does given what its collection holds already.
//!
//! An engine reads what a rule asks for (the newest version of an envelope id, whether the collection holds an
//! object version and its text, the collection's next position and last `date_added`), as the current group sees
//! them, asks the rule, and persists what it decides. Only the collection written to is ever read: ids are unique
//! within a collection, and another collection never decides a write.
//!
//! Restore order: a backup is written back record after record, in the order the backup holds them (every
//! object version, then every envelope version, so that an envelope that embeds an object's text finds it; see
//! `src/backup/`), through [`restore_envelope`] and [`restore_object`]. Each takes a record only after everything its collection holds
//! already ([`RESTORE_ORDER`] says it in words), so that a restored store walks in the order the backed-up one
//! did, and a record that comes twice or out of order is refused rather than stored in a place a cursor has
//! passed.

mod same_json;

#[cfg(test)]
mod tests;

use super::{
    DuplicatePolicy, NewObject, StoreError, StoreResult, StoredEnvelope, StoredObject, WriteOutcome,
};

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision<T> {
    /// Write it, with this (an envelope's version, the object version to store, what locates a version to
    /// delete).
    Write(T),
    /// Write nothing; this is the write's outcome.
    Unchanged(WriteOutcome),
}

/// The order a restore must keep, as a restore's error names it.
pub const RESTORE_ORDER: &str = "within a collection, envelope positions, the versions of an envelope id \
                                 and date_added must grow";

/// An envelope put into a collection whose newest version of the same id is `latest` (version and text):
/// stored as version 0 when there is none; the same bytes are a duplicate; other content is a conflict, or the
/// next version under [`DuplicatePolicy::NewVersion`].
pub(super) fn put_envelope(
    latest: Option<(u32, &[u8])>,
    text: &[u8],
    policy: DuplicatePolicy,
) -> Decision<u32> {
    match (latest, policy) {
        (None, _) => Decision::Write(0),
        (Some((_, stored)), _) if stored == text => Decision::Unchanged(WriteOutcome::Duplicate),
        (Some(_), DuplicatePolicy::KeepFirst) => Decision::Unchanged(WriteOutcome::Conflict),
        (Some((version, _)), DuplicatePolicy::NewVersion) => Decision::Write(version + 1),
    }
}

/// The position a collection's next envelope takes: the one after its last envelope, or the floor (see
/// [`super::WriteOp::RaiseEnvelopeFloor`]) when that is later, so that no cursor handed out before passes over
/// it.
pub(super) fn envelope_position(next_position: u64, floor: u64) -> u64 {
    next_position.max(floor)
}

/// The floor after a [`super::WriteOp::RaiseEnvelopeFloor`] to `to`: it never goes down.
pub(super) fn raised_floor(floor: u64, to: u64) -> u64 {
    floor.max(to)
}

/// An envelope version put back from a backup, into a collection whose newest version of the same id is
/// `latest_version` and whose next envelope takes `next_position`. Its version must be later than the
/// collection's versions of the id (a backup of an earlier stixgate, whose ids spanned collections, may skip
/// some) and its position at or after the next one; the largest position the engine stores (`largest`) is
/// refused too, since later envelopes take the one after, and so is a received time above it.
pub(super) fn restore_envelope(
    latest_version: Option<u32>,
    next_position: u64,
    envelope: &StoredEnvelope,
    largest: u64,
) -> Decision<()> {
    let next_version = latest_version.map_or(0, |version| version + 1);
    if envelope.version < next_version
        || envelope.position < next_position
        || envelope.position >= largest
        || envelope.received > largest
    {
        return Decision::Unchanged(WriteOutcome::Conflict);
    }
    Decision::Write(())
}

/// An object version put into a collection that holds the same version of the same id with the text
/// `same_version`, if any: the same object is a duplicate, other content a conflict. Otherwise it is stored as
/// this gives, added at `now`, or just after the collection's last `date_added` when that is not earlier, so that
/// `date_added` is unique and grows even within one group, and paging by it never skips.
pub(super) fn put_object(
    same_version: Option<&[u8]>,
    object: NewObject,
    now: u64,
    last_added: u64,
) -> Decision<StoredObject> {
    match same_version {
        Some(stored) if same_object(stored, &object.text) => {
            Decision::Unchanged(WriteOutcome::Duplicate)
        }
        Some(_) => Decision::Unchanged(WriteOutcome::Conflict),
        None => Decision::Write(StoredObject {
            id: object.id,
            version: object.version,
            version_text: object.version_text,
            date_added: now.max(last_added + 1),
            text: object.text,
        }),
    }
}

/// Whether `text` is the same object as the stored `stored`: the same bytes (nearly always, for a resent
/// object) or the same JSON value (a client that reformatted it).
fn same_object(stored: &[u8], text: &[u8]) -> bool {
    stored == text || same_json::same_json(stored, text)
}

/// An object version put back from a backup with its `date_added`, into a collection whose last `date_added` is
/// `last_added`, and that holds the same version of the same id already when `version_held`. A version held
/// already is a conflict; so is a `date_added` not after the collection's last, or the largest the engine
/// stores (`largest`), since later additions take the one after.
pub(super) fn restore_object(
    version_held: bool,
    date_added: u64,
    last_added: u64,
    largest: u64,
) -> Decision<()> {
    if version_held || date_added <= last_added || date_added >= largest {
        return Decision::Unchanged(WriteOutcome::Conflict);
    }
    Decision::Write(())
}

/// An object version as the current group sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held<T> {
    /// Stored before the group; `T` locates it.
    Stored(T),
    /// Written by the group itself.
    Written,
}

/// A delete of an object version that the collection holds as `held`: removed when stored before the group,
/// absent when not held. A delete names a version read from the store, so a group never deletes a version it
/// wrote itself, which the engine has not persisted yet: such a group is malformed.
pub(super) fn delete_object<T>(held: Option<Held<T>>) -> StoreResult<Decision<T>> {
    match held {
        None => Ok(Decision::Unchanged(WriteOutcome::Absent)),
        Some(Held::Stored(place)) => Ok(Decision::Write(place)),
        Some(Held::Written) => Err(StoreError::Malformed(
            "delete of an object written in the same group".into(),
        )),
    }
}

/// Whether a prune of the statuses stored before `before` removes one stored at `stored_at`.
pub(super) fn pruned(stored_at: u64, before: u64) -> bool {
    stored_at < before
}

/// The outcome of a removal (a prune) that removed something or nothing.
pub(super) fn removal(removed: bool) -> WriteOutcome {
    if removed {
        WriteOutcome::Removed
    } else {
        WriteOutcome::Absent
    }
}

/// Whether a put envelope's objects are stored with it: only when the envelope itself is stored, so that a
/// duplicate or a conflict writes nothing at all.
pub(super) fn stores_objects(envelope: WriteOutcome) -> bool {
    matches!(envelope, WriteOutcome::Stored { .. })
}
