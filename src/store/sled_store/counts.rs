//! The `C` counts of each collection: moved in the batch of the write they count, and made once from the
//! data when a database written before they existed is opened.

use std::collections::HashMap;

use sled::{Batch, Tree};

use super::records::{Counts, decode_envelope};
use super::{Pending, SledStore, io_error, malformed};
use crate::store::StoreResult;
use crate::store::keys;

impl SledStore {
    /// Moves a collection's counts by what one write added (1) or removed (-1), in that write's batch.
    pub(super) fn count(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        collection: &str,
        (objects, envelopes): (i64, i64),
    ) -> StoreResult<()> {
        let counts = match pending.counts.get_mut(collection) {
            Some(counts) => counts,
            None => {
                let stored = self.stored_counts(collection)?;
                pending
                    .counts
                    .entry(collection.to_owned())
                    .or_insert(stored)
            }
        };
        counts.objects = counts.objects.saturating_add_signed(objects);
        counts.envelopes = counts.envelopes.saturating_add_signed(envelopes);
        batch.insert(keys::counts(collection), counts.encode());
        Ok(())
    }

    /// The counts as the tree holds them.
    pub(super) fn stored_counts(&self, collection: &str) -> StoreResult<Counts> {
        match self.tree.get(keys::counts(collection)).map_err(io_error)? {
            Some(value) => Counts::decode(&value),
            None => Ok(Counts::default()),
        }
    }
}

/// Counts every collection's objects and envelopes, unless that was done before.
pub(super) fn count_collections_once(tree: &Tree) -> StoreResult<()> {
    if tree.contains_key(keys::META_COUNTS).map_err(io_error)? {
        return Ok(());
    }
    let mut counts: HashMap<String, Counts> = HashMap::new();
    for key in tree.scan_prefix([keys::ADDED]).keys() {
        let key = key.map_err(io_error)?;
        let (collection, _) = keys::parse_any_added(&key).ok_or_else(|| malformed("added key"))?;
        counts.entry(collection.to_owned()).or_default().objects += 1;
    }
    for entry in tree.scan_prefix([keys::ENVELOPE]) {
        let (key, value) = entry.map_err(io_error)?;
        let (id, version) = keys::parse_envelope(&key).ok_or_else(|| malformed("envelope key"))?;
        let envelope = decode_envelope(id, version, &value)?;
        counts.entry(envelope.collection).or_default().envelopes += 1;
    }
    let mut batch = Batch::default();
    for (collection, counts) in counts {
        batch.insert(keys::counts(&collection), counts.encode());
    }
    batch.insert(keys::META_COUNTS, &[][..]);
    tree.apply_batch(batch).map_err(io_error)
}
