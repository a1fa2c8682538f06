//! The in-memory indexes: sled holds group records (`G` for object versions, `R` for envelope versions, see
//! `keys.rs`), and everything else a lookup needs is built here from those records, once per process.
//!
//! sled's cost is per key, and keys inserted in random order (an id index) make its memory grow with the data; a
//! map in memory costs 16 bytes a text. The maps hold 64-bit hashes of ids, never the ids: a lookup reads the
//! records a hash names and keeps those whose id is the one asked for, so two ids whose hashes collide share a
//! slot and are told apart by their records.
//!
//! A collection's object index is built by one scan of its `G` records on first use, its envelope index by one scan
//! of its `R` records;
//! the writer keeps them up to date as it writes. They are derived data: nothing durable depends on them, and when
//! a write fails they are dropped and built again from what sled holds.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use sled::Tree;

use super::group_entries::{Envelopes, Objects};
use super::groups::{self, EntryKind};
use super::io_error;
use crate::store::StoreResult;
use crate::store::keys;
use crate::store::rules;
use crate::store::type_of;

/// Hashes ids for the maps. Keyed at random per process, so that no one can pick ids that collide.
pub(super) struct IdHasher(Option<RandomState>);

impl IdHasher {
    pub(super) fn random() -> Self {
        Self(Some(RandomState::new()))
    }

    /// Gives every id the same hash, so that tests can show that collisions are harmless.
    #[cfg(test)]
    pub(super) fn colliding() -> Self {
        Self(None)
    }

    pub(super) fn hash(&self, id: &str) -> u64 {
        self.0.as_ref().map_or(0, |state| state.hash_one(id))
    }
}

/// The maps' keys are hashes already: they are used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// Values (`date_added`s or envelope seqs) by id hash, in the order they were added. Nearly every hash has one value,
/// kept in a 16-byte slot; the few with more (versions, collisions) have a list of their own.
#[derive(Default)]
pub(super) struct HashIndex {
    one: PrehashedMap<u64>,
    more: PrehashedMap<Vec<u64>>,
}

impl HashIndex {
    pub(super) fn get(&self, hash: u64) -> &[u64] {
        match self.one.get(&hash) {
            Some(value) => std::slice::from_ref(value),
            None => self.more.get(&hash).map_or(&[], Vec::as_slice),
        }
    }

    pub(super) fn insert(&mut self, hash: u64, value: u64) {
        if let Some(values) = self.more.get_mut(&hash) {
            values.push(value);
        } else if let Some(first) = self.one.remove(&hash) {
            self.more.insert(hash, vec![first, value]);
        } else {
            self.one.insert(hash, value);
        }
    }

    pub(super) fn remove(&mut self, hash: u64, value: u64) {
        if self.one.get(&hash) == Some(&value) {
            self.one.remove(&hash);
        } else if let Some(values) = self.more.get_mut(&hash) {
            values.retain(|&v| v != value);
            if let [last] = values[..] {
                self.more.remove(&hash);
                self.one.insert(hash, last);
            }
        }
    }

    /// Whether some hash has two or more values: some id has several versions, or two ids collide.
    pub(super) fn has_shared(&self) -> bool {
        !self.more.is_empty()
    }
}

/// What the writer and readers need of one collection beyond its `G` records.
#[derive(Default)]
pub(super) struct CollectionIndex {
    /// Id hash to the `date_added` of each version.
    pub ids: HashIndex,
    /// The newest `date_added` given out, so that the next one is later.
    pub last_added: u64,
    /// Object versions per type, so that `match[type]` skips a scan for a type the collection lacks.
    types: HashMap<Box<str>, u64>,
}

impl CollectionIndex {
    pub(super) fn add(&mut self, hash: u64, id: &str, date_added: u64) {
        self.ids.insert(hash, date_added);
        self.last_added = self.last_added.max(date_added);
        match self.types.get_mut(type_of(id)) {
            Some(count) => *count += 1,
            None => {
                self.types.insert(type_of(id).into(), 1);
            }
        }
    }

    pub(super) fn remove(&mut self, hash: u64, id: &str, date_added: u64) {
        self.ids.remove(hash, date_added);
        if let Some(count) = self.types.get_mut(type_of(id)) {
            *count -= 1;
            if *count == 0 {
                self.types.remove(type_of(id));
            }
        }
    }

    pub(super) fn has_type(&self, object_type: &str) -> bool {
        self.types.contains_key(object_type)
    }
}

/// What the writer and readers need of one collection's envelopes beyond its `R` records.
#[derive(Default)]
pub(super) struct EnvelopeIndex {
    /// Envelope id hash to the position of each version.
    pub ids: HashIndex,
    /// The position after the collection's last envelope version (its next one takes this or the floor).
    pub next_position: u64,
}

pub(super) struct Indexes {
    pub hasher: IdHasher,
    /// The least position a collection's next envelope takes (`M envelope-floor`).
    pub envelope_floor: u64,
    collections: HashMap<String, CollectionIndex>,
    /// Each collection's envelope index, once used.
    envelopes: HashMap<String, EnvelopeIndex>,
}

impl Indexes {
    pub(super) fn new(hasher: IdHasher, envelope_floor: u64) -> Self {
        Self {
            hasher,
            envelope_floor,
            collections: HashMap::new(),
            envelopes: HashMap::new(),
        }
    }

    /// Drops what was built, to be built again from the tree on next use (after a write that failed halfway).
    pub(super) fn forget(&mut self) {
        self.collections.clear();
        self.envelopes.clear();
    }

    pub(super) fn loaded_collection(&self, collection: &str) -> Option<&CollectionIndex> {
        self.collections.get(collection)
    }

    pub(super) fn loaded_envelopes(&self, collection: &str) -> Option<&EnvelopeIndex> {
        self.envelopes.get(collection)
    }

    /// A collection's index, built from its `G` records if this is its first use.
    pub(super) fn collection(
        &mut self,
        tree: &Tree,
        collection: &str,
    ) -> StoreResult<&mut CollectionIndex> {
        if !self.collections.contains_key(collection) {
            let mut index = CollectionIndex::default();
            scan_entries::<Objects>(tree, &keys::object_groups(collection), |entry| {
                index.add(self.hasher.hash(&entry.id), &entry.id, entry.date_added);
            })?;
            self.collections.insert(collection.to_owned(), index);
        }
        Ok(self
            .collections
            .get_mut(collection)
            .expect("inserted above"))
    }

    /// The position the next envelope of `collection` takes.
    pub(super) fn next_envelope_position(
        &mut self,
        tree: &Tree,
        collection: &str,
    ) -> StoreResult<u64> {
        let floor = self.envelope_floor;
        let next_position = self.envelopes(tree, collection)?.next_position;
        Ok(rules::envelope_position(next_position, floor))
    }

    /// A collection's envelope index, built from its `R` records if this is its first use.
    pub(super) fn envelopes(
        &mut self,
        tree: &Tree,
        collection: &str,
    ) -> StoreResult<&mut EnvelopeIndex> {
        if !self.envelopes.contains_key(collection) {
            let mut index = EnvelopeIndex::default();
            scan_entries::<Envelopes>(tree, &keys::envelope_groups(collection), |entry| {
                index.ids.insert(self.hasher.hash(&entry.id), entry.seq);
                index.next_position = entry.seq + 1;
            })?;
            self.envelopes.insert(collection.to_owned(), index);
        }
        Ok(self.envelopes.get_mut(collection).expect("inserted above"))
    }
}

/// Gives `take` every entry of the records of the keyspace `prefix`, in order.
fn scan_entries<K: EntryKind>(
    tree: &Tree,
    prefix: &[u8],
    mut take: impl FnMut(K::Entry),
) -> StoreResult<()> {
    for record in tree.scan_prefix(prefix) {
        let (key, value) = record.map_err(io_error)?;
        for entry in groups::entries::<K>(groups::key_position(&key)?, &value) {
            take(entry?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_with_several_values_keeps_them_in_order_and_goes_back_to_one_slot() {
        let mut index = HashIndex::default();
        index.insert(7, 1);
        assert_eq!(index.get(7), [1]);
        assert!(!index.has_shared());
        index.insert(7, 2);
        index.insert(7, 3);
        assert_eq!(index.get(7), [1, 2, 3]);
        assert!(index.has_shared());
        index.remove(7, 2);
        index.remove(7, 1);
        assert_eq!(index.get(7), [3]);
        assert!(!index.has_shared());
        index.remove(7, 3);
        assert_eq!(index.get(7), [] as [u64; 0]);
        assert_eq!(index.get(8), [] as [u64; 0]);
    }
}
