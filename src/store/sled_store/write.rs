//! Applying writes: the ops of one group, with what earlier ops of the group wrote, as the store's rules
//! (`store/rules/`) decide them.

use std::collections::HashMap;

use sled::Batch;

use super::group_entries::Objects;
use super::groups;
use super::index::Indexes;
use super::packed::{pack, pack_status};
use super::pending::{Pending, PendingEnvelope, PendingObject, pending_object, write_groups};
use super::records::DeadBytes;
use super::{SledStore, io_error, now_micros};
use crate::envelope::Envelope;
use crate::store::fields::Fields;
use crate::store::keys;
use crate::store::rules::{self, Decision, Held};
use crate::store::text_log::{Place, Window};
use crate::store::{
    DuplicatePolicy, NewObject, StoreError, StoreResult, StoredEnvelope, StoredObject, WriteOp,
    WriteOutcome,
};

/// A version of one object as the current group sees it.
pub(super) struct Found {
    pub date_added: u64,
    pub version: i64,
    /// Where its text is; `None` for a version this group wrote.
    pub place: Option<Place>,
}

impl SledStore {
    /// Applies the ops of one group in order, keeping `indexes` up to date as it goes.
    pub(super) fn apply_group(
        &self,
        indexes: &mut Indexes,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<WriteOutcome>> {
        let mut batch = Batch::default();
        let mut pending = Pending {
            texts: self.log.stage(),
            window: Window::default(),
            envelopes: HashMap::new(),
            envelope_entries: Vec::new(),
            objects: HashMap::new(),
            rewritten: HashMap::new(),
            counts: HashMap::new(),
            dead: DeadBytes::default(),
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
                        indexes,
                        envelope,
                        &collection,
                        policy,
                        now,
                    )?;
                    if rules::stores_objects(outcome) {
                        for object in objects {
                            self.put_object(
                                &mut batch,
                                &mut pending,
                                indexes,
                                &collection,
                                object,
                                now,
                            )?;
                        }
                    }
                    outcome
                }
                WriteOp::PutObject { collection, object } => {
                    self.put_object(&mut batch, &mut pending, indexes, &collection, object, now)?
                }
                WriteOp::DeleteObject {
                    collection,
                    id,
                    version,
                } => self.delete_object(
                    &mut batch,
                    &mut pending,
                    indexes,
                    &collection,
                    &id,
                    version,
                )?,
                WriteOp::PutStatus { id, text } => {
                    batch.insert(keys::status(&id), pack_status(now, &text));
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::PruneStatuses { before } => self.prune_statuses(&mut batch, before)?,
                WriteOp::PutNote { key, value } => {
                    batch.insert(keys::note(&key), value);
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::PutView { key, value } => {
                    batch.insert(keys::view(&key), pack(&value));
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
                    self.restore_envelope(&mut batch, &mut pending, indexes, envelope)?
                }
                WriteOp::RestoreObject { collection, object } => {
                    self.restore_object(&mut batch, &mut pending, indexes, &collection, object)?
                }
                WriteOp::RestoreStatus(status) => {
                    batch.insert(
                        keys::status(&status.id),
                        pack_status(status.stored_at, &status.text),
                    );
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::SetCursorSecret(secret) => {
                    batch.insert(keys::META_CURSOR_SECRET, &secret[..]);
                    WriteOutcome::Stored { version: 0 }
                }
                WriteOp::RaiseEnvelopeFloor(floor) => {
                    indexes.envelope_floor = rules::raised_floor(indexes.envelope_floor, floor);
                    batch.insert(
                        keys::META_ENVELOPE_FLOOR,
                        &indexes.envelope_floor.to_be_bytes(),
                    );
                    WriteOutcome::Stored { version: 0 }
                }
            };
            outcomes.push(outcome);
        }
        write_groups(&mut batch, &pending);
        if !pending.dead.0.is_empty() {
            let mut dead = self.dead_bytes()?;
            for (segment, bytes) in &pending.dead.0 {
                dead.add(*segment, *bytes);
            }
            batch.insert(keys::META_DEAD_BYTES, dead.encode());
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

    /// The versions of one object (`hash` is its id's) as the current group sees them.
    pub(super) fn versions_now(
        &self,
        pending: &Pending,
        indexes: &mut Indexes,
        collection: &str,
        hash: u64,
        id: &str,
    ) -> StoreResult<Vec<Found>> {
        let index = indexes.collection(&self.tree, collection)?;
        let written = pending.objects.get(collection);
        let mut found = Vec::new();
        let mut in_tree = Vec::new();
        for &date_added in index.ids.get(hash) {
            match written.and_then(|w| pending_object(w, date_added)) {
                Some(object) if object.id == id => found.push(Found {
                    date_added,
                    version: object.version,
                    place: None,
                }),
                Some(_) => {}
                None => in_tree.push(date_added),
            }
        }
        let stored = self.versions_at(collection, id, &in_tree, &mut |entry| {
            Ok(Found {
                date_added: entry.date_added,
                version: entry.version,
                place: Some(entry.place),
            })
        })?;
        found.extend(stored);
        Ok(found)
    }

    /// The text of the object version `found`, stored or written by the current group.
    fn text_of(&self, pending: &Pending, collection: &str, found: &Found) -> StoreResult<Vec<u8>> {
        match found.place {
            Some(place) => self.text(place, &mut Window::default()),
            None => pending
                .objects
                .get(collection)
                .and_then(|written| pending_object(written, found.date_added))
                .map(|object| object.text.clone())
                .ok_or_else(|| {
                    StoreError::Malformed("a version the group wrote has no text".into())
                }),
        }
    }

    /// The newest version of an envelope id of `collection` and its text, as the current group sees it.
    fn latest_envelope_now(
        &self,
        pending: &Pending,
        indexes: &mut Indexes,
        collection: &str,
        id: &str,
    ) -> StoreResult<Option<(u32, Vec<u8>)>> {
        let written = pending
            .envelopes
            .get(collection)
            .and_then(|envelopes| envelopes.get(id));
        if let Some((version, text)) = written {
            return Ok(Some((*version, text.clone())));
        }
        let hash = indexes.hasher.hash(id);
        let positions = indexes.envelopes(&self.tree, collection)?.ids.get(hash);
        if positions.is_empty() {
            return Ok(None);
        }
        let newest = self.newest_envelope(collection, positions, id, None)?;
        Ok(newest.map(|envelope| (envelope.version, envelope.text)))
    }

    #[allow(clippy::too_many_arguments)]
    fn put_envelope(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        envelope: Envelope,
        collection: &str,
        policy: DuplicatePolicy,
        now: u64,
    ) -> StoreResult<WriteOutcome> {
        let id = envelope.id().as_str().to_owned();
        let latest = self.latest_envelope_now(pending, indexes, collection, &id)?;
        let latest = latest.as_ref().map(|(version, text)| (*version, &text[..]));
        let version = match rules::put_envelope(latest, envelope.text(), policy) {
            Decision::Write(version) => version,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        let stored = StoredEnvelope {
            id,
            version,
            position: indexes.next_envelope_position(&self.tree, collection)?,
            collection: collection.to_owned(),
            received: now,
            text: envelope.into_text(),
        };
        self.count(batch, pending, collection, (0, 1))?;
        self.insert_envelope(pending, indexes, stored)
    }

    fn restore_envelope(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        envelope: StoredEnvelope,
    ) -> StoreResult<WriteOutcome> {
        let collection = envelope.collection.as_str();
        let latest_version = self
            .latest_envelope_now(pending, indexes, collection, &envelope.id)?
            .map(|(version, _)| version);
        let next_position = indexes.envelopes(&self.tree, collection)?.next_position;
        let decision = rules::restore_envelope(latest_version, next_position, &envelope, u64::MAX);
        if let Decision::Unchanged(outcome) = decision {
            return Ok(outcome);
        }
        self.count(batch, pending, &envelope.collection, (0, 1))?;
        self.insert_envelope(pending, indexes, envelope)
    }

    fn insert_envelope(
        &self,
        pending: &mut Pending,
        indexes: &mut Indexes,
        envelope: StoredEnvelope,
    ) -> StoreResult<WriteOutcome> {
        let place =
            self.place_envelope_text(pending, indexes, &envelope.collection, &envelope.text)?;
        pending.envelope_entries.push(PendingEnvelope {
            seq: envelope.position,
            id: envelope.id.clone(),
            version: envelope.version,
            received: envelope.received,
            collection: envelope.collection.clone(),
            place,
        });
        let hash = indexes.hasher.hash(&envelope.id);
        let index = indexes.envelopes(&self.tree, &envelope.collection)?;
        index.ids.insert(hash, envelope.position);
        index.next_position = envelope.position + 1;
        pending
            .envelopes
            .entry(envelope.collection)
            .or_default()
            .insert(envelope.id, (envelope.version, envelope.text));
        Ok(WriteOutcome::Stored {
            version: envelope.version,
        })
    }

    fn put_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        object: NewObject,
        now: u64,
    ) -> StoreResult<WriteOutcome> {
        let hash = indexes.hasher.hash(&object.id);
        let versions = self.versions_now(pending, indexes, collection, hash, &object.id)?;
        let same_version = match versions.iter().find(|f| f.version == object.version) {
            Some(found) => Some(self.text_of(pending, collection, found)?),
            None => None,
        };
        let last_added = indexes.collection(&self.tree, collection)?.last_added;
        let object = match rules::put_object(same_version.as_deref(), object, now, last_added) {
            Decision::Write(object) => object,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        self.insert_object(batch, pending, indexes, collection, hash, object)?;
        Ok(WriteOutcome::Stored { version: 0 })
    }

    fn restore_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        object: StoredObject,
    ) -> StoreResult<WriteOutcome> {
        let hash = indexes.hasher.hash(&object.id);
        let versions = self.versions_now(pending, indexes, collection, hash, &object.id)?;
        let held = versions.iter().any(|f| f.version == object.version);
        let last_added = indexes.collection(&self.tree, collection)?.last_added;
        let decision = rules::restore_object(held, object.date_added, last_added, u64::MAX);
        if let Decision::Unchanged(outcome) = decision {
            return Ok(outcome);
        }
        self.insert_object(batch, pending, indexes, collection, hash, object)?;
        Ok(WriteOutcome::Stored { version: 0 })
    }

    /// Writes an object version, whose `date_added` is later than every other of the collection.
    fn insert_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        hash: u64,
        object: StoredObject,
    ) -> StoreResult<()> {
        self.count(batch, pending, collection, (1, 0))?;
        let date_added = object.date_added;
        indexes
            .collection(&self.tree, collection)?
            .add(hash, &object.id, date_added);
        let written = PendingObject {
            date_added,
            place: pending.texts.push(&object.text),
            id: object.id,
            version: object.version,
            version_text: object.version_text,
            text: object.text,
        };
        match pending.objects.get_mut(collection) {
            Some(objects) => objects.push(written),
            None => {
                pending.objects.insert(collection.to_owned(), vec![written]);
            }
        }
        Ok(())
    }

    fn delete_object(
        &self,
        batch: &mut Batch,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        id: &str,
        version: i64,
    ) -> StoreResult<WriteOutcome> {
        let hash = indexes.hasher.hash(id);
        let versions = self.versions_now(pending, indexes, collection, hash, id)?;
        let held = versions
            .into_iter()
            .find(|f| f.version == version)
            .map(|found| match found.place {
                Some(place) => Held::Stored((found.date_added, place)),
                None => Held::Written,
            });
        let (date_added, place) = match rules::delete_object(held)? {
            Decision::Write(stored) => stored,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        self.remove_entry(pending, collection, date_added)?;
        pending.dead.add(place.segment, place.record_size());
        indexes
            .collection(&self.tree, collection)?
            .remove(hash, id, date_added);
        self.count(batch, pending, collection, (-1, 0))?;
        Ok(WriteOutcome::Removed)
    }

    /// Rewrites the group record that holds the object version at `date_added` without it.
    fn remove_entry(
        &self,
        pending: &mut Pending,
        collection: &str,
        date_added: u64,
    ) -> StoreResult<()> {
        let prefix = keys::object_groups(collection);
        let Some((key, stored)) = groups::holding(&self.tree, &prefix, date_added)? else {
            return Err(StoreError::Malformed(
                "an indexed object has no record".into(),
            ));
        };
        let value = match pending.rewritten.get(&key[..]) {
            Some(rewritten) => rewritten.as_deref().unwrap_or_default(),
            None => &stored[..],
        };
        let first = groups::key_position(&key)?;
        let mut kept = Vec::new();
        for entry in groups::entries::<Objects>(first, value) {
            let entry = entry?;
            if entry.date_added != date_added {
                kept.push(entry);
            }
        }
        let rewritten = (!kept.is_empty()).then(|| groups::encode::<Objects>(first, &kept));
        pending.rewritten.insert(key.to_vec(), rewritten);
        Ok(())
    }

    fn prune_statuses(&self, batch: &mut Batch, before: u64) -> StoreResult<WriteOutcome> {
        let mut removed = false;
        for entry in self.tree.scan_prefix([keys::STATUS]) {
            let (key, value) = entry.map_err(io_error)?;
            let stored_at = Fields::new(&value, "status").u64()?;
            if rules::pruned(stored_at, before) {
                batch.remove(key);
                removed = true;
            }
        }
        Ok(rules::removal(removed))
    }
}
