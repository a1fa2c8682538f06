//! How the small values are laid out: big-endian fields. Group records are in `groups.rs`, statuses and views
//! in `packed.rs`.

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
