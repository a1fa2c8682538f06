//! The client's notes in the store: where each pull and push stopped, and where each envelope came from.
//! Values are JSON, so that a note can gain fields without a migration.

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, StoreResult, WriteOp};

/// The key of a pull's checkpoint: one per local collection and remote collection.
pub fn pull_key(local: &str, remote: &str) -> String {
    format!("pull {local} {remote}")
}

/// The key of a push's checkpoint: one per local collection and remote collection.
pub fn push_key(local: &str, remote: &str) -> String {
    format!("push {local} {remote}")
}

/// Envelope ids are unique within a collection only: the same id pulled into two collections has two notes.
fn provenance_key(collection: &str, envelope_id: &str) -> String {
    format!("provenance {collection} {envelope_id}")
}

#[derive(Debug, Serialize, Deserialize)]
struct PullCheckpoint {
    /// The remote's `X-TAXII-Date-Added-Last` of the last page stored, verbatim.
    added_after: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct PushCheckpoint {
    /// The local `date_added` (microseconds) of the last object the remote acknowledged.
    date_added: u64,
}

/// Where an envelope came from: the remote collection it was first pulled from, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub peer: String,
    pub received: String,
}

pub fn read_pull(store: &dyn Store, key: &str) -> StoreResult<Option<String>> {
    Ok(read::<PullCheckpoint>(store, key)?.map(|c| c.added_after))
}

pub fn pull_note(key: String, added_after: String) -> WriteOp {
    note(key, &PullCheckpoint { added_after })
}

pub fn read_push(store: &dyn Store, key: &str) -> StoreResult<Option<u64>> {
    Ok(read::<PushCheckpoint>(store, key)?.map(|c| c.date_added))
}

pub fn push_note(key: String, date_added: u64) -> WriteOp {
    note(key, &PushCheckpoint { date_added })
}

pub fn provenance_note(collection: &str, envelope_id: &str, provenance: &Provenance) -> WriteOp {
    note(provenance_key(collection, envelope_id), provenance)
}

/// Where the envelope `envelope_id` of the local `collection` came from.
pub fn read_provenance(
    store: &dyn Store,
    collection: &str,
    envelope_id: &str,
) -> StoreResult<Option<Provenance>> {
    read(store, &provenance_key(collection, envelope_id))
}

fn note(key: String, value: &impl Serialize) -> WriteOp {
    WriteOp::PutNote {
        key,
        value: serde_json::to_vec(value).expect("notes serialize"),
    }
}

fn read<T: for<'de> Deserialize<'de>>(store: &dyn Store, key: &str) -> StoreResult<Option<T>> {
    store
        .note(key)?
        .map(|value| {
            serde_json::from_slice(&value)
                .map_err(|e| StoreError::Malformed(format!("the note {key:?}: {e}")))
        })
        .transpose()
}
