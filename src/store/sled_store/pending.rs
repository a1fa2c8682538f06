//! What one writer group wrote, as later ops of the group see it, and the group records it becomes.

use std::collections::{BTreeMap, HashMap};

use sled::Batch;

use super::group_entries::{EnvelopeEntry, Envelopes, ObjectEntry, Objects};
use super::groups;
use super::records::{Counts, DeadBytes};
use crate::store::keys;
use crate::store::text_log::{Place, Staged, Window};

/// The writes of one `apply` that later ops of the same group must see, and the texts it places in the log.
pub(super) struct Pending {
    pub texts: Staged,
    /// The writer's reads of stored texts in this group.
    pub window: Window,
    /// The newest version of each envelope id the group wrote, with its text, by collection.
    pub envelopes: HashMap<String, HashMap<String, (u32, Vec<u8>)>>,
    /// The envelope versions the group wrote, in order: its collections' `R` records once the group is done.
    pub envelope_entries: Vec<PendingEnvelope>,
    /// The object versions the group wrote, by collection, in order of `date_added`: the index names them
    /// already, the tree not yet. They become the collection's `G` records once the group is done.
    pub objects: HashMap<String, Vec<PendingObject>>,
    /// Group records the group's deletes rewrote, by key: the new value, or `None` for a record left empty.
    pub rewritten: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// The `C` counts of the collections the group writes to, as its writes move them.
    pub counts: HashMap<String, Counts>,
    /// The bytes of texts the group's deletes stopped naming, by segment (`M dead-bytes`).
    pub dead: DeadBytes,
}

pub(super) struct PendingObject {
    pub date_added: u64,
    pub id: String,
    pub version: i64,
    pub version_text: String,
    pub text: Vec<u8>,
    pub place: Place,
}

pub(super) struct PendingEnvelope {
    pub seq: u64,
    pub id: String,
    pub version: u32,
    pub received: u64,
    pub collection: String,
    pub place: Place,
}

/// The object version a group wrote at `date_added`, if it did.
pub(super) fn pending_object(written: &[PendingObject], date_added: u64) -> Option<&PendingObject> {
    let at = written
        .binary_search_by_key(&date_added, |object| object.date_added)
        .ok()?;
    Some(&written[at])
}

/// Puts the group's records in its batch: the records its deletes rewrote, then its object versions and its
/// envelope versions (each by collection) as group records of at most `GROUP_ENTRIES` entries, each keyed by its
/// first position.
pub(super) fn write_groups(batch: &mut Batch, pending: &Pending) {
    for (key, value) in &pending.rewritten {
        match value {
            Some(value) => batch.insert(&key[..], &value[..]),
            None => batch.remove(&key[..]),
        }
    }
    for (collection, objects) in &pending.objects {
        let entries: Vec<_> = objects
            .iter()
            .map(|object| ObjectEntry {
                date_added: object.date_added,
                id: object.id.as_str().into(),
                version: object.version,
                version_text: object.version_text.as_str().into(),
                place: object.place,
            })
            .collect();
        groups::put::<Objects>(batch, &keys::object_groups(collection), &entries);
    }
    let mut envelopes: BTreeMap<&str, Vec<EnvelopeEntry>> = BTreeMap::new();
    for envelope in &pending.envelope_entries {
        envelopes
            .entry(&envelope.collection)
            .or_default()
            .push(EnvelopeEntry {
                seq: envelope.seq,
                id: envelope.id.as_str().into(),
                version: envelope.version,
                received: envelope.received,
                collection: envelope.collection.as_str().into(),
                place: envelope.place,
            });
    }
    for (collection, entries) in &envelopes {
        groups::put::<Envelopes>(batch, &keys::envelope_groups(collection), entries);
    }
}
