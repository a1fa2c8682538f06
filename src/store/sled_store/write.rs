//! Applying writes: the ops of one group, with what earlier ops of the group wrote.

use std::collections::BTreeMap;

use sled::{Batch, IVec};

use super::records::{ObjectRecord, decode_envelope, encode_bounds, encode_envelope};
use super::{
    Counters, Pending, SledStore, collection_of, io_error, last_entry, malformed, type_of,
};
use crate::envelope::Envelope;
use crate::store::fields::Fields;
use crate::store::keys;
use crate::store::same_json::same_json;
use crate::store::text_log::Window;
use crate::store::{
    DuplicatePolicy, NewObject, StoreError, StoreResult, StoredEnvelope, StoredObject, WriteOutcome,
};

impl SledStore {
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

    pub(super) fn latest_envelope(&self, id: &str) -> StoreResult<Option<(u32, IVec)>> {
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
        let place = ObjectRecord::decode(&record)?.place;
        self.text(place, &mut Window::default()).map(Some)
    }

    /// The date_added in an `O` value, and the `A` record it names; `object_key` names the collection.
    pub(super) fn record_at(&self, object_key: &[u8], index: &[u8]) -> StoreResult<(u64, IVec)> {
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

    /// [`SledStore::versions_now`] for an id the writer may have seen; none, without a lookup, for one it has not.
    fn versions_if_known(
        &self,
        pending: &Pending,
        counters: &mut Counters,
        collection: &str,
        id: &str,
    ) -> StoreResult<Vec<i64>> {
        if !counters.known.object(&self.tree, collection, id)? {
            return Ok(Vec::new());
        }
        self.versions_now(pending, &keys::object_versions_prefix(collection, id))
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
        counters: &mut Counters,
        id: &str,
    ) -> StoreResult<Option<(u32, Vec<u8>)>> {
        match pending.envelopes.get(id) {
            Some((version, text)) => Ok(Some((*version, text.clone()))),
            None if !counters.known.envelope(&self.tree, id)? => Ok(None),
            None => self
                .latest_envelope(id)?
                .map(|(version, value)| {
                    let (_, place) = decode_envelope(id, version, &value)?;
                    Ok((version, self.text(place, &mut Window::default())?))
                })
                .transpose(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn put_envelope(
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
        let latest = self.latest_envelope_now(pending, counters, &id)?;
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
        self.count(batch, pending, collection, (0, 1))?;
        Ok(insert_envelope(batch, pending, counters, stored))
    }

    pub(super) fn restore_envelope(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        envelope: StoredEnvelope,
    ) -> StoreResult<WriteOutcome> {
        let next_version = self
            .latest_envelope_now(pending, counters, &envelope.id)?
            .map_or(0, |(version, _)| version + 1);
        // The largest position is refused too: later envelopes take the next one.
        if envelope.version != next_version
            || envelope.position < counters.next_seq
            || envelope.position == u64::MAX
        {
            return Ok(WriteOutcome::Conflict);
        }
        self.count(batch, pending, &envelope.collection, (0, 1))?;
        Ok(insert_envelope(batch, pending, counters, envelope))
    }

    pub(super) fn put_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        collection: &str,
        object: NewObject,
        now: u64,
    ) -> StoreResult<WriteOutcome> {
        let key = keys::object(collection, &keys::object_suffix(&object.id, object.version));
        let versions = self.versions_if_known(pending, counters, collection, &object.id)?;
        if versions.contains(&object.version) {
            let stored = self.object_text(pending, &key)?;
            // The byte compare first: resent objects are nearly always the same bytes.
            let same = stored
                .is_some_and(|stored| stored == object.text || same_json(&stored, &object.text));
            return Ok(if same {
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
        self.insert_object(batch, pending, counters, collection, object, versions)?;
        Ok(WriteOutcome::Stored { version: 0 })
    }

    pub(super) fn restore_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        counters: &mut Counters,
        collection: &str,
        object: StoredObject,
    ) -> StoreResult<WriteOutcome> {
        let versions = self.versions_if_known(pending, counters, collection, &object.id)?;
        // The largest date_added is refused too: later additions take the next one.
        if versions.contains(&object.version)
            || object.date_added <= self.last_added(counters, collection)?
            || object.date_added == u64::MAX
        {
            return Ok(WriteOutcome::Conflict);
        }
        self.insert_object(batch, pending, counters, collection, object, versions)?;
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
    ) -> StoreResult<()> {
        self.count(batch, pending, collection, (1, 0))?;
        let date_added = object.date_added;
        counters
            .last_added
            .insert(collection.to_owned(), date_added);
        counters.known.add_object(collection, &object.id);
        let record = ObjectRecord {
            id: &object.id,
            version: object.version,
            version_text: &object.version_text,
            place: pending.texts.push(&object.text),
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
        Ok(())
    }

    pub(super) fn delete_object(
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
        self.count(batch, pending, collection, (-1, 0))?;
        let left = self.versions_now(pending, &keys::object_versions_prefix(collection, id))?;
        self.set_bounds(batch, collection, id, &left);
        Ok(WriteOutcome::Removed)
    }

    pub(super) fn prune_statuses(
        &self,
        batch: &mut Batch,
        before: u64,
    ) -> StoreResult<WriteOutcome> {
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
fn insert_envelope(
    batch: &mut Batch,
    pending: &mut Pending,
    counters: &mut Counters,
    envelope: StoredEnvelope,
) -> WriteOutcome {
    let key = keys::envelope(&envelope.id, envelope.version);
    let place = pending.texts.push(&envelope.text);
    batch.insert(
        key.clone(),
        encode_envelope(
            envelope.received,
            envelope.position,
            &envelope.collection,
            place,
        ),
    );
    batch.insert(keys::envelope_order(envelope.position), key);
    counters.next_seq = envelope.position + 1;
    counters.known.add_envelope(&envelope.id);
    pending
        .envelopes
        .insert(envelope.id, (envelope.version, envelope.text));
    WriteOutcome::Stored {
        version: envelope.version,
    }
}
