//! The sled engine. See [`super::keys`] for the layout.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use sled::{Batch, IVec, Tree};

use super::keys;
use super::{
    DuplicatePolicy, NewObject, Store, StoreError, StoreIter, StoreResult, StoredEnvelope,
    StoredObject, WriteOp, WriteOutcome,
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
        let next_seq = match tree.scan_prefix([keys::ENVELOPE_ORDER]).next_back() {
            Some(entry) => {
                let (key, _) = entry.map_err(io_error)?;
                u64::from_be_bytes(key[1..].try_into().map_err(|_| malformed("order key"))?) + 1
            }
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
        let prefix = keys::added_prefix(collection);
        let last = match self.tree.scan_prefix(&prefix).next_back() {
            Some(entry) => {
                let (key, _) = entry.map_err(io_error)?;
                keys::parse_added(prefix.len(), &key).ok_or_else(|| malformed("added key"))?
            }
            None => 0,
        };
        counters.last_added.insert(collection.to_owned(), last);
        Ok(last)
    }

    fn latest_envelope(&self, id: &str) -> StoreResult<Option<(u32, IVec)>> {
        match self.tree.scan_prefix(keys::envelope_prefix(id)).next_back() {
            None => Ok(None),
            Some(entry) => {
                let (key, value) = entry.map_err(io_error)?;
                let (_, version) =
                    keys::parse_envelope(&key).ok_or_else(|| malformed("envelope key"))?;
                Ok(Some((version, value)))
            }
        }
    }
}

/// The writes of one `apply` that later ops of the same group must see.
#[derive(Default)]
struct Pending {
    envelopes: HashMap<String, (u32, Vec<u8>)>,
    objects: HashMap<Vec<u8>, Vec<u8>>,
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
                } => self.put_envelope(
                    &mut batch,
                    &mut pending,
                    &mut counters,
                    envelope,
                    &collection,
                    policy,
                    now,
                )?,
                WriteOp::PutObject { collection, object } => self.put_object(
                    &mut batch,
                    &mut pending,
                    &mut counters,
                    &collection,
                    object,
                    now,
                )?,
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

    fn envelopes(&self) -> StoreIter<'_, StoredEnvelope> {
        Box::new(
            self.tree
                .scan_prefix([keys::ENVELOPE_ORDER])
                .map(move |entry| {
                    let (_, envelope_key) = entry.map_err(io_error)?;
                    let (id, version) = keys::parse_envelope(&envelope_key)
                        .ok_or_else(|| malformed("order entry"))?;
                    let value = self
                        .tree
                        .get(&envelope_key)
                        .map_err(io_error)?
                        .ok_or_else(|| malformed("order entry without envelope"))?;
                    decode_envelope(id, version, &value)
                }),
        )
    }

    fn objects_added_after(
        &self,
        collection: &str,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredObject> {
        let prefix = keys::added_prefix(collection);
        let start = keys::added(collection, after.map_or(0, |a| a.saturating_add(1)));
        let mut end = prefix.clone();
        end.push(0xff);
        let collection = collection.to_owned();
        Box::new(self.tree.range(start..end).map(move |entry| {
            let (key, suffix) = entry.map_err(io_error)?;
            let date_added =
                keys::parse_added(prefix.len(), &key).ok_or_else(|| malformed("added key"))?;
            let (id, version) =
                keys::parse_object_suffix(&suffix).ok_or_else(|| malformed("added entry"))?;
            let value = self
                .tree
                .get(keys::object(&collection, &suffix))
                .map_err(io_error)?
                .ok_or_else(|| malformed("added entry without object"))?;
            Ok(StoredObject {
                id: id.to_owned(),
                version,
                date_added,
                text: value
                    .get(8..)
                    .ok_or_else(|| malformed("object record"))?
                    .to_vec(),
            })
        }))
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        self.db.size_on_disk().map_err(io_error)
    }
}

impl SledStore {
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
        let latest = match pending.envelopes.get(&id) {
            Some((version, text)) => Some((*version, text.clone())),
            None => self
                .latest_envelope(&id)?
                .map(|(version, value)| {
                    decode_envelope(&id, version, &value).map(|e| (version, e.text))
                })
                .transpose()?,
        };
        let version = match (&latest, policy) {
            (None, _) => 0,
            (Some((_, text)), _) if text == envelope.text() => return Ok(WriteOutcome::Duplicate),
            (Some(_), DuplicatePolicy::KeepFirst) => return Ok(WriteOutcome::Conflict),
            (Some((version, _)), DuplicatePolicy::NewVersion) => version + 1,
        };
        let key = keys::envelope(&id, version);
        let text = envelope.into_text();
        batch.insert(key.clone(), encode_envelope(now, collection, &text));
        batch.insert(keys::envelope_order(counters.next_seq), key);
        counters.next_seq += 1;
        pending.envelopes.insert(id, (version, text));
        Ok(WriteOutcome::Stored { version })
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
        let suffix = keys::object_suffix(&object.id, object.version);
        let key = keys::object(collection, &suffix);
        let existing = match pending.objects.get(&key) {
            Some(text) => Some(text.clone()),
            None => self
                .tree
                .get(&key)
                .map_err(io_error)?
                .map(|value| {
                    value
                        .get(8..)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| malformed("object record"))
                })
                .transpose()?,
        };
        match existing {
            Some(text) if text == object.text => return Ok(WriteOutcome::Duplicate),
            Some(_) => return Ok(WriteOutcome::Conflict),
            None => {}
        }
        // Unique and strictly increasing, even within one group, so that `added_after` paging never skips.
        let date_added = now.max(self.last_added(counters, collection)? + 1);
        counters
            .last_added
            .insert(collection.to_owned(), date_added);
        let mut value = date_added.to_be_bytes().to_vec();
        value.extend_from_slice(&object.text);
        batch.insert(key.clone(), value);
        batch.insert(keys::added(collection, date_added), suffix);
        pending.objects.insert(key, object.text);
        Ok(WriteOutcome::Stored { version: 0 })
    }
}

fn encode_envelope(received: u64, collection: &str, text: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(10 + collection.len() + text.len());
    value.extend_from_slice(&received.to_be_bytes());
    let length = u16::try_from(collection.len()).expect("collection ids are short");
    value.extend_from_slice(&length.to_be_bytes());
    value.extend_from_slice(collection.as_bytes());
    value.extend_from_slice(text);
    value
}

fn decode_envelope(id: &str, version: u32, value: &[u8]) -> StoreResult<StoredEnvelope> {
    let bad = || malformed("envelope record");
    let received = u64::from_be_bytes(
        value
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let length = u16::from_be_bytes(
        value
            .get(8..10)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let end = 10 + usize::from(length);
    let collection = std::str::from_utf8(value.get(10..end).ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(StoredEnvelope {
        id: id.to_owned(),
        version,
        collection: collection.to_owned(),
        received,
        text: value[end..].to_vec(),
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
