//! Keeps every feed's state (see [`super::view`]) up to date with the store: a background task reads the
//! envelopes stored since each feed's checkpoint, in batches, and writes their part of the feed together with
//! the new checkpoint; a request first takes in at most one batch more, so that it sees what was just stored.
//!
//! A batch is made while the one before it is written: the feed's meta and the summaries as the batches left
//! them are kept in memory ([`Known`]), so the next batch need not read them back; a batch that must read a stored
//! member chunk (a newer version replacing an older one) waits for the write and is made again. Writes still go
//! in order, one at a time, each with its checkpoint, so a crash loses no more than before: the batches not
//! written yet are made again from the checkpoint the store holds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::changes::{Changes, KnownSummaries, decode, malformed};
use super::definition::FeedDefinition;
use super::render::{FeedEnvelope, member};
use super::settings::MispSettings;
use super::view::{HashChunk, Keys, Member, MemberChunk, Meta, Summary};
use crate::envelope::Envelope;
use crate::jobs::Job;
use crate::mapping::Tables;
use crate::store::{CollectionNames, Store, StoreError, StoreResult, WriteOp, Writer};

/// Envelopes read per write: enough to amortise a flush, few enough that a request never waits long.
const BATCH: usize = 2_000;
const IDLE: Duration = Duration::from_secs(1);

/// One feed and its state's keys.
pub struct Feed {
    pub definition: FeedDefinition,
    pub keys: Keys,
    pub fingerprint: String,
    /// One batch at a time: a batch builds on what the previous one wrote.
    state: tokio::sync::Mutex<FeedState>,
}

/// What the batches made so far left, and the write of the last one while it runs.
#[derive(Default)]
struct FeedState {
    /// `None` until read from the store, and after a failure.
    known: Option<Known>,
    /// The last batch's write, with how many envelopes it took in.
    writing: Option<(JoinHandle<StoreResult<()>>, usize)>,
}

/// The feed's state as the batches made so far leave it, written or not.
struct Known {
    meta: Meta,
    summaries: KnownSummaries,
}

/// What [`step`] made.
enum Step {
    UpToDate(Known),
    Batch {
        ops: Vec<WriteOp>,
        envelopes: usize,
        known: Option<Known>,
    },
    /// It needs to read what the write under way may change: make it again once that is done.
    Unsettled,
}

/// Every MISP feed, with what keeps them up to date.
pub struct MispFeeds {
    feeds: Vec<Arc<Feed>>,
    /// The collections, whose feeds are found by their ids and aliases.
    collections: CollectionNames,
    store: Arc<dyn Store>,
    writer: Writer,
    tables: Arc<Tables>,
}

impl MispFeeds {
    pub fn new(
        settings: &MispSettings,
        collections: CollectionNames,
        store: Arc<dyn Store>,
        writer: Writer,
        tables: Arc<Tables>,
    ) -> Self {
        let feeds = FeedDefinition::all(settings, &collections)
            .into_iter()
            .map(|definition| {
                Arc::new(Feed {
                    keys: Keys::new(&definition.view_id),
                    fingerprint: definition.fingerprint(&tables),
                    definition,
                    state: tokio::sync::Mutex::default(),
                })
            })
            .collect();
        Self {
            feeds,
            collections,
            store,
            writer,
            tables,
        }
    }

    /// The feed at `/misp/<name>/`: a configured feed by its name, else a collection's by its id or alias.
    pub fn find(&self, name: &str) -> Option<Arc<Feed>> {
        let view_id = match self.collections.id_of(name) {
            Some(collection) => format!("c\0{collection}"),
            None => format!("f\0{name}"),
        };
        self.feeds
            .iter()
            .find(|f| f.definition.view_id == view_id)
            .cloned()
    }

    /// Takes in what was stored since the feed's checkpoint, at most `limit` envelopes (rounded up to a batch).
    /// Returns once what it took in is written.
    pub async fn catch_up(&self, feed: &Arc<Feed>, limit: usize) -> StoreResult<()> {
        let mut read = 0;
        // Another node sharing the store may have taken envelopes in since the last call: what is kept in
        // memory is checked against the stored meta first.
        let mut verify = true;
        while read < limit {
            let mut state = feed.state.lock().await;
            if state.known.is_none() {
                // What the store holds is all there is to build on.
                settle(feed, &mut state).await?;
            }
            let (store, tables, batch_feed) = (
                Arc::clone(&self.store),
                Arc::clone(&self.tables),
                Arc::clone(feed),
            );
            let (known, settled) = (state.known.take(), state.writing.is_none());
            let step = tokio::task::spawn_blocking(move || {
                let known = known
                    .map(|known| verified(store.as_ref(), &batch_feed, known, verify))
                    .transpose()?
                    .flatten();
                step(store.as_ref(), &batch_feed, &tables, known, settled)
            })
            .await
            .map_err(|e| StoreError::Io(Box::new(e)))??;
            verify = false;
            match step {
                Step::UpToDate(known) => {
                    state.known = Some(known);
                    break;
                }
                Step::Unsettled => settle(feed, &mut state).await?,
                Step::Batch {
                    ops,
                    envelopes,
                    known,
                } => {
                    settle(feed, &mut state).await?;
                    let writer = self.writer.clone();
                    let write = tokio::spawn(async move { writer.write(ops).await.map(drop) });
                    state.writing = Some((write, envelopes));
                    state.known = known;
                    read += envelopes.max(1);
                }
            }
        }
        settle(feed, &mut *feed.state.lock().await).await
    }

    /// Keeps every feed up to date until the task is aborted.
    async fn maintain(self: Arc<Self>) {
        loop {
            for feed in &self.feeds {
                if let Err(error) = self.catch_up(feed, usize::MAX).await {
                    tracing::warn!(%error, feed = %feed.definition.view_id.replace('\0', ":"), "a MISP feed is behind");
                }
            }
            tokio::time::sleep(IDLE).await;
        }
    }

    /// What a request for the feed's files needs first: the state up to date, give or take a batch.
    pub async fn current(&self, feed: &Arc<Feed>) -> StoreResult<Meta> {
        self.catch_up(feed, BATCH).await?;
        Ok(self.read(&feed.keys.meta())?.unwrap_or_default())
    }

    pub fn summaries(&self, feed: &Feed) -> StoreResult<Vec<(Uuid, Summary)>> {
        let mut found = Vec::new();
        for entry in self.store.view_range(&feed.keys.summaries(), None) {
            let (key, value) = entry?;
            let event = feed
                .keys
                .event_of_summary(&key)
                .ok_or_else(|| malformed("summary key"))?;
            found.push((event, decode(&value)?));
        }
        Ok(found)
    }

    /// The event that holds a version of the envelope `id`: the newest version the feed has taken in, if it
    /// admitted that one.
    pub fn event_of(&self, feed: &Feed, id: &str) -> StoreResult<Option<Uuid>> {
        let Some(checkpoint) = self
            .read::<Meta>(&feed.keys.meta())?
            .and_then(|m| m.checkpoint)
        else {
            return Ok(None);
        };
        let Some(newest) = self.store.envelope(&feed.definition.collection, id)? else {
            return Ok(None);
        };
        let placed = placed_version(
            self.store.as_ref(),
            &feed.definition,
            id,
            newest.version + 1,
            checkpoint,
        )?;
        Ok(placed.map(|(event, _)| event))
    }

    pub fn summary(&self, feed: &Feed, event: Uuid) -> StoreResult<Option<Summary>> {
        self.read(&feed.keys.summary(event))
    }

    pub fn members(&self, feed: &Feed, event: Uuid) -> StoreResult<Vec<Member>> {
        let mut members = Vec::new();
        for entry in self.store.view_range(&feed.keys.members(event), None) {
            let chunk: MemberChunk = decode(&entry?.1)?;
            members.extend(chunk.into_iter().map(|(_, member)| member));
        }
        Ok(members)
    }

    /// The `hashes.csv` lines of up to `records` chunks after the chunk `after`, and the key to go on from.
    pub fn hashes(
        &self,
        feed: &Feed,
        after: Option<&[u8]>,
        records: usize,
    ) -> StoreResult<(Vec<u8>, Option<Vec<u8>>)> {
        let mut text = Vec::new();
        let mut last = None;
        for entry in self
            .store
            .view_range(&feed.keys.all_hashes(), after)
            .take(records)
        {
            let (key, value) = entry?;
            let chunk: HashChunk = decode(&value)?;
            for (_, lines) in chunk {
                text.extend_from_slice(lines.as_bytes());
            }
            last = Some(key);
        }
        Ok((text, last))
    }

    fn read<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        self.store.view(key)?.map(|v| decode(&v)).transpose()
    }
}

/// Waits for the feed's write under way, if any; after a failure, what the batches left is read again from
/// the store.
async fn settle(feed: &Feed, state: &mut FeedState) -> StoreResult<()> {
    let Some((write, envelopes)) = state.writing.take() else {
        return Ok(());
    };
    let written = write
        .await
        .map_err(|e| StoreError::Io(Box::new(e)))
        .and_then(|written| written);
    match written {
        Ok(()) => {
            let name = feed.definition.view_id.replace('\0', ":");
            tracing::debug!(feed = %name, envelopes, "MISP feed took in envelopes");
        }
        Err(_) => state.known = None,
    }
    written
}

/// `known` if it is what the store holds (checked when `verify`, which needs no write under way).
fn verified(
    store: &dyn Store,
    feed: &Feed,
    known: Known,
    verify: bool,
) -> StoreResult<Option<Known>> {
    if !verify {
        return Ok(Some(known));
    }
    let stored: Option<Meta> = store
        .view(&feed.keys.meta())?
        .map(|b| decode(&b))
        .transpose()?;
    Ok((stored.as_ref() == Some(&known.meta)).then_some(known))
}

/// The writes that take the next batch of envelopes into the feed, after what `known` says the batches before
/// left (read from the store when `None`, which must then be `settled`).
fn step(
    store: &dyn Store,
    feed: &Feed,
    tables: &Tables,
    known: Option<Known>,
    settled: bool,
) -> StoreResult<Step> {
    let keys = &feed.keys;
    let (stored, summaries) = match known {
        Some(known) => (Some(known.meta), known.summaries),
        None => (
            store.view(&keys.meta())?.map(|b| decode(&b)).transpose()?,
            KnownSummaries::new(),
        ),
    };
    let mut changes = Changes::new(store, keys, summaries, settled);
    let rebuild = stored
        .as_ref()
        .is_none_or(|meta| meta.fingerprint != feed.fingerprint);
    let mut meta = match stored {
        Some(meta) if !rebuild => meta,
        previous => {
            changes.clear();
            let previous = previous.unwrap_or_default();
            Meta {
                fingerprint: feed.fingerprint.clone(),
                checkpoint: None,
                generation: previous.generation + 1,
                modified: previous.modified,
                floor: previous.modified + 1,
            }
        }
    };
    // Each changed event, with the newest storage time (seconds) among the envelopes that joined it.
    let mut touched: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut read = 0;
    let collection = &feed.definition.collection;
    for stored in store
        .envelopes_after(collection, meta.checkpoint)
        .take(BATCH)
    {
        let stored = stored?;
        read += 1;
        meta.checkpoint = Some(stored.position);
        let Some((envelope, payload)) = intelmq_event(stored.text)? else {
            continue;
        };
        let id = envelope.id().to_string();
        // A newer version replaces the one the feed holds. Only versions after the first look for it, so that
        // the feed keeps no record per envelope id (a key in random order, which would make the store's
        // memory grow with the data).
        if stored.version > 0 {
            let old = placed_version(store, &feed.definition, &id, stored.version, u64::MAX)?;
            if let Some((event, position)) = old {
                changes.remove_member(event, position)?;
                if changes.unsettled() {
                    return Ok(Step::Unsettled);
                }
                touched.entry(event).or_default();
            }
        }
        if !feed.definition.admits(&payload) {
            continue;
        }
        let group = feed.definition.group(&payload, stored.received);
        let joining = FeedEnvelope {
            id: &id,
            version: stored.version,
            received: stored.received,
            payload: &payload,
        };
        let (member, hashes) = member(&joining, group.event, tables);
        let summary = match changes.summary(group.event)? {
            Some(summary) => summary,
            None => {
                changes.set_summary(
                    group.event,
                    Some(Summary {
                        date: group.date,
                        info: group.info,
                        timestamp: 0,
                        members: 0,
                        tags: BTreeMap::new(),
                    }),
                );
                changes.summary(group.event)?.expect("just set")
            }
        };
        summary.members += 1;
        for tag in &member.tags {
            *summary.tags.entry(tag.clone()).or_default() += 1;
        }
        changes.join(group.event, stored.position, member, hashes);
        let newest = touched.entry(group.event).or_default();
        *newest = (*newest).max(stored.received / 1_000_000);
    }
    if read == 0 && !rebuild {
        let (_, summaries) = changes.into_ops()?;
        return Ok(Step::UpToDate(Known { meta, summaries }));
    }
    for (event, newest) in &touched {
        let Some(summary) = changes.summary(*event)? else {
            continue;
        };
        if summary.members == 0 {
            changes.set_summary(*event, None);
            continue;
        }
        // Strictly later than before, or MISP, which compares seconds, would keep its old copy.
        let after_previous = if summary.timestamp > 0 {
            summary.timestamp + 1
        } else {
            0
        };
        summary.timestamp = (*newest).max(after_previous).max(meta.floor);
        meta.modified = meta.modified.max(summary.timestamp);
    }
    if !touched.is_empty() {
        meta.generation += 1;
    }
    let (mut ops, summaries) = changes.into_ops()?;
    ops.push(WriteOp::PutView {
        key: keys.meta(),
        value: serde_json::to_vec(&meta).map_err(|e| malformed(&e.to_string()))?,
    });
    Ok(Step::Batch {
        ops,
        envelopes: read,
        // After a rebuild the store holds the old state until the write clears it: the next batch waits for it.
        known: (!rebuild).then_some(Known { meta, summaries }),
    })
}

/// The envelope and its payload, if it is an IntelMQ event: what the feeds take in.
fn intelmq_event(text: Vec<u8>) -> StoreResult<Option<(Envelope, Map<String, Value>)>> {
    let (envelope, payload) =
        Envelope::stored_with_payload(text).map_err(|e| malformed(&e.to_string()))?;
    let is_intelmq_event = envelope.is_intelmq() && envelope.kind() != Some("report");
    Ok(is_intelmq_event.then_some((envelope, payload)))
}

/// Where the feed holds a version of the envelope `id` older than `below`, as event and position: the newest
/// such version of the feed's collection that is an IntelMQ event and was stored at or before `taken_in`, if the
/// feed admitted it. (Taking in a version removes the one before it, admitted or not.)
fn placed_version(
    store: &dyn Store,
    definition: &FeedDefinition,
    id: &str,
    below: u32,
    taken_in: u64,
) -> StoreResult<Option<(Uuid, u64)>> {
    for version in (0..below).rev() {
        let Some(older) = store.envelope_version(&definition.collection, id, version)? else {
            continue;
        };
        if older.position > taken_in {
            continue;
        }
        let (position, received) = (older.position, older.received);
        let Some((_, payload)) = intelmq_event(older.text)? else {
            continue;
        };
        return Ok(definition
            .admits(&payload)
            .then(|| (definition.group(&payload, received).event, position)));
    }
    Ok(None)
}

impl Job for MispFeeds {
    fn name(&self) -> String {
        "misp-feeds".into()
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        self.maintain().boxed()
    }
}
