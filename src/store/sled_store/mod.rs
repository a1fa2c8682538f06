//! The sled engine. See [`super::keys`] for the index layout and [`super::text_log`] for the texts: this file
//! opens the store and reads it, `write.rs` applies writes, `records.rs` encodes the values, `texts.rs` reads texts
//! through them, `format.rs` checks the layout version, `known.rs` keeps the ids the writer has seen.

mod counts;
mod format;
mod known;
mod records;
mod texts;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::{Batch, IVec, Tree};

use self::known::KnownIds;
use self::records::{Counts, decode_bounds, encode_status};
use super::fields::Fields;
use super::keys;
use super::text_log::{Staged, TextLog, Window};
use super::{
    CollectionSummary, Store, StoreError, StoreIter, StoreResult, StoredEnvelope, StoredObject,
    StoredStatus, WriteOp, WriteOutcome,
};

/// Bounded so that a large database does not take the machine's memory (sled's default is 1 GiB).
const CACHE_BYTES: u64 = 256 * 1024 * 1024;

pub struct SledStore {
    /// The data directory, for messages that must say where writing failed.
    path: PathBuf,
    db: sled::Db,
    tree: Tree,
    log: TextLog,
    /// Counters only the writer moves; a lock, not an atomic, because `apply` reads and bumps them together.
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    next_seq: u64,
    /// Last `date_added` per collection, loaded on first use.
    last_added: HashMap<String, u64>,
    known: KnownIds,
}

/// The writes of one `apply` that later ops of the same group must see, and the texts it places in the log.
struct Pending {
    texts: Staged,
    envelopes: HashMap<String, (u32, Vec<u8>)>,
    /// `O` key to the object's text, or `None` once deleted; ordered, for the versions of one object.
    objects: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The `C` counts of the collections the group writes to, as its writes move them.
    counts: HashMap<String, Counts>,
}

impl SledStore {
    /// Opens (or creates) the database in `path`. Fails with [`StoreError::Locked`] while another process has it.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| open_error(path, e))?;
        let tree = (*db).clone();
        format::check(path, &db, &tree)?;
        let log = texts::open_log(path, &tree)?;
        let next_seq = match last_entry(&tree, &[keys::ENVELOPE_ORDER])? {
            Some((key, _)) => Fields::new(&key[1..], "order key").u64()? + 1,
            None => 0,
        };
        Ok(Self {
            path: path.to_owned(),
            db,
            tree,
            log,
            counters: Mutex::new(Counters {
                next_seq,
                last_added: HashMap::new(),
                known: KnownIds::default(),
            }),
        })
    }

    /// The envelope an `N` entry names.
    fn ordered_envelope(
        &self,
        entry: sled::Result<(IVec, IVec)>,
        window: &mut Window,
    ) -> StoreResult<StoredEnvelope> {
        let (_, envelope_key) = entry.map_err(io_error)?;
        let (id, version) =
            keys::parse_envelope(&envelope_key).ok_or_else(|| malformed("order entry"))?;
        let value = self
            .tree
            .get(&envelope_key)
            .map_err(io_error)?
            .ok_or_else(|| malformed("order entry without envelope"))?;
        self.stored_envelope(id, version, &value, window)
    }

    fn write_error(&self, error: sled::Error) -> StoreError {
        match error {
            sled::Error::Io(e) => StoreError::data_directory(&self.path, &e),
            other => io_error(other),
        }
    }
}

impl Store for SledStore {
    fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        let mut counters = self
            .counters
            .lock()
            .expect("no writer panics while holding the lock");
        let mut batch = Batch::default();
        let mut pending = Pending {
            texts: self.log.stage(),
            envelopes: HashMap::new(),
            objects: BTreeMap::new(),
            counts: HashMap::new(),
        };
        let now = now_micros();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let outcome = match op {
                WriteOp::PutEnvelope {
                    envelope,
                    collection,
                    policy,
                    objects,
                } => {
                    let outcome = self.put_envelope(
                        &mut batch,
                        &mut pending,
                        &mut counters,
                        envelope,
                        &collection,
                        policy,
                        now,
                    )?;
                    if let WriteOutcome::Stored { .. } = outcome {
                        for object in objects {
                            self.put_object(
                                &mut batch,
                                &mut pending,
                                &mut counters,
                                &collection,
                                object,
                                now,
                            )?;
                        }
                    }
                    outcome
                }
                WriteOp::PutObject { collection, object } => self.put_object(
                    &mut batch,
                    &mut pending,
                    &mut counters,
                    &collection,
                    object,
                    now,
                )?,
                WriteOp::DeleteObject {
                    collection,
                    id,
                    version,
                } => self.delete_object(&mut batch, &mut pending, &collection, &id, version)?,
                WriteOp::PutStatus { id, text } => {
                    batch.insert(keys::status(&id), encode_status(now, &text));
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::PruneStatuses { before } => self.prune_statuses(&mut batch, before)?,
                WriteOp::PutNote { key, value } => {
                    batch.insert(keys::note(&key), value);
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::PutView { key, value } => {
                    batch.insert(keys::view(&key), value);
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::DeleteView { key } => {
                    batch.remove(keys::view(&key));
                    WriteOutcome::Removed
                }
                WriteOp::ClearView { prefix } => {
                    for key in self.tree.scan_prefix(keys::view(&prefix)).keys() {
                        batch.remove(key.map_err(io_error)?);
                    }
                    WriteOutcome::Removed
                }
                WriteOp::RestoreEnvelope(envelope) => {
                    self.restore_envelope(&mut batch, &mut pending, &mut counters, envelope)?
                }
                WriteOp::RestoreObject { collection, object } => self.restore_object(
                    &mut batch,
                    &mut pending,
                    &mut counters,
                    &collection,
                    object,
                )?,
                WriteOp::RestoreStatus(status) => {
                    batch.insert(
                        keys::status(&status.id),
                        encode_status(status.stored_at, &status.text),
                    );
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::SetCursorSecret(secret) => {
                    batch.insert(keys::META_CURSOR_SECRET, &secret[..]);
                    WriteOutcome::Stored { version: 0 }
                }
            };
            outcomes.push(outcome);
        }
        // The texts are durable before anything can name them (the crash rules of `text_log`).
        if !pending.texts.is_empty() {
            batch.insert(keys::META_LOG_END, &pending.texts.end().encode()[..]);
            self.log
                .commit(pending.texts)
                .map_err(|e| self.log_error(e))?;
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        Ok(outcomes)
    }

    fn flush(&self) -> StoreResult<()> {
        self.db.flush().map(drop).map_err(|e| self.write_error(e))
    }

    fn envelope(&self, id: &str) -> StoreResult<Option<StoredEnvelope>> {
        self.latest_envelope(id)?
            .map(|(version, value)| {
                self.stored_envelope(id, version, &value, &mut Window::default())
            })
            .transpose()
    }

    fn envelopes_after(&self, after: Option<u64>) -> StoreIter<'_, StoredEnvelope> {
        let start = keys::envelope_order(after.map_or(0, |a| a.saturating_add(1)));
        let end = [keys::ENVELOPE_ORDER + 1];
        let mut window = Window::default();
        Box::new(
            self.tree
                .range(start..end[..].to_vec())
                .map(move |entry| self.ordered_envelope(entry, &mut window)),
        )
    }

    fn envelopes_before(&self, before: Option<u64>) -> StoreIter<'_, StoredEnvelope> {
        let end = match before {
            Some(before) => keys::envelope_order(before),
            None => vec![keys::ENVELOPE_ORDER + 1],
        };
        let mut window = Window::default();
        Box::new(
            self.tree
                .range(vec![keys::ENVELOPE_ORDER]..end)
                .rev()
                .map(move |entry| self.ordered_envelope(entry, &mut window)),
        )
    }

    fn collection_summary(&self, collection: &str) -> StoreResult<CollectionSummary> {
        let counts = self.stored_counts(collection)?;
        let prefix = keys::added_prefix(collection, None);
        let newest_added = last_entry(&self.tree, &prefix)?
            .map(|(key, _)| {
                keys::parse_added(prefix.len(), &key).ok_or_else(|| malformed("added key"))
            })
            .transpose()?;
        Ok(CollectionSummary {
            objects: counts.objects,
            envelopes: counts.envelopes,
            newest_added,
        })
    }

    fn added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredObject> {
        let prefix = keys::added_prefix(collection, object_type);
        let start = keys::added(
            collection,
            object_type,
            after.map_or(0, |a| a.saturating_add(1)),
        );
        let mut end = prefix.clone();
        end.push(0xff);
        let collection = collection.to_owned();
        let typed = object_type.is_some();
        let mut window = Window::default();
        Box::new(self.tree.range(start..end).map(move |entry| {
            let (key, value) = entry.map_err(io_error)?;
            let date_added =
                keys::parse_added(prefix.len(), &key).ok_or_else(|| malformed("added key"))?;
            let record = if typed {
                self.tree
                    .get(keys::added(&collection, None, date_added))
                    .map_err(io_error)?
                    .ok_or_else(|| malformed("type index without record"))?
            } else {
                value
            };
            self.stored_object(&record, date_added, &mut window)
        }))
    }

    fn object(
        &self,
        collection: &str,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<StoredObject>> {
        let key = keys::object(collection, &keys::object_suffix(id, version));
        let Some(date_added) = self.tree.get(&key).map_err(io_error)? else {
            return Ok(None);
        };
        let (date_added, record) = self.record_at(&key, &date_added)?;
        self.stored_object(&record, date_added, &mut Window::default())
            .map(Some)
    }

    fn object_versions(&self, collection: &str, id: &str) -> StoreResult<Vec<StoredObject>> {
        let mut versions = Vec::new();
        let mut window = Window::default();
        for entry in self
            .tree
            .scan_prefix(keys::object_versions_prefix(collection, id))
        {
            let (key, index) = entry.map_err(io_error)?;
            let (date_added, record) = self.record_at(&key, &index)?;
            versions.push(self.stored_object(&record, date_added, &mut window)?);
        }
        Ok(versions)
    }

    fn all_objects(&self) -> StoreIter<'_, (String, StoredObject)> {
        let mut window = Window::default();
        Box::new(self.tree.scan_prefix([keys::ADDED]).map(move |entry| {
            let (key, value) = entry.map_err(io_error)?;
            let (collection, date_added) =
                keys::parse_any_added(&key).ok_or_else(|| malformed("added key"))?;
            let object = self.stored_object(&value, date_added, &mut window)?;
            Ok((collection.to_owned(), object))
        }))
    }

    fn version_bounds(&self, collection: &str, id: &str) -> StoreResult<Option<(i64, i64)>> {
        if let Some(bounds) = self
            .tree
            .get(keys::bounds(collection, id))
            .map_err(io_error)?
        {
            return decode_bounds(&bounds).map(Some);
        }
        // No bounds: one version, or none.
        match self
            .tree
            .scan_prefix(keys::object_versions_prefix(collection, id))
            .keys()
            .next()
        {
            None => Ok(None),
            Some(key) => {
                let key = key.map_err(io_error)?;
                let version =
                    keys::version_of_object_key(&key).ok_or_else(|| malformed("object key"))?;
                Ok(Some((version, version)))
            }
        }
    }

    fn has_multiple_versions(&self, collection: &str) -> StoreResult<bool> {
        Ok(self
            .tree
            .scan_prefix(keys::bounds_prefix(collection))
            .next()
            .is_some())
    }

    fn status(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let value = self.tree.get(keys::status(id)).map_err(io_error)?;
        value
            .map(|v| {
                v.get(8..)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| malformed("status"))
            })
            .transpose()
    }

    fn statuses(&self) -> StoreIter<'_, StoredStatus> {
        Box::new(self.tree.scan_prefix([keys::STATUS]).map(|entry| {
            let (key, value) = entry.map_err(io_error)?;
            let id = std::str::from_utf8(&key[1..]).map_err(|_| malformed("status key"))?;
            let mut fields = Fields::new(&value, "status");
            Ok(StoredStatus {
                id: id.to_owned(),
                stored_at: fields.u64()?,
                text: fields.rest().to_vec(),
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
        Ok(self
            .tree
            .get(keys::view(key))
            .map_err(io_error)?
            .map(|v| v.to_vec()))
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
                    Ok((key[1..].to_vec(), value.to_vec()))
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

    fn size_on_disk(&self) -> StoreResult<u64> {
        let texts = self.log.size().map_err(|e| self.log_error(e))?;
        Ok(self.db.size_on_disk().map_err(io_error)? + texts)
    }
}

/// The collection an `O` key belongs to.
fn collection_of(object_key: &[u8]) -> StoreResult<&str> {
    let rest = object_key.get(1..).ok_or_else(|| malformed("object key"))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| malformed("object key"))?;
    std::str::from_utf8(&rest[..end]).map_err(|_| malformed("object key"))
}

/// The type part of a STIX id (`indicator` of `indicator--…`).
fn type_of(stix_id: &str) -> &str {
    stix_id.split_once("--").map_or(stix_id, |(t, _)| t)
}

fn last_entry(tree: &Tree, prefix: &[u8]) -> StoreResult<Option<(IVec, IVec)>> {
    tree.scan_prefix(prefix)
        .next_back()
        .transpose()
        .map_err(io_error)
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
mod tests;
