//! Reading through the in-memory indexes: a lookup by id takes the records its hash names from the tree and
//! keeps those of that id.

use std::sync::{PoisonError, RwLockReadGuard, RwLockWriteGuard};

use sled::IVec;

use super::index::{CollectionIndex, HashIndex, IdHasher, Indexes};
use super::records::{EnvelopeRecord, ObjectRecord};
use super::{SledStore, io_error, malformed};
use crate::store::keys;
use crate::store::text_log::Window;
use crate::store::type_of;
use crate::store::{StoreResult, StoredEnvelope, StoredObject};

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

    /// The `N` seqs that may hold versions of the envelope `id`, built first if this is the index's first use.
    pub(super) fn envelope_seqs(&self, id: &str) -> StoreResult<Vec<u64>> {
        let seqs =
            |indexes: &Indexes, index: &HashIndex| index.get(indexes.hasher.hash(id)).to_vec();
        {
            let indexes = self.read_indexes();
            if let Some(index) = indexes.loaded_envelopes() {
                return Ok(seqs(&indexes, index));
            }
        }
        let mut indexes = self.write_indexes();
        indexes.envelopes(&self.tree)?;
        let index = indexes.loaded_envelopes().expect("built above");
        Ok(seqs(&indexes, index))
    }

    /// The newest of the `N` records at `seqs` that is a version of `id` (`version` when given), with its seq.
    /// A seq whose record is not in the tree (another id, or a write that failed) is passed over.
    pub(super) fn newest_envelope(
        &self,
        seqs: &[u64],
        id: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<(u64, IVec)>> {
        for &seq in seqs.iter().rev() {
            if let Some(value) = self.tree.get(keys::envelope_order(seq)).map_err(io_error)? {
                let record = EnvelopeRecord::decode(&value)?;
                if record.id == id && version.is_none_or(|v| v == record.version) {
                    return Ok(Some((seq, value)));
                }
            }
        }
        Ok(None)
    }

    /// The stored versions of object `id` in a collection, as `date_added` and `A` record, in order of addition.
    pub(super) fn stored_versions(
        &self,
        collection: &str,
        id: &str,
    ) -> StoreResult<Vec<(u64, IVec)>> {
        let dates = self.with_collection(collection, |hasher, index| {
            index.ids.get(hasher.hash(id)).to_vec()
        })?;
        let mut versions = Vec::with_capacity(dates.len());
        for date_added in dates {
            let key = keys::added(collection, date_added);
            if let Some(record) = self.tree.get(key).map_err(io_error)? {
                if ObjectRecord::decode(&record)?.id == id {
                    versions.push((date_added, record));
                }
            }
        }
        Ok(versions)
    }

    /// The envelope of an `N` entry.
    pub(super) fn ordered_envelope(
        &self,
        entry: sled::Result<(IVec, IVec)>,
        window: &mut Window,
    ) -> StoreResult<StoredEnvelope> {
        let (key, value) = entry.map_err(io_error)?;
        let seq = keys::parse_envelope_order(&key).ok_or_else(|| malformed("order key"))?;
        self.stored_envelope(seq, &value, window)
    }

    /// The object of an `A` entry, if it is of `object_type` (any when `None`); the type is read from the record
    /// before the text.
    pub(super) fn added_object(
        &self,
        prefix_len: usize,
        entry: sled::Result<(IVec, IVec)>,
        object_type: Option<&str>,
        window: &mut Window,
    ) -> StoreResult<Option<StoredObject>> {
        let (key, value) = entry.map_err(io_error)?;
        let date_added =
            keys::parse_added(prefix_len, &key).ok_or_else(|| malformed("added key"))?;
        let record = ObjectRecord::decode(&value)?;
        if object_type.is_some_and(|t| type_of(record.id) != t) {
            return Ok(None);
        }
        let text = self.text(record.place, window)?;
        Ok(Some(record.into_stored(date_added, text)))
    }
}
