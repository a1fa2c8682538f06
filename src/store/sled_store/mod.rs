//! The sled engine. See [`super::keys`] for the layout and [`super::text_log`] for the texts: this file opens the
//! store and reads it, `write.rs` applies writes, `groups.rs` encodes and walks the group records, `records.rs`
//! the other values, `texts.rs` reads texts, `pages.rs` lends pages of objects with their texts, `format.rs` checks
//! the layout version (and refuses earlier ones), `index.rs` keeps the in-memory indexes built from the records and
//! `lookup.rs` reads through them.

mod compact;
mod counts;
mod entry_texts;
mod format;
mod group_entries;
mod groups;
mod index;
mod inline_str;
mod lookup;
mod packed;
mod pages;
mod pending;
mod records;
mod room;
mod splice;
mod texts;
mod write;

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use sled::Tree;

use self::group_entries::{Envelopes, Objects};
use self::groups::{Bound, Scan};
use self::index::{IdHasher, Indexes};
use super::fields::Fields;
use super::keys;
use super::text_log::{DEFAULT_SEGMENT_BYTES, MAX_SEGMENT_BYTES, TextLog, Window};
use super::type_of;
use super::{
    CollectionSummary, Compaction, ObjectRef, Store, StoreError, StoreIter, StoreResult,
    StoredEnvelope, StoredObject, StoredStatus, WriteOp, WriteOutcome,
};

/// sled's page cache when the configuration does not set one (`[store] cache_mb`); sled's own default is 1 GiB.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// What `[store]` sets for this engine.
#[derive(Debug, Clone, Copy)]
pub struct SledOptions {
    /// sled's page cache, in MiB.
    pub cache_mb: u64,
    /// Where the text log starts a new segment, in MiB (at most 1024): the unit of compaction.
    pub segment_mb: u32,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_mb: DEFAULT_CACHE_MB,
            segment_mb: DEFAULT_SEGMENT_BYTES >> 20,
        }
    }
}

pub struct SledStore {
    /// The data directory, for messages that must say where writing failed.
    path: PathBuf,
    db: sled::Db,
    tree: Tree,
    log: TextLog,
    /// Only the writer changes them, holding the write lock for a whole `apply`, so that readers never see
    /// half a group; readers build a missing part under the write lock too.
    indexes: RwLock<Indexes>,
}

impl SledStore {
    /// Opens (or creates) the database in `path` with the default cache. Fails with [`StoreError::Locked`]
    /// while another process has it.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_options(path, SledOptions::default())
    }

    /// [`SledStore::open`] with `options`.
    pub fn open_with_options(path: &Path, options: SledOptions) -> StoreResult<Self> {
        Self::open_with(path, options, IdHasher::random())
    }

    fn open_with(path: &Path, options: SledOptions, hasher: IdHasher) -> StoreResult<Self> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_mb.saturating_mul(1024 * 1024))
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| open_error(path, e))?;
        let tree = (*db).clone();
        format::check(path, &db, &tree)?;
        let segment_bytes = options
            .segment_mb
            .saturating_mul(1 << 20)
            .clamp(1 << 20, MAX_SEGMENT_BYTES);
        let log = texts::open_log(path, &tree, segment_bytes)?;
        let envelope_floor = match tree.get(keys::META_ENVELOPE_FLOOR).map_err(io_error)? {
            Some(value) => Fields::new(&value, "envelope floor").u64()?,
            None => 0,
        };
        Ok(Self {
            path: path.to_owned(),
            db,
            tree,
            log,
            indexes: RwLock::new(Indexes::new(hasher, envelope_floor)),
        })
    }

    /// A store whose ids all have the same hash, to show that collisions are harmless.
    #[cfg(test)]
    fn open_colliding(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, SledOptions::default(), IdHasher::colliding())
    }

    fn write_error(&self, error: sled::Error) -> StoreError {
        match error {
            sled::Error::Io(e)
                if e.kind() == io::ErrorKind::StorageFull && self.check_room(0).is_ok() =>
            {
                room::stopped_index(&self.path)
            }
            sled::Error::Io(e) => StoreError::data_directory(&self.path, &e),
            other => io_error(other),
        }
    }
}

impl Store for SledStore {
    fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        // Before anything is touched: a group refused here leaves the indexes as they are.
        self.check_room(0)?;
        let mut indexes = self.write_indexes();
        let applied = self.apply_group(&mut indexes, ops);
        if applied.is_err() {
            // The indexes may name records the failed batch did not write, or miss ones it did not remove.
            indexes.forget();
        }
        applied
    }

    fn flush(&self) -> StoreResult<()> {
        self.db.flush().map(drop).map_err(|e| self.write_error(e))
    }

    fn envelope(&self, collection: &str, id: &str) -> StoreResult<Option<StoredEnvelope>> {
        let positions = self.envelope_positions(collection, id)?;
        self.newest_envelope(collection, &positions, id, None)
    }

    fn envelope_version(
        &self,
        collection: &str,
        id: &str,
        version: u32,
    ) -> StoreResult<Option<StoredEnvelope>> {
        let positions = self.envelope_positions(collection, id)?;
        self.newest_envelope(collection, &positions, id, Some(version))
    }

    fn envelopes_after(
        &self,
        collection: &str,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope> {
        let from = after.map_or(0, |a| a.saturating_add(1));
        self.envelope_scan(&keys::envelope_groups(collection), Bound::From(from))
    }

    fn envelopes_before(
        &self,
        collection: &str,
        before: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope> {
        let before = before.unwrap_or(u64::MAX);
        self.envelope_scan(&keys::envelope_groups(collection), Bound::Before(before))
    }

    fn envelopes(&self) -> StoreIter<'_, StoredEnvelope> {
        self.envelope_scan(&[keys::ENVELOPE_GROUP], Bound::From(0))
    }

    fn collection_summary(&self, collection: &str) -> StoreResult<CollectionSummary> {
        let counts = self.stored_counts(collection)?;
        let prefix = keys::object_groups(collection);
        Ok(CollectionSummary {
            objects: counts.objects,
            envelopes: counts.envelopes,
            newest_added: groups::last_position::<Objects>(&self.tree, &prefix)?,
        })
    }

    fn added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredObject> {
        if let Some(object_type) = object_type {
            match self.with_collection(collection, |_, index| index.has_type(object_type)) {
                Ok(true) => {}
                Ok(false) => return Box::new(std::iter::empty()),
                Err(error) => return Box::new(std::iter::once(Err(error))),
            }
        }
        let object_type = object_type.map(str::to_owned);
        let mut window = Window::default();
        let bound = Bound::From(after.map_or(0, |a| a.saturating_add(1)));
        let scan = Scan::<Objects, _>::new(
            &self.tree,
            &keys::object_groups(collection),
            bound,
            move |_: &[u8], entry: group_entries::ObjectEntry| {
                if object_type
                    .as_deref()
                    .is_some_and(|t| type_of(&entry.id) != t)
                {
                    return Ok(None);
                }
                let text = self.text(entry.place, &mut window)?;
                Ok(Some(entry.into_stored(text)))
            },
        );
        boxed(scan)
    }

    fn visit_added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
        expected: usize,
        visit: &mut dyn FnMut(ObjectRef<'_>) -> ControlFlow<()>,
    ) -> StoreResult<()> {
        if let Some(object_type) = object_type
            && !self.with_collection(collection, |_, index| index.has_type(object_type))?
        {
            return Ok(());
        }
        let from = after.map_or(0, |a| a.saturating_add(1));
        self.visit_objects(collection, object_type, from, expected, visit)
    }

    fn object(
        &self,
        collection: &str,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<StoredObject>> {
        let mut versions = self.stored_versions(collection, id, |entry| {
            if entry.version != version {
                return Ok(None);
            }
            let text = self.text(entry.place, &mut Window::default())?;
            Ok(Some(entry.into_stored(text)))
        })?;
        Ok(versions.iter_mut().find_map(Option::take))
    }

    fn object_versions(&self, collection: &str, id: &str) -> StoreResult<Vec<StoredObject>> {
        let mut window = Window::default();
        let mut versions = self.stored_versions(collection, id, |entry| {
            let text = self.text(entry.place, &mut window)?;
            Ok(entry.into_stored(text))
        })?;
        versions.sort_unstable_by_key(|object| object.version);
        Ok(versions)
    }

    fn all_objects(&self) -> StoreIter<'_, (String, StoredObject)> {
        let mut window = Window::default();
        let scan = Scan::<Objects, _>::new(
            &self.tree,
            &[keys::OBJECT_GROUP],
            Bound::From(0),
            move |key: &[u8], entry: group_entries::ObjectEntry| {
                let (collection, _) = keys::parse_collection_key(keys::OBJECT_GROUP, key)
                    .ok_or_else(|| malformed("object group key"))?;
                let collection = collection.to_owned();
                let text = self.text(entry.place, &mut window)?;
                Ok(Some((collection, entry.into_stored(text))))
            },
        );
        boxed(scan)
    }

    fn version_bounds(&self, collection: &str, id: &str) -> StoreResult<Option<(i64, i64)>> {
        let versions = self.stored_versions(collection, id, |entry| Ok(entry.version))?;
        let first = versions.iter().min().copied();
        Ok(first.zip(versions.iter().max().copied()))
    }

    /// True too, though rarely, when two ids of the collection share a hash (see `index.rs`): listings then look
    /// versions up where they need not.
    fn has_multiple_versions(&self, collection: &str) -> StoreResult<bool> {
        self.with_collection(collection, |_, index| index.ids.has_shared())
    }

    fn status(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let value = self.tree.get(keys::status(id)).map_err(io_error)?;
        value
            .map(|v| packed::unpack_status(&v).map(|(_, text)| text))
            .transpose()
    }

    fn statuses(&self) -> StoreIter<'_, StoredStatus> {
        Box::new(self.tree.scan_prefix([keys::STATUS]).map(|entry| {
            let (key, value) = entry.map_err(io_error)?;
            let id = std::str::from_utf8(&key[1..]).map_err(|_| malformed("status key"))?;
            let (stored_at, text) = packed::unpack_status(&value)?;
            Ok(StoredStatus {
                id: id.to_owned(),
                stored_at,
                text,
            })
        }))
    }

    fn notes(&self) -> StoreIter<'_, (String, Vec<u8>)> {
        Box::new(self.tree.scan_prefix([keys::NOTE]).map(|entry| {
            let (key, value) = entry.map_err(io_error)?;
            let key = std::str::from_utf8(&key[1..]).map_err(|_| malformed("note key"))?;
            Ok((key.to_owned(), value.to_vec()))
        }))
    }

    fn note(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(keys::note(key))
            .map_err(io_error)?
            .map(|v| v.to_vec()))
    }

    fn view(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let value = self.tree.get(keys::view(key)).map_err(io_error)?;
        value.map(|v| packed::unpack(&v, "view")).transpose()
    }

    fn view_range(&self, prefix: &[u8], after: Option<&[u8]>) -> StoreIter<'_, (Vec<u8>, Vec<u8>)> {
        let prefix = keys::view(prefix);
        let start = match after {
            // The smallest key after `after`.
            Some(after) => {
                let mut start = keys::view(after);
                start.push(0);
                start
            }
            None => prefix.clone(),
        };
        Box::new(
            self.tree
                .range(start..)
                .take_while(move |entry| {
                    entry
                        .as_ref()
                        .map_or(true, |(key, _)| key.starts_with(&prefix))
                })
                .map(|entry| {
                    let (key, value) = entry.map_err(io_error)?;
                    Ok((key[1..].to_vec(), packed::unpack(&value, "view")?))
                }),
        )
    }

    fn cursor_secret(&self) -> StoreResult<[u8; 32]> {
        let fresh: [u8; 32] = {
            let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            let mut bytes = [0; 32];
            bytes[..16].copy_from_slice(a.as_bytes());
            bytes[16..].copy_from_slice(b.as_bytes());
            bytes
        };
        // Only the first writer's secret is kept, whoever races.
        let _ = self
            .tree
            .compare_and_swap(keys::META_CURSOR_SECRET, None::<&[u8]>, Some(&fresh[..]))
            .map_err(io_error)?;
        self.flush()?;
        let stored = self
            .tree
            .get(keys::META_CURSOR_SECRET)
            .map_err(io_error)?
            .ok_or_else(|| malformed("cursor secret"))?;
        stored
            .as_ref()
            .try_into()
            .map_err(|_| malformed("cursor secret"))
    }

    fn compact(&self) -> StoreResult<Compaction> {
        self.compact_texts()
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        let texts = self.log.size().map_err(|e| self.log_error(e))?;
        Ok(self.db.size_on_disk().map_err(io_error)? + texts)
    }
}

impl SledStore {
    /// The envelope versions of the keyspace `prefix` (one collection's, or every collection's) within `bound`.
    fn envelope_scan(&self, prefix: &[u8], bound: Bound) -> StoreIter<'_, StoredEnvelope> {
        let mut window = Window::default();
        let scan = Scan::<Envelopes, _>::new(
            &self.tree,
            prefix,
            bound,
            move |_: &[u8], entry: group_entries::EnvelopeEntry| {
                let text = self.text(entry.place, &mut window)?;
                Ok(Some(entry.into_stored(text)))
            },
        );
        boxed(scan)
    }
}

/// A scan as a store iterator, or its one error.
fn boxed<'a, T: Send + 'a>(
    scan: StoreResult<impl Iterator<Item = StoreResult<T>> + Send + 'a>,
) -> StoreIter<'a, T> {
    match scan {
        Ok(scan) => Box::new(scan),
        Err(error) => Box::new(std::iter::once(Err(error))),
    }
}

pub(crate) fn now_micros() -> u64 {
    let now = chrono::Utc::now().timestamp_micros();
    u64::try_from(now).expect("the clock is after 1970")
}

fn open_error(path: &Path, error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
            StoreError::Locked(path.to_owned())
        }
        sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
            StoreError::Locked(path.to_owned())
        }
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            path: path.to_owned(),
            detail: error.to_string(),
        },
        sled::Error::Io(e) => StoreError::data_directory(path, &e),
        other => io_error(other),
    }
}

fn io_error(error: sled::Error) -> StoreError {
    StoreError::Io(Box::new(error))
}

fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(what.to_owned())
}

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod groups_tests;
#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;
