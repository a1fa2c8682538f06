//! Which ids have versions stored, kept in memory as 64-bit hashes, so that the writer looks an id up in the index
//! only when it may be there: nearly every posted object and envelope is new, and a scan of the index per write
//! cost a sixth of the writer's time. A hash that collides only costs that lookup.
//!
//! The sets are loaded from the index on first use (a collection's when it is first written to), and ids are added
//! as they are written; deletes leave them, which again costs only a lookup.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use sled::Tree;

use super::{io_error, malformed};
use crate::store::StoreResult;
use crate::store::keys;

#[derive(Default)]
pub(super) struct KnownIds {
    /// Random per process, so that no one can pick ids that collide.
    hasher: RandomState,
    objects: HashMap<String, HashSet<u64>>,
    envelopes: Option<HashSet<u64>>,
}

impl KnownIds {
    /// Whether the STIX id may have versions in the collection; `false` is certain.
    pub(super) fn object(&mut self, tree: &Tree, collection: &str, id: &str) -> StoreResult<bool> {
        let hash = self.hasher.hash_one(id.as_bytes());
        if let Some(known) = self.objects.get(collection) {
            return Ok(known.contains(&hash));
        }
        let prefix = keys::object(collection, &[]);
        let mut known = HashSet::new();
        for key in tree.scan_prefix(&prefix).keys() {
            let key = key.map_err(io_error)?;
            // The key ends in `0x00` and the version.
            let stored = key
                .get(prefix.len()..key.len().saturating_sub(9))
                .ok_or_else(|| malformed("object key"))?;
            known.insert(self.hasher.hash_one(stored));
        }
        let found = known.contains(&hash);
        self.objects.insert(collection.to_owned(), known);
        Ok(found)
    }

    pub(super) fn add_object(&mut self, collection: &str, id: &str) {
        let hash = self.hasher.hash_one(id.as_bytes());
        if let Some(known) = self.objects.get_mut(collection) {
            known.insert(hash);
        }
    }

    /// Whether the envelope id may have versions stored; `false` is certain.
    pub(super) fn envelope(&mut self, tree: &Tree, id: &str) -> StoreResult<bool> {
        let hash = self.hasher.hash_one(id.as_bytes());
        if let Some(known) = &self.envelopes {
            return Ok(known.contains(&hash));
        }
        let mut known = HashSet::new();
        for key in tree.scan_prefix([keys::ENVELOPE]).keys() {
            let key = key.map_err(io_error)?;
            let (stored, _) =
                keys::parse_envelope(&key).ok_or_else(|| malformed("envelope key"))?;
            known.insert(self.hasher.hash_one(stored.as_bytes()));
        }
        let found = known.contains(&hash);
        self.envelopes = Some(known);
        Ok(found)
    }

    pub(super) fn add_envelope(&mut self, id: &str) {
        let hash = self.hasher.hash_one(id.as_bytes());
        if let Some(known) = &mut self.envelopes {
            known.insert(hash);
        }
    }
}
