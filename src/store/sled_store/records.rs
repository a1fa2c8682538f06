//! How the small values are laid out: big-endian fields. Group records are in `groups.rs`, statuses and views
//! in `packed.rs`.

use std::collections::BTreeMap;

use crate::store::StoreResult;
use crate::store::fields::Fields;

/// A `C` value: a collection's object and envelope counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub objects: u64,
    pub envelopes: u64,
}

impl Counts {
    pub(super) fn encode(self) -> Vec<u8> {
        [self.objects.to_be_bytes(), self.envelopes.to_be_bytes()].concat()
    }

    pub(super) fn decode(value: &[u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, "counts");
        Ok(Self {
            objects: fields.u64()?,
            envelopes: fields.u64()?,
        })
    }
}

/// The `M dead-bytes` value: by text log segment, the bytes of its texts that deletes (or compaction, moving a
/// splice) stopped naming. Some may still be live (a splice may name a deleted object's text): it tells
/// compaction which segments to look at, not what it will free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DeadBytes(pub BTreeMap<u32, u64>);

impl DeadBytes {
    pub(super) fn add(&mut self, segment: u32, bytes: u64) {
        *self.0.entry(segment).or_default() += bytes;
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(self.0.len() * 12);
        for (segment, bytes) in &self.0 {
            value.extend_from_slice(&segment.to_be_bytes());
            value.extend_from_slice(&bytes.to_be_bytes());
        }
        value
    }

    pub(super) fn decode(value: &[u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, "dead bytes");
        let mut dead = BTreeMap::new();
        while fields.remaining() != 0 {
            dead.insert(fields.u32()?, fields.u64()?);
        }
        Ok(Self(dead))
    }
}
