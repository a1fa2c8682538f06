//! A feed's state in the store's views, kept up to date as envelopes arrive so that no request rebuilds it.
//!
//! Keys, under `misp\0<view id>\0` (see [`FeedDefinition::view_id`](super::FeedDefinition)):
//!
//! | key | value |
//! |---|---|
//! | `M` | [`Meta`]: the definition it was made by, how far it has read the envelopes, its generation |
//! | `e` event-uuid:16 | [`Summary`] of one event: what `manifest.json` lists |
//! | `m` event-uuid:16 position:u64 | [`MemberChunk`]: members of the event that one batch took in |
//! | `h` event-uuid:16 position:u64 | [`HashChunk`]: those members' `hashes.csv` lines |
//!
//! `position` is an envelope version's place in the store's order of storage. A batch of the maintainer writes
//! its new members of an event as chunks of at most [`CHUNK`] members, each keyed by the position of its last
//! member, not a record per member: the store's cost is per key. Chunks of an event so hold disjoint ranges of
//! positions, in key order, and the member at a position is in the first chunk whose key is not below it (a
//! member taken out leaves its chunk's key as it was). Records are JSON. Where an envelope's version stands in
//! the feed is not recorded per envelope id: it follows from the version's payload and time, which the store
//! keeps, so a newer version finds the one it replaces there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// How far a feed's state goes, and by which definition it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub fingerprint: String,
    /// The position of the last envelope read; none before the first.
    pub checkpoint: Option<u64>,
    /// Moves whenever an event changes: the `ETag` of the index files.
    pub generation: u64,
    /// The newest event timestamp, in seconds: the `Last-Modified` of the index files.
    pub modified: u64,
    /// No event timestamp is below this: after a rebuild, every event is newer than any MISP has seen, so
    /// MISP fetches each once more.
    pub floor: u64,
}

/// One event, as `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub date: String,
    pub info: String,
    /// Seconds since the epoch; moves forward whenever the event changes, and only then.
    pub timestamp: u64,
    pub members: u64,
    /// How many of its members carry each tag: the event's tags are those with a count.
    pub tags: BTreeMap<String, u64>,
}

/// One envelope's part of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub envelope: String,
    pub version: u32,
    pub tags: Vec<String>,
    /// Feed JSON of its attributes and objects, as the event file writes them: written once when the envelope
    /// joins, then copied as they are (no JSON tree per attribute when a chunk is written or read).
    pub attributes: Vec<Box<RawValue>>,
    pub objects: Vec<Box<RawValue>>,
}

/// Members an event's chunk holds at most: enough to keep the keys few, few enough that taking one member out
/// (when a newer version replaces it) rewrites little, and that a packed chunk (about 4 KB of indicators' members)
/// keeps sled's tree nodes under the size it stores as blobs, which it never evicts from its cache (see
/// `GROUP_BYTES` in `store/sled_store/groups.rs`); 256 made chunks of 17 KB.
pub const CHUNK: usize = 64;

/// Members of one event, with their positions, in order: an `m` record.
pub type MemberChunk = Vec<(u64, Member)>;

/// The `hashes.csv` lines of a [`MemberChunk`]'s members, with their positions: an `h` record.
pub type HashChunk = Vec<(u64, String)>;

/// The keys of one feed's records.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: Vec<u8>,
}

impl Keys {
    pub fn new(view_id: &str) -> Self {
        let mut prefix = b"misp\0".to_vec();
        prefix.extend_from_slice(view_id.as_bytes());
        prefix.push(0);
        Self { prefix }
    }

    /// The prefix of every record of the feed.
    pub fn all(&self) -> &[u8] {
        &self.prefix
    }

    pub fn meta(&self) -> Vec<u8> {
        self.tagged(b'M', &[])
    }

    pub fn summaries(&self) -> Vec<u8> {
        self.tagged(b'e', &[])
    }

    pub fn summary(&self, event: Uuid) -> Vec<u8> {
        self.tagged(b'e', event.as_bytes())
    }

    /// The prefix of an event's members.
    pub fn members(&self, event: Uuid) -> Vec<u8> {
        self.tagged(b'm', event.as_bytes())
    }

    /// The key of the event's member chunk that ends at `position`.
    pub fn member_chunk(&self, event: Uuid, position: u64) -> Vec<u8> {
        let mut key = self.members(event);
        key.extend_from_slice(&position.to_be_bytes());
        key
    }

    /// The position a member chunk's key ends with.
    pub fn chunk_position(&self, key: &[u8]) -> Option<u64> {
        let bytes = key.get(key.len().checked_sub(8)?..)?;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// The prefix of every `hashes.csv` line of the feed.
    pub fn all_hashes(&self) -> Vec<u8> {
        self.tagged(b'h', &[])
    }

    /// The key of the hash chunk that goes with [`Keys::member_chunk`].
    pub fn hash_chunk(&self, event: Uuid, position: u64) -> Vec<u8> {
        let mut key = self.tagged(b'h', event.as_bytes());
        key.extend_from_slice(&position.to_be_bytes());
        key
    }

    /// The event of a summary key.
    pub fn event_of_summary(&self, key: &[u8]) -> Option<Uuid> {
        let bytes = key.strip_prefix(self.summaries().as_slice())?;
        Uuid::from_slice(bytes).ok()
    }

    fn tagged(&self, tag: u8, rest: &[u8]) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(tag);
        key.extend_from_slice(rest);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_and_record_kinds_do_not_share_prefixes() {
        let (a, b) = (Keys::new("c\0one"), Keys::new("c\0one-two"));
        assert!(!b.meta().starts_with(a.all()));
        let event = Uuid::from_u128(7);
        assert_eq!(a.event_of_summary(&a.summary(event)), Some(event));
        assert!(!a.member_chunk(event, 1).starts_with(&a.summaries()));
        assert!(a.hash_chunk(event, 1).starts_with(&a.all_hashes()));
        assert_eq!(a.chunk_position(&a.member_chunk(event, 7)), Some(7));
    }
}
