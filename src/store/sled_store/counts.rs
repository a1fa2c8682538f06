//! The `C` counts of each collection, moved in the batch of the write they count. Every database of this
//! layout has had them from its first write.

use sled::Batch;

use super::pending::Pending;
use super::records::Counts;
use super::{SledStore, io_error};
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
