//! Reading through the in-memory indexes: a lookup by id takes the entries its hash names (by position) from the
//! group records of its collection that hold them and keeps those of that id.

use std::sync::{PoisonError, RwLockReadGuard, RwLockWriteGuard};

use super::SledStore;
use super::group_entries::{Envelopes, ObjectEntry, Objects};
use super::groups;
use super::index::{CollectionIndex, EnvelopeIndex, IdHasher, Indexes};
use crate::store::keys;
use crate::store::text_log::Window;
use crate::store::{StoreResult, StoredEnvelope};

impl SledStore {
    /// The indexes for the writer. A writer that panicked left them half done: they are built again.
    pub(super) fn write_indexes(&self) -> RwLockWriteGuard<'_, Indexes> {
        match self.indexes.write() {
            Ok(indexes) => indexes,
            Err(poisoned) => {
                let mut indexes = poisoned.into_inner();
                indexes.forget();
                self.indexes.clear_poison();
                indexes
            }
        }
    }

    pub(super) fn read_indexes(&self) -> RwLockReadGuard<'_, Indexes> {
        if self.indexes.is_poisoned() {
            drop(self.write_indexes());
        }
        self.indexes.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `read` gives from a collection's index, built first if this is its first use.
    pub(super) fn with_collection<R>(
        &self,
        collection: &str,
        read: impl Fn(&IdHasher, &CollectionIndex) -> R,
    ) -> StoreResult<R> {
        {
            let indexes = self.read_indexes();
            if let Some(index) = indexes.loaded_collection(collection) {
                return Ok(read(&indexes.hasher, index));
            }
        }
        let mut indexes = self.write_indexes();
        indexes.collection(&self.tree, collection)?;
        let index = indexes.loaded_collection(collection).expect("built above");
        Ok(read(&indexes.hasher, index))
    }

    /// The positions of `collection` that may hold versions of the envelope `id`, its envelope index built first if
    /// this is its first use.
    pub(super) fn envelope_positions(&self, collection: &str, id: &str) -> StoreResult<Vec<u64>> {
        let positions = |indexes: &Indexes, index: &EnvelopeIndex| {
            index.ids.get(indexes.hasher.hash(id)).to_vec()
        };
        {
            let indexes = self.read_indexes();
            if let Some(index) = indexes.loaded_envelopes(collection) {
                return Ok(positions(&indexes, index));
            }
        }
        let mut indexes = self.write_indexes();
        indexes.envelopes(&self.tree, collection)?;
        let index = indexes.loaded_envelopes(collection).expect("built above");
        Ok(positions(&indexes, index))
    }

    /// The newest envelope version of `collection` among the `positions` that is a version of `id` (`version` when
    /// given). A position with no entry (another id's, or a write that failed) is passed over.
    pub(super) fn newest_envelope(
        &self,
        collection: &str,
        positions: &[u64],
        id: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredEnvelope>> {
        let prefix = keys::envelope_groups(collection);
        for &position in positions.iter().rev() {
            let found = groups::find::<Envelopes, _>(&self.tree, &prefix, position, |entry| {
                if entry.id != id || version.is_some_and(|v| v != entry.version) {
                    return Ok(None);
                }
                let text = self.text(entry.place, &mut Window::default())?;
                Ok(Some(entry.into_stored(text)))
            })?;
            if let Some(Some(envelope)) = found {
                return Ok(Some(envelope));
            }
        }
        Ok(None)
    }

    /// What `read` gives of each stored version of object `id` in a collection, in order of addition.
    pub(super) fn stored_versions<T>(
        &self,
        collection: &str,
        id: &str,
        mut read: impl FnMut(ObjectEntry) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let dates = self.with_collection(collection, |hasher, index| {
            index.ids.get(hasher.hash(id)).to_vec()
        })?;
        self.versions_at(collection, id, &dates, &mut read)
    }

    /// What `read` gives of the versions of object `id` at `dates` in the tree (a date of another id, or of none,
    /// is passed over).
    pub(super) fn versions_at<T>(
        &self,
        collection: &str,
        id: &str,
        dates: &[u64],
        read: &mut impl FnMut(ObjectEntry) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let prefix = keys::object_groups(collection);
        let mut versions = Vec::with_capacity(dates.len());
        for &date_added in dates {
            let found = groups::find::<Objects, _>(&self.tree, &prefix, date_added, |entry| {
                (entry.id == id).then(|| read(entry)).transpose()
            })?;
            if let Some(Some(version)) = found {
                versions.push(version);
            }
        }
        Ok(versions)
    }
}
