//! One batch's changes to a feed's state, held in memory and read back before they are written: the events'
//! summaries it touched, the stored chunks it took members out of, and the members that join, which become new
//! chunks (see [`super::view`]).
//!
//! The maintainer makes a batch while the one before is still being written, so a batch must not read what that
//! write may change: summaries come from what the batches before left ([`Changes::new`]'s `known`), and a batch
//! that would read a stored member chunk then says it needs the store settled ([`Changes::unsettled`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::view::{CHUNK, HashChunk, Keys, Member, MemberChunk, Summary};
use crate::store::{Store, StoreError, StoreResult, WriteOp};

/// Summaries by event as the batches so far left them; `None` for an event they emptied.
pub type KnownSummaries = BTreeMap<Uuid, Option<Summary>>;

pub struct Changes<'a> {
    store: &'a dyn Store,
    keys: &'a Keys,
    /// Summaries that earlier batches wrote or read: the store may not hold them yet.
    known: KnownSummaries,
    /// No write of the feed's records is under way, so the store holds everything the batches before wrote.
    settled: bool,
    /// The batch needed a stored record while the store was not settled.
    unsettled: bool,
    /// The feed's stored state is dropped first (its definition changed).
    cleared: bool,
    /// Summaries as the batch leaves them; `None` for an event it emptied.
    summaries: BTreeMap<Uuid, Option<Summary>>,
    /// Stored chunks the batch took members out of, by event and key position.
    chunks: BTreeMap<(Uuid, u64), (MemberChunk, HashChunk)>,
    /// Members that join, per event, in order of position, with their `hashes.csv` lines.
    joining: BTreeMap<Uuid, Vec<(u64, Member, String)>>,
}

impl<'a> Changes<'a> {
    pub fn new(store: &'a dyn Store, keys: &'a Keys, known: KnownSummaries, settled: bool) -> Self {
        Self {
            store,
            keys,
            known,
            settled,
            unsettled: false,
            cleared: false,
            summaries: BTreeMap::new(),
            chunks: BTreeMap::new(),
            joining: BTreeMap::new(),
        }
    }

    /// Drops the feed's stored state, and what the batch changed so far.
    pub fn clear(&mut self) {
        self.cleared = true;
        self.known.clear();
        self.summaries.clear();
        self.chunks.clear();
        self.joining.clear();
    }

    /// The event's summary as the batch has it, if the event has one.
    pub fn summary(&mut self, event: Uuid) -> StoreResult<Option<&mut Summary>> {
        if !self.summaries.contains_key(&event) {
            let summary = match self.known.get(&event) {
                Some(known) => known.clone(),
                None => self.stored(&self.keys.summary(event))?,
            };
            self.summaries.insert(event, summary);
        }
        Ok(self.summaries.get_mut(&event).and_then(Option::as_mut))
    }

    pub fn set_summary(&mut self, event: Uuid, summary: Option<Summary>) {
        self.summaries.insert(event, summary);
    }

    /// A member joins the event at `position` (after every member of the feed so far).
    pub fn join(&mut self, event: Uuid, position: u64, member: Member, hashes: String) {
        self.joining
            .entry(event)
            .or_default()
            .push((position, member, hashes));
    }

    /// Takes the member at `position` out of its event, with its share of the event's tags.
    pub fn remove_member(&mut self, event: Uuid, position: u64) -> StoreResult<()> {
        let Some(member) = self.take_member(event, position)? else {
            return Ok(());
        };
        if let Some(summary) = self.summary(event)? {
            summary.members = summary.members.saturating_sub(1);
            for tag in &member.tags {
                if let Some(count) = summary.tags.get_mut(tag) {
                    *count -= 1;
                    if *count == 0 {
                        summary.tags.remove(tag);
                    }
                }
            }
        }
        Ok(())
    }

    fn take_member(&mut self, event: Uuid, position: u64) -> StoreResult<Option<Member>> {
        if let Some(joining) = self.joining.get_mut(&event)
            && let Some(at) = joining.iter().position(|(p, ..)| *p == position)
        {
            return Ok(Some(joining.remove(at).1));
        }
        if self.cleared {
            return Ok(None);
        }
        if !self.settled {
            self.unsettled = true;
            return Ok(None);
        }
        // The first chunk whose key is not below the position holds it, if any does.
        let after = position
            .checked_sub(1)
            .map(|before| self.keys.member_chunk(event, before));
        let Some(found) = self
            .store
            .view_range(&self.keys.members(event), after.as_deref())
            .next()
        else {
            return Ok(None);
        };
        let (key, members) = found?;
        let end = self
            .keys
            .chunk_position(&key)
            .ok_or_else(|| malformed("member chunk key"))?;
        if !self.chunks.contains_key(&(event, end)) {
            let hashes = self
                .stored(&self.keys.hash_chunk(event, end))?
                .unwrap_or_default();
            self.chunks
                .insert((event, end), (decode(&members)?, hashes));
        }
        let (members, hashes) = self.chunks.get_mut(&(event, end)).expect("just read");
        let Some(at) = members.iter().position(|(p, _)| *p == position) else {
            return Ok(None);
        };
        hashes.retain(|(p, _)| *p != position);
        Ok(Some(members.remove(at).1))
    }

    /// Whether the batch needed a stored member chunk while a write was under way: it must be made again once
    /// the write is done.
    pub fn unsettled(&self) -> bool {
        self.unsettled
    }

    /// The writes of the batch, and the summaries as it leaves them (with those the batches before left).
    pub fn into_ops(self) -> StoreResult<(Vec<WriteOp>, KnownSummaries)> {
        let keys = self.keys;
        let mut known = self.known;
        let mut ops: Vec<WriteOp> = Vec::new();
        if self.cleared {
            ops.push(WriteOp::ClearView {
                prefix: keys.all().to_vec(),
            });
        }
        for (event, summary) in self.summaries {
            ops.push(match &summary {
                Some(summary) => put(keys.summary(event), summary)?,
                None => WriteOp::DeleteView {
                    key: keys.summary(event),
                },
            });
            known.insert(event, summary);
        }
        for ((event, end), (members, hashes)) in self.chunks {
            if members.is_empty() {
                ops.push(WriteOp::DeleteView {
                    key: keys.member_chunk(event, end),
                });
                ops.push(WriteOp::DeleteView {
                    key: keys.hash_chunk(event, end),
                });
            } else {
                ops.push(put(keys.member_chunk(event, end), &members)?);
                ops.push(put(keys.hash_chunk(event, end), &hashes)?);
            }
        }
        for (event, joining) in self.joining {
            for chunk in joining.chunks(CHUNK) {
                let end = chunk.last().expect("chunks are not empty").0;
                let members: Vec<(u64, &Member)> = chunk.iter().map(|(p, m, _)| (*p, m)).collect();
                let hashes: Vec<(u64, &str)> =
                    chunk.iter().map(|(p, _, h)| (*p, h.as_str())).collect();
                ops.push(put(keys.member_chunk(event, end), &members)?);
                ops.push(put(keys.hash_chunk(event, end), &hashes)?);
            }
        }
        Ok((ops, known))
    }

    fn stored<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        if self.cleared {
            return Ok(None);
        }
        self.store.view(key)?.map(|b| decode(&b)).transpose()
    }
}

fn put<T: Serialize>(key: Vec<u8>, record: &T) -> StoreResult<WriteOp> {
    let value = serde_json::to_vec(record).map_err(|e| malformed(&e.to_string()))?;
    Ok(WriteOp::PutView { key, value })
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| malformed(&e.to_string()))
}

pub fn malformed(detail: &str) -> StoreError {
    StoreError::Malformed(format!("MISP feed record: {detail}"))
}
