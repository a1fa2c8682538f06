//! Applying a writer group: one transaction, its outcomes decided by the store's rules (`store/rules/`).
//!
//! The group's collections get their rows first (committed on their own: an empty row is harmless), then the
//! transaction locks the collections' rows (which hold each collection's next envelope position too), sorted, so
//! that nodes never deadlock. With the locks held, it reads what the rules need to decide the group's ops (latest
//! envelope versions, the versions of the group's STIX ids), has them decide every outcome in memory, op after
//! op, and writes the result with one statement per table (`unnest` of arrays), then commits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

use super::pool::Shared;
use super::{LARGEST, db_error, must_retry, signed, successor};
use crate::store::rules::{self, Decision, Held};
use crate::store::{
    DuplicatePolicy, NewObject, StoreError, StoreResult, StoredEnvelope, StoredObject, WriteOp,
    WriteOutcome,
};

mod flush;
mod lock;

use lock::{Names, lock_and_read};

/// A collection's row as the group moves it.
struct Collection {
    last_added: u64,
    /// The position the collection's next envelope takes: positions count one collection.
    next_position: u64,
    objects: i64,
    envelopes: i64,
    multi_version_ids: i64,
}

/// One stored version of a STIX id: its `date_added` when it was stored before the group, its text when the
/// group stored it.
enum Version {
    Stored { date_added: i64 },
    New { text: Vec<u8> },
}

/// A new object row.
struct ObjectRow {
    collection: String,
    object: StoredObject,
}

/// What the group writes, worked out op by op.
#[derive(Default)]
struct Group {
    /// The database's clock, in microseconds since the Unix epoch.
    now: u64,
    /// The least position a collection's next envelope takes (the `envelope_position` counter).
    envelope_floor: u64,
    collections: HashMap<String, Collection>,
    /// The latest version and text of each (collection, envelope id) the group names.
    envelopes: HashMap<(String, String), (u32, Vec<u8>)>,
    /// The versions of each (collection, STIX id) the group names, and whether it had several before.
    versions: HashMap<(String, String), BTreeMap<i64, Version>>,
    had_several: HashMap<(String, String), bool>,
    new_objects: Vec<ObjectRow>,
    deleted_objects: Vec<(String, i64)>,
    new_envelopes: Vec<StoredEnvelope>,
    /// `None`: deleted.
    statuses: BTreeMap<String, Option<(i64, Vec<u8>)>>,
    notes: BTreeMap<String, Vec<u8>>,
    views: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// Tries a group this many times when PostgreSQL rolls it back for a conflict with another node's.
const ATTEMPTS: u64 = 3;

pub(super) async fn apply(
    shared: Arc<Shared>,
    ops: Vec<WriteOp>,
) -> StoreResult<Vec<WriteOutcome>> {
    let mut attempt = 1;
    loop {
        match apply_once(&shared, ops.clone()).await {
            Err(error) if attempt < ATTEMPTS && must_retry(&error) => {
                tracing::info!(%error, attempt, "a write group conflicted with another node's; trying again");
                // A pause lets the transaction that won go through first, instead of meeting it again.
                let pause = 50 * attempt + fastrand::u64(0..50);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn apply_once(shared: &Arc<Shared>, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
    let mut client = shared.connection().await?;
    let names = Names::of(&ops);
    // Rows are never deleted: a collection this process saw once has its row for good.
    let missing: Vec<&String> = {
        let known = shared
            .collections
            .lock()
            .expect("no panics under this lock");
        names
            .collections
            .iter()
            .filter(|c| !known.contains(*c))
            .collect()
    };
    if !missing.is_empty() {
        client
            .execute_typed(
                "INSERT INTO collections (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                &[(&missing, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(db_error)?;
        let mut known = shared
            .collections
            .lock()
            .expect("no panics under this lock");
        known.extend(missing.into_iter().cloned());
    }
    let transaction = client.transaction().await.map_err(db_error)?;
    let mut group = lock_and_read(&transaction, &names).await?;
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        outcomes.push(group.apply(&transaction, op).await?);
    }
    let stored: i64 = group
        .collections
        .values()
        .map(|c| c.objects + c.envelopes)
        .sum();
    flush::write(&transaction, group, &shared.node).await?;
    transaction.commit().await.map_err(db_error)?;
    drop(client);
    analyze_when_grown(shared, stored);
    Ok(outcomes)
}

/// Has PostgreSQL gather the tables' statistics again, in the background, each time the collections written
/// hold four times as many objects and envelopes as at the last time: a table filled since autovacuum's last
/// round (once a minute at most) has none, and the planner's guesses without them are far off (see `pool.rs`
/// for what that did to pages).
fn analyze_when_grown(shared: &Arc<Shared>, stored: i64) {
    {
        let mut analyzed = shared
            .analyzed_at
            .lock()
            .expect("no panics under this lock");
        if stored < (*analyzed * 4).max(1000) {
            return;
        }
        *analyzed = stored;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let analyzed = match shared.connection().await {
            Ok(client) => client
                .batch_execute("ANALYZE objects, envelopes")
                .await
                .map_err(db_error),
            Err(error) => Err(error),
        };
        if let Err(error) = analyzed {
            tracing::warn!(%error, "could not update the tables' statistics");
        }
    });
}

impl Group {
    async fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        op: WriteOp,
    ) -> StoreResult<WriteOutcome> {
        let stored = WriteOutcome::Stored { version: 0 };
        Ok(match op {
            WriteOp::PutEnvelope {
                envelope,
                collection,
                policy,
                objects,
            } => {
                let id = envelope.id().as_str().to_owned();
                let outcome = self.put_envelope(id, envelope.into_text(), &collection, policy)?;
                if rules::stores_objects(outcome) {
                    for object in objects {
                        self.put_object(transaction, &collection, object).await?;
                    }
                }
                outcome
            }
            WriteOp::PutObject { collection, object } => {
                self.put_object(transaction, &collection, object).await?
            }
            WriteOp::DeleteObject {
                collection,
                id,
                version,
            } => self.delete_object(collection, id, version)?,
            WriteOp::PutStatus { id, text } => {
                let now = signed(self.now).unwrap_or(i64::MAX);
                self.statuses.insert(id, Some((now, text)));
                stored
            }
            WriteOp::PruneStatuses { before } => self.prune_statuses(transaction, before).await?,
            WriteOp::PutNote { key, value } => {
                self.notes.insert(key, value);
                stored
            }
            WriteOp::PutView { key, value } => {
                self.views.insert(key, Some(value));
                stored
            }
            WriteOp::DeleteView { key } => {
                self.views.insert(key, None);
                WriteOutcome::Removed
            }
            WriteOp::ClearView { prefix } => {
                transaction
                    .execute(
                        "DELETE FROM views WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2)",
                        &[&prefix, &successor(&prefix)],
                    )
                    .await
                    .map_err(db_error)?;
                self.views.retain(|key, _| !key.starts_with(&prefix));
                WriteOutcome::Removed
            }
            WriteOp::RestoreEnvelope(envelope) => self.restore_envelope(envelope)?,
            WriteOp::RestoreObject { collection, object } => {
                self.restore_object(collection, object)?
            }
            WriteOp::RestoreStatus(status) => {
                let stored_at = signed(status.stored_at).unwrap_or(i64::MAX);
                self.statuses
                    .insert(status.id, Some((stored_at, status.text)));
                stored
            }
            WriteOp::RaiseEnvelopeFloor(floor) => {
                // A floor above what `bigint` holds is held at the largest it holds.
                let floor = floor.min(LARGEST);
                transaction
                    .execute(
                        "UPDATE counters SET value = greatest(value, $1) WHERE name = 'envelope_position'",
                        &[&signed(floor).unwrap_or(i64::MAX)],
                    )
                    .await
                    .map_err(db_error)?;
                self.envelope_floor = rules::raised_floor(self.envelope_floor, floor);
                stored
            }
            WriteOp::SetCursorSecret(secret) => {
                transaction
                    .execute(
                        "INSERT INTO meta (name, value) VALUES ('cursor-secret', $1) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        &[&&secret[..]],
                    )
                    .await
                    .map_err(db_error)?;
                stored
            }
        })
    }

    fn collection(&mut self, name: &str) -> StoreResult<&mut Collection> {
        self.collections
            .get_mut(name)
            .ok_or_else(|| StoreError::Malformed(format!("no row for the collection {name}")))
    }

    fn put_envelope(
        &mut self,
        id: String,
        text: Vec<u8>,
        collection: &str,
        policy: DuplicatePolicy,
    ) -> StoreResult<WriteOutcome> {
        let key = (collection.to_owned(), id);
        let latest = self
            .envelopes
            .get(&key)
            .map(|(version, stored)| (*version, &stored[..]));
        let version = match rules::put_envelope(latest, &text, policy) {
            Decision::Write(version) => version,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        let floor = self.envelope_floor;
        let next_position = self.collection(collection)?.next_position;
        let envelope = StoredEnvelope {
            id: key.1,
            version,
            position: rules::envelope_position(next_position, floor),
            collection: collection.to_owned(),
            received: self.now,
            text,
        };
        self.insert_envelope(envelope)
    }

    fn restore_envelope(&mut self, envelope: StoredEnvelope) -> StoreResult<WriteOutcome> {
        let key = (envelope.collection.clone(), envelope.id.clone());
        let latest_version = self.envelopes.get(&key).map(|(version, _)| *version);
        let next_position = self.collection(&envelope.collection)?.next_position;
        let decision = rules::restore_envelope(latest_version, next_position, &envelope, LARGEST);
        if let Decision::Unchanged(outcome) = decision {
            return Ok(outcome);
        }
        self.insert_envelope(envelope)
    }

    fn insert_envelope(&mut self, envelope: StoredEnvelope) -> StoreResult<WriteOutcome> {
        let row = self.collection(&envelope.collection)?;
        row.next_position = envelope.position + 1;
        row.envelopes += 1;
        self.envelopes.insert(
            (envelope.collection.clone(), envelope.id.clone()),
            (envelope.version, envelope.text.clone()),
        );
        let version = envelope.version;
        self.new_envelopes.push(envelope);
        Ok(WriteOutcome::Stored { version })
    }

    async fn put_object(
        &mut self,
        transaction: &Transaction<'_>,
        collection: &str,
        object: NewObject,
    ) -> StoreResult<WriteOutcome> {
        let key = (collection.to_owned(), object.id.clone());
        let same_version = match self.versions.get(&key).and_then(|v| v.get(&object.version)) {
            None => None,
            Some(Version::New { text }) => Some(text.clone()),
            Some(Version::Stored { .. }) => {
                let row = transaction
                    .query_typed_one(
                        "SELECT text FROM objects \
                         WHERE collection = $1 AND stix_id = $2 AND version = $3",
                        &[
                            (&key.0, Type::TEXT),
                            (&key.1, Type::TEXT),
                            (&object.version, Type::INT8),
                        ],
                    )
                    .await
                    .map_err(db_error)?;
                Some(row.get::<_, Vec<u8>>(0))
            }
        };
        let now = self.now;
        let last_added = self.collection(collection)?.last_added;
        let object = match rules::put_object(same_version.as_deref(), object, now, last_added) {
            Decision::Write(object) => object,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        self.insert_object(collection.to_owned(), object)
    }

    fn restore_object(
        &mut self,
        collection: String,
        object: StoredObject,
    ) -> StoreResult<WriteOutcome> {
        let key = (collection.clone(), object.id.clone());
        let held = self
            .versions
            .get(&key)
            .is_some_and(|v| v.contains_key(&object.version));
        let last_added = self.collection(&collection)?.last_added;
        let decision = rules::restore_object(held, object.date_added, last_added, LARGEST);
        if let Decision::Unchanged(outcome) = decision {
            return Ok(outcome);
        }
        self.insert_object(collection, object)
    }

    /// Adds an object version whose `date_added` is later than every other of the collection.
    fn insert_object(
        &mut self,
        collection: String,
        object: StoredObject,
    ) -> StoreResult<WriteOutcome> {
        let row = self.collection(&collection)?;
        row.last_added = object.date_added;
        row.objects += 1;
        let text = object.text.clone();
        self.versions
            .entry((collection.clone(), object.id.clone()))
            .or_default()
            .insert(object.version, Version::New { text });
        self.new_objects.push(ObjectRow { collection, object });
        Ok(WriteOutcome::Stored { version: 0 })
    }

    fn delete_object(
        &mut self,
        collection: String,
        id: String,
        version: i64,
    ) -> StoreResult<WriteOutcome> {
        let key = (collection, id);
        let held = self
            .versions
            .get(&key)
            .and_then(|v| v.get(&version))
            .map(|found| match found {
                Version::Stored { date_added } => Held::Stored(*date_added),
                Version::New { .. } => Held::Written,
            });
        let date_added = match rules::delete_object(held)? {
            Decision::Write(date_added) => date_added,
            Decision::Unchanged(outcome) => return Ok(outcome),
        };
        if let Some(versions) = self.versions.get_mut(&key) {
            versions.remove(&version);
        }
        self.collection(&key.0)?.objects -= 1;
        self.deleted_objects.push((key.0, date_added));
        Ok(WriteOutcome::Removed)
    }

    async fn prune_statuses(
        &mut self,
        transaction: &Transaction<'_>,
        before: u64,
    ) -> StoreResult<WriteOutcome> {
        let removed_stored = match signed(before) {
            Some(before) => transaction
                .execute("DELETE FROM statuses WHERE stored_at < $1", &[&before])
                .await
                .map_err(db_error)?,
            None => transaction
                .execute("DELETE FROM statuses", &[])
                .await
                .map_err(db_error)?,
        };
        let mut removed_new = false;
        for status in self.statuses.values_mut() {
            if status.as_ref().is_some_and(|(stored_at, _)| {
                u64::try_from(*stored_at).is_ok_and(|t| rules::pruned(t, before))
            }) {
                *status = None;
                removed_new = true;
            }
        }
        Ok(rules::removal(removed_stored > 0 || removed_new))
    }
}
