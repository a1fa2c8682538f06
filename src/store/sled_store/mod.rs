//! The sled engine. See [`super::keys`] for the layout.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::Mutex;

use sled::{Batch, IVec, Tree};

use super::fields::Fields;
use super::keys;
use super::{
    DuplicatePolicy, NewObject, Store, StoreError, StoreIter, StoreResult, StoredEnvelope,
    StoredObject, StoredStatus, WriteOp, WriteOutcome,
};
use crate::envelope::Envelope;

/// Bounded so that a large database does not take the machine's memory (sled's default is 1 GiB).
const CACHE_BYTES: u64 = 256 * 1024 * 1024;

pub struct SledStore {
    db: sled::Db,
    tree: Tree,
    /// Counters only the writer moves; a lock, not an atomic, because `apply` reads and bumps them together.
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    next_seq: u64,
    /// Last `date_added` per collection, loaded on first use.
    last_added: HashMap<String, u64>,
}

/// The writes of one `apply` that later ops of the same group must see.
#[derive(Default)]
struct Pending {
    envelopes: HashMap<String, (u32, Vec<u8>)>,
    /// `O` key to the object's text, or `None` once deleted; ordered, for the versions of one object.
    objects: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
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
        let next_seq = match last_entry(&tree, &[keys::ENVELOPE_ORDER])? {
            Some((key, _)) => Fields::new(&key[1..], "order key").u64()? + 1,
            None => 0,
        };
        Ok(Self {
            db,
            tree,
            counters: Mutex::new(Counters {
                next_seq,
                last_added: HashMap::new(),
            }),
        })
    }

    fn last_added(&self, counters: &mut Counters, collection: &str) -> StoreResult<u64> {
        if let Some(&last) = counters.last_added.get(collection) {
            return Ok(last);
        }
        let prefix = keys::added_prefix(collection, None);
        let last = match last_entry(&self.tree, &prefix)? {
            Some((key, _)) => {
                keys::parse_added(prefix.len(), &key).ok_or_else(|| malformed("added key"))?
            }
            None => 0,
        };
        counters.last_added.insert(collection.to_owned(), last);
        Ok(last)
    }

    fn latest_envelope(&self, id: &str) -> StoreResult<Option<(u32, IVec)>> {
        match last_entry(&self.tree, &keys::envelope_prefix(id))? {
            None => Ok(None),
            Some((key, value)) => {
                let (_, version) =
                    keys::parse_envelope(&key).ok_or_else(|| malformed("envelope key"))?;
                Ok(Some((version, value)))
            }
        }
    }

    /// An object's text as the current group sees it: pending writes first, then the tree.
    fn object_text(&self, pending: &Pending, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(text) = pending.objects.get(key) {
            return Ok(text.clone());
        }
        let Some(date_added) = self.tree.get(key).map_err(io_error)? else {
            return Ok(None);
        };
        let (_, record) = self.record_at(key, &date_added)?;
        Ok(Some(ObjectRecord::decode(&record)?.text.to_vec()))
    }

    /// The date_added in an `O` value, and the `A` record it names; `object_key` names the collection.
    fn record_at(&self, object_key: &[u8], index: &[u8]) -> StoreResult<(u64, IVec)> {
        let collection = collection_of(object_key)?;
        let date_added = Fields::new(index, "object index").u64()?;
        let record = self
            .tree
            .get(keys::added(collection, None, date_added))
            .map_err(io_error)?
            .ok_or_else(|| malformed("object index without record"))?;
        Ok((date_added, record))
    }

    /// The versions of one object as the current group sees them: stored ones, with this group's writes
    /// and deletes applied.
    fn versions_now(&self, pending: &Pending, prefix: &[u8]) -> StoreResult<Vec<i64>> {
        let mut versions = BTreeMap::new();
        for key in self.tree.scan_prefix(prefix).keys() {
            let key = key.map_err(io_error)?;
            versions.insert(
                keys::version_of_object_key(&key).ok_or_else(|| malformed("object key"))?,
                true,
            );
        }
        for (key, text) in pending
            .objects
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            versions.insert(
                keys::version_of_object_key(key).ok_or_else(|| malformed("object key"))?,
                text.is_some(),
            );
        }
        Ok(versions
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(v, _)| v)
            .collect())
    }

    /// Keeps the `L` bounds of an object with two or more versions, and none for one with fewer.
    fn set_bounds(&self, batch: &mut Batch, collection: &str, id: &str, versions: &[i64]) {
        let key = keys::bounds(collection, id);
        match (versions.first(), versions.last()) {
            (Some(&first), Some(&last)) if versions.len() > 1 => {
                batch.insert(key, encode_bounds((first, last)))
            }
            _ => batch.remove(key),
        }
    }

    /// The newest version of an envelope id and its text, as the current group sees it.
    fn latest_envelope_now(
        &self,
        pending: &Pending,
        id: &str,
    ) -> StoreResult<Option<(u32, Vec<u8>)>> {
        match pending.envelopes.get(id) {
            Some((version, text)) => Ok(Some((*version, text.clone()))),
            None => self
                .latest_envelope(id)?
                .map(|(version, value)| {
                    decode_envelope(id, version, &value).map(|e| (version, e.text))
                })
                .transpose(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn put_envelope(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        envelope: Envelope,
        collection: &str,
        policy: DuplicatePolicy,
        now: u64,
    ) -> StoreResult<WriteOutcome> {
        let id = envelope.id().as_str().to_owned();
        let latest = self.latest_envelope_now(pending, &id)?;
        let version = match (&latest, policy) {
            (None, _) => 0,
            (Some((_, text)), _) if text == envelope.text() => return Ok(WriteOutcome::Duplicate),
            (Some(_), DuplicatePolicy::KeepFirst) => return Ok(WriteOutcome::Conflict),
            (Some((version, _)), DuplicatePolicy::NewVersion) => version + 1,
        };
        let stored = StoredEnvelope {
            id,
            version,
            position: counters.next_seq,
            collection: collection.to_owned(),
            received: now,
            text: envelope.into_text(),
        };
        Ok(insert_envelope(batch, pending, counters, stored))
    }

    fn restore_envelope(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        envelope: StoredEnvelope,
    ) -> StoreResult<WriteOutcome> {
        let next_version = self
            .latest_envelope_now(pending, &envelope.id)?
            .map_or(0, |(version, _)| version + 1);
        // The largest position is refused too: later envelopes take the next one.
        if envelope.version != next_version
            || envelope.position < counters.next_seq
            || envelope.position == u64::MAX
        {
            return Ok(WriteOutcome::Conflict);
        }
        Ok(insert_envelope(batch, pending, counters, envelope))
    }

    fn put_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        collection: &str,
        object: NewObject,
        now: u64,
    ) -> StoreResult<WriteOutcome> {
        let key = keys::object(collection, &keys::object_suffix(&object.id, object.version));
        let versions = self.versions_now(
            pending,
            &keys::object_versions_prefix(collection, &object.id),
        )?;
        if versions.contains(&object.version) {
            let stored = self.object_text(pending, &key)?;
            return Ok(if stored.as_ref() == Some(&object.text) {
                WriteOutcome::Duplicate
            } else {
                WriteOutcome::Conflict
            });
        }
        // Unique and strictly increasing, even within one group, so that `added_after` paging never skips.
        let date_added = now.max(self.last_added(counters, collection)? + 1);
        let object = StoredObject {
            id: object.id,
            version: object.version,
            version_text: object.version_text,
            date_added,
            text: object.text,
        };
        self.insert_object(batch, pending, counters, collection, object, versions);
        Ok(WriteOutcome::Stored { version: 0 })
    }

    fn restore_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        collection: &str,
        object: StoredObject,
    ) -> StoreResult<WriteOutcome> {
        let versions = self.versions_now(
            pending,
            &keys::object_versions_prefix(collection, &object.id),
        )?;
        // The largest date_added is refused too: later additions take the next one.
        if versions.contains(&object.version)
            || object.date_added <= self.last_added(counters, collection)?
            || object.date_added == u64::MAX
        {
            return Ok(WriteOutcome::Conflict);
        }
        self.insert_object(batch, pending, counters, collection, object, versions);
        Ok(WriteOutcome::Stored { version: 0 })
    }

    /// Writes an object version with its indexes; `versions` are the object's other versions, and the
    /// version's `date_added` is later than every other of the collection.
    fn insert_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        collection: &str,
        object: StoredObject,
        mut versions: Vec<i64>,
    ) {
        let date_added = object.date_added;
        counters
            .last_added
            .insert(collection.to_owned(), date_added);
        let record = ObjectRecord {
            id: &object.id,
            version: object.version,
            version_text: &object.version_text,
            text: &object.text,
        };
        batch.insert(keys::added(collection, None, date_added), record.encode());
        batch.insert(
            keys::added(collection, Some(type_of(&object.id)), date_added),
            &[][..],
        );
        let key = keys::object(collection, &keys::object_suffix(&object.id, object.version));
        batch.insert(key.clone(), &date_added.to_be_bytes()[..]);
        if !versions.is_empty() {
            versions.push(object.version);
            versions.sort_unstable();
            self.set_bounds(batch, collection, &object.id, &versions);
        }
        pending.objects.insert(key, Some(object.text));
    }

    fn delete_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        collection: &str,
        id: &str,
        version: i64,
    ) -> StoreResult<WriteOutcome> {
        let key = keys::object(collection, &keys::object_suffix(id, version));
        if pending.objects.contains_key(&key) {
            // Deleting what the same group wrote would need its date_added; groups never do that.
            return Err(StoreError::Malformed(
                "delete of an object written in the same group".into(),
            ));
        }
        let Some(date_added) = self.tree.get(&key).map_err(io_error)? else {
            return Ok(WriteOutcome::Absent);
        };
        let date_added = Fields::new(&date_added, "object index").u64()?;
        batch.remove(key.clone());
        batch.remove(keys::added(collection, None, date_added));
        batch.remove(keys::added(collection, Some(type_of(id)), date_added));
        pending.objects.insert(key, None);
        let left = self.versions_now(pending, &keys::object_versions_prefix(collection, id))?;
        self.set_bounds(batch, collection, id, &left);
        Ok(WriteOutcome::Removed)
    }

    fn prune_statuses(&self, batch: &mut Batch, before: u64) -> StoreResult<WriteOutcome> {
        let mut removed = false;
        for entry in self.tree.scan_prefix([keys::STATUS]) {
            let (key, value) = entry.map_err(io_error)?;
            let stored_at = Fields::new(&value, "status").u64()?;
            if stored_at < before {
                batch.remove(key);
                removed = true;
            }
        }
        Ok(if removed {
            WriteOutcome::Removed
        } else {
            WriteOutcome::Absent
        })
    }
}

impl Store for SledStore {
    fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        let mut counters = self
            .counters
            .lock()
            .expect("no writer panics while holding the lock");
        let mut batch = Batch::default();
        let mut pending = Pending::default();
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
        self.tree.apply_batch(batch).map_err(io_error)?;
        Ok(outcomes)
    }

    fn flush(&self) -> StoreResult<()> {
        self.db.flush().map(drop).map_err(io_error)
    }

    fn envelope(&self, id: &str) -> StoreResult<Option<StoredEnvelope>> {
        self.latest_envelope(id)?
            .map(|(version, value)| decode_envelope(id, version, &value))
            .transpose()
    }

    fn envelopes_after(&self, after: Option<u64>) -> StoreIter<'_, StoredEnvelope> {
        let start = keys::envelope_order(after.map_or(0, |a| a.saturating_add(1)));
        let end = [keys::ENVELOPE_ORDER + 1];
        Box::new(self.tree.range(start..end[..].to_vec()).map(move |entry| {
            let (_, envelope_key) = entry.map_err(io_error)?;
            let (id, version) =
                keys::parse_envelope(&envelope_key).ok_or_else(|| malformed("order entry"))?;
            let value = self
                .tree
                .get(&envelope_key)
                .map_err(io_error)?
                .ok_or_else(|| malformed("order entry without envelope"))?;
            decode_envelope(id, version, &value)
        }))
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
            Ok(ObjectRecord::decode(&record)?.into_stored(date_added))
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
        Ok(Some(ObjectRecord::decode(&record)?.into_stored(date_added)))
    }

    fn object_versions(&self, collection: &str, id: &str) -> StoreResult<Vec<StoredObject>> {
        let mut versions = Vec::new();
        for entry in self
            .tree
            .scan_prefix(keys::object_versions_prefix(collection, id))
        {
            let (key, index) = entry.map_err(io_error)?;
            let (date_added, record) = self.record_at(&key, &index)?;
            versions.push(ObjectRecord::decode(&record)?.into_stored(date_added));
        }
        Ok(versions)
    }

    fn all_objects(&self) -> StoreIter<'_, (String, StoredObject)> {
        Box::new(self.tree.scan_prefix([keys::ADDED]).map(|entry| {
            let (key, value) = entry.map_err(io_error)?;
            let (collection, date_added) =
                keys::parse_any_added(&key).ok_or_else(|| malformed("added key"))?;
            Ok((
                collection.to_owned(),
                ObjectRecord::decode(&value)?.into_stored(date_added),
            ))
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
        self.db.size_on_disk().map_err(io_error)
    }
}

/// An `A` value: the version's id, version, version text as written, and the exact object text.
struct ObjectRecord<'a> {
    id: &'a str,
    version: i64,
    version_text: &'a str,
    text: &'a [u8],
}

impl<'a> ObjectRecord<'a> {
    fn encode(&self) -> Vec<u8> {
        let id_length = u16::try_from(self.id.len()).expect("STIX ids are short");
        let version_length = u8::try_from(self.version_text.len()).expect("timestamps are short");
        let mut value =
            Vec::with_capacity(11 + self.id.len() + self.version_text.len() + self.text.len());
        value.extend_from_slice(&self.version.to_be_bytes());
        value.extend_from_slice(&id_length.to_be_bytes());
        value.extend_from_slice(self.id.as_bytes());
        value.push(version_length);
        value.extend_from_slice(self.version_text.as_bytes());
        value.extend_from_slice(self.text);
        value
    }

    fn decode(value: &'a [u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, "object record");
        let version = fields.i64()?;
        let id_length = fields.u16()?;
        let id = fields.str(usize::from(id_length))?;
        let version_length = fields.u8()?;
        let version_text = fields.str(usize::from(version_length))?;
        Ok(Self {
            id,
            version,
            version_text,
            text: fields.rest(),
        })
    }

    fn into_stored(self, date_added: u64) -> StoredObject {
        StoredObject {
            id: self.id.to_owned(),
            version: self.version,
            version_text: self.version_text.to_owned(),
            date_added,
            text: self.text.to_vec(),
        }
    }
}

fn encode_bounds((first, last): (i64, i64)) -> Vec<u8> {
    [first.to_be_bytes(), last.to_be_bytes()].concat()
}

fn decode_bounds(value: &[u8]) -> StoreResult<(i64, i64)> {
    let mut fields = Fields::new(value, "bounds");
    Ok((fields.i64()?, fields.i64()?))
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

fn insert_envelope(
    batch: &mut Batch,
    pending: &mut Pending,
    counters: &mut Counters,
    envelope: StoredEnvelope,
) -> WriteOutcome {
    let key = keys::envelope(&envelope.id, envelope.version);
    batch.insert(
        key.clone(),
        encode_envelope(
            envelope.received,
            envelope.position,
            &envelope.collection,
            &envelope.text,
        ),
    );
    batch.insert(keys::envelope_order(envelope.position), key);
    counters.next_seq = envelope.position + 1;
    pending
        .envelopes
        .insert(envelope.id, (envelope.version, envelope.text));
    WriteOutcome::Stored {
        version: envelope.version,
    }
}

fn encode_status(stored_at: u64, text: &[u8]) -> Vec<u8> {
    let mut value = stored_at.to_be_bytes().to_vec();
    value.extend_from_slice(text);
    value
}

fn encode_envelope(received: u64, position: u64, collection: &str, text: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(18 + collection.len() + text.len());
    value.extend_from_slice(&received.to_be_bytes());
    value.extend_from_slice(&position.to_be_bytes());
    let length = u16::try_from(collection.len()).expect("collection ids are short");
    value.extend_from_slice(&length.to_be_bytes());
    value.extend_from_slice(collection.as_bytes());
    value.extend_from_slice(text);
    value
}

fn decode_envelope(id: &str, version: u32, value: &[u8]) -> StoreResult<StoredEnvelope> {
    let mut fields = Fields::new(value, "envelope record");
    let received = fields.u64()?;
    let position = fields.u64()?;
    let length = fields.u16()?;
    let collection = fields.str(usize::from(length))?.to_owned();
    Ok(StoredEnvelope {
        id: id.to_owned(),
        version,
        position,
        collection,
        received,
        text: fields.rest().to_vec(),
    })
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
        other => io_error(other),
    }
}

fn io_error(error: sled::Error) -> StoreError {
    StoreError::Io(Box::new(error))
}

fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(what.to_owned())
}
