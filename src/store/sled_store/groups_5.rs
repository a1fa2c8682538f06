//! Group records as layouts 4 and 5 wrote them, read (and, from layout 3's keys, written) only to carry a data
//! directory over to layout 6 (`migrate.rs`). Such a record is its entries one after the other, none of them
//! written against a header:
//!
//! - an object entry: date_added (a LEB128 varint, its distance from the entry before, the first's from the key's
//!   date_added), version:i64, id length:u16, id, version text length:u8, version text, place;
//! - an envelope entry: seq (a varint distance, likewise), received:u64, version:u32, collection length:u16,
//!   collection, id length:u16, id, place;
//!
//! a place being segment:u32, offset:u32, length:u32. Layout 3 kept each entry under a key of its own, its value
//! the entry's fields after its position.

use sled::Batch;

use super::group_entries::{EnvelopeEntry, Envelopes, ObjectEntry, Objects};
use super::groups::{EntryKind, GROUP_ENTRIES};
use super::inline_str::InlineStr;
use super::malformed;
use crate::store::StoreResult;
use crate::store::fields::{Fields, push_varint};
use crate::store::keys;

/// How layout 5 wrote the entries of a kind.
pub(super) trait Layout5: EntryKind {
    /// Reads the entry's fields after its position.
    fn decode_5(position: u64, fields: &mut Fields<'_>) -> StoreResult<Self::Entry>;
    /// Writes the entry's fields after its position.
    fn encode_5(entry: &Self::Entry, into: &mut Vec<u8>);
}

impl Layout5 for Objects {
    fn decode_5(date_added: u64, fields: &mut Fields<'_>) -> StoreResult<ObjectEntry> {
        let version = fields.i64()?;
        let id_length = fields.u16()?;
        let id = InlineStr::new(fields.str(usize::from(id_length))?);
        let version_length = fields.u8()?;
        Ok(ObjectEntry {
            date_added,
            id,
            version,
            version_text: InlineStr::new(fields.str(usize::from(version_length))?),
            place: fields.place()?,
        })
    }

    fn encode_5(entry: &ObjectEntry, into: &mut Vec<u8>) {
        into.extend_from_slice(&entry.version.to_be_bytes());
        push_str16(into, &entry.id);
        let version_length = u8::try_from(entry.version_text.len()).expect("timestamps are short");
        into.push(version_length);
        into.extend_from_slice(entry.version_text.as_bytes());
        entry.place.encode(into);
    }
}

impl Layout5 for Envelopes {
    fn decode_5(seq: u64, fields: &mut Fields<'_>) -> StoreResult<EnvelopeEntry> {
        let received = fields.u64()?;
        let version = fields.u32()?;
        let collection_length = fields.u16()?;
        let collection = InlineStr::new(fields.str(usize::from(collection_length))?);
        let id_length = fields.u16()?;
        Ok(EnvelopeEntry {
            seq,
            id: InlineStr::new(fields.str(usize::from(id_length))?),
            version,
            received,
            collection,
            place: fields.place()?,
        })
    }

    fn encode_5(entry: &EnvelopeEntry, into: &mut Vec<u8>) {
        into.extend_from_slice(&entry.received.to_be_bytes());
        into.extend_from_slice(&entry.version.to_be_bytes());
        push_str16(into, &entry.collection);
        push_str16(into, &entry.id);
        entry.place.encode(into);
    }
}

fn push_str16(into: &mut Vec<u8>, text: &str) {
    let length = u16::try_from(text.len()).expect("ids and collection ids are short");
    into.extend_from_slice(&length.to_be_bytes());
    into.extend_from_slice(text.as_bytes());
}

/// The entries of a layout 5 record with `value` whose key holds `first`, in order.
pub(super) fn entries<K: Layout5>(first: u64, value: &[u8]) -> StoreResult<Vec<K::Entry>> {
    let mut fields = Fields::new(value, K::WHAT);
    let mut entries = Vec::new();
    let mut last = first;
    while fields.remaining() != 0 {
        last = last
            .checked_add(fields.varint()?)
            .ok_or_else(|| malformed(K::WHAT))?;
        entries.push(K::decode_5(last, &mut fields)?);
    }
    Ok(entries)
}

/// Puts `entries` (in order) in `batch` as layout 5 records of the keyspace `prefix`, as `groups::put` does.
pub(super) fn put<K: Layout5>(batch: &mut Batch, prefix: &[u8], entries: &[K::Entry]) {
    for chunk in entries.chunks(GROUP_ENTRIES) {
        let first = K::position(&chunk[0]);
        batch.insert(keys::group(prefix, first), encode::<K>(first, chunk));
    }
}

/// The value of a layout 5 record whose key holds `first`; `entries` are in order, the first at `first` or later.
pub(super) fn encode<K: Layout5>(first: u64, entries: &[K::Entry]) -> Vec<u8> {
    let mut value = Vec::new();
    let mut last = first;
    for entry in entries {
        let position = K::position(entry);
        push_varint(&mut value, position - last);
        K::encode_5(entry, &mut value);
        last = position;
    }
    value
}
