//! Group records (layout 4, see `keys.rs`): the object versions one writer group added to a collection, or the
//! envelope versions it stored, kept as one sled value of entries in order. An entry's position (`date_added`,
//! or the envelope's seq) is written as its distance from the one before; the first entry's from the position in
//! the record's key.

use std::marker::PhantomData;

use sled::{Batch, IVec, Tree};

use super::{io_error, malformed};
use crate::store::fields::{Fields, push_varint};
use crate::store::keys;
use crate::store::text_log::Place;
use crate::store::{ObjectRef, StoreResult, StoredEnvelope, StoredObject};

/// Entries a group record holds at most: a larger group is written as several records, so that a lookup decodes
/// and a delete rewrites a bounded value.
pub(super) const GROUP_ENTRIES: usize = 64;

/// Bytes after which a group record takes no further entry (so a value is at most this plus one entry), whatever
/// [`GROUP_ENTRIES`] allows. sled keeps a tree node (up to 17 keys) whose encoding passes a quarter of its
/// 512 KiB segment as a blob, and counts a blob node as a few bytes against its cache: such nodes are never evicted,
/// so records of 48 KB (512 entries) kept every record written or read in memory, past `store.cache_mb`. Seventeen
/// records of this size and their keys stay under a quarter segment.
pub(super) const GROUP_BYTES: usize = 6 * 1024;

/// What one kind of group record holds.
pub(super) trait EntryKind {
    type Entry<'a>;
    /// What a damaged record is called in errors.
    const WHAT: &'static str;
    fn position(entry: &Self::Entry<'_>) -> u64;
    /// Writes the entry's fields that follow its position.
    fn encode(entry: &Self::Entry<'_>, into: &mut Vec<u8>);
    fn decode<'a>(position: u64, fields: &mut Fields<'a>) -> StoreResult<Self::Entry<'a>>;
    /// Passes over the entry's fields that follow its position, checking their lengths only: a lookup walks
    /// past hundreds of entries to the one it wants, and decoding (UTF-8 checks) each was most of its cost.
    fn skip(fields: &mut Fields<'_>) -> StoreResult<()>;
}

/// Records of object versions, keyed by collection and the first `date_added`.
pub(super) struct Objects;

/// Records of envelope versions, keyed by the first seq.
pub(super) struct Envelopes;

/// An object version: its id, version, version text as written, and where the exact object text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ObjectEntry<'a> {
    pub date_added: u64,
    pub id: &'a str,
    pub version: i64,
    pub version_text: &'a str,
    pub place: Place,
}

impl<'a> ObjectEntry<'a> {
    pub(super) fn borrowed<'t>(&self, text: &'t [u8]) -> ObjectRef<'t>
    where
        'a: 't,
    {
        ObjectRef {
            id: self.id,
            version: self.version,
            version_text: self.version_text,
            date_added: self.date_added,
            text,
        }
    }

    pub(super) fn into_stored(self, text: Vec<u8>) -> StoredObject {
        StoredObject {
            id: self.id.to_owned(),
            version: self.version,
            version_text: self.version_text.to_owned(),
            date_added: self.date_added,
            text,
        }
    }
}

/// An envelope version, with where its exact text is; its position is its seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EnvelopeEntry<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub version: u32,
    pub received: u64,
    pub collection: &'a str,
    pub place: Place,
}

impl EnvelopeEntry<'_> {
    pub(super) fn into_stored(self, text: Vec<u8>) -> StoredEnvelope {
        StoredEnvelope {
            id: self.id.to_owned(),
            version: self.version,
            position: self.seq,
            collection: self.collection.to_owned(),
            received: self.received,
            text,
        }
    }
}

impl EntryKind for Objects {
    type Entry<'a> = ObjectEntry<'a>;
    const WHAT: &'static str = "object group record";

    fn position(entry: &ObjectEntry<'_>) -> u64 {
        entry.date_added
    }

    fn encode(entry: &ObjectEntry<'_>, into: &mut Vec<u8>) {
        into.extend_from_slice(&entry.version.to_be_bytes());
        push_str16(into, entry.id);
        let version_length = u8::try_from(entry.version_text.len()).expect("timestamps are short");
        into.push(version_length);
        into.extend_from_slice(entry.version_text.as_bytes());
        entry.place.encode(into);
    }

    fn decode<'a>(date_added: u64, fields: &mut Fields<'a>) -> StoreResult<ObjectEntry<'a>> {
        let version = fields.i64()?;
        let id_length = fields.u16()?;
        let id = fields.str(usize::from(id_length))?;
        let version_length = fields.u8()?;
        Ok(ObjectEntry {
            date_added,
            id,
            version,
            version_text: fields.str(usize::from(version_length))?,
            place: fields.place()?,
        })
    }

    fn skip(fields: &mut Fields<'_>) -> StoreResult<()> {
        fields.take(8)?;
        let id_length = fields.u16()?;
        fields.take(usize::from(id_length))?;
        let version_length = fields.u8()?;
        fields.take(usize::from(version_length) + Place::ENCODED)?;
        Ok(())
    }
}

impl EntryKind for Envelopes {
    type Entry<'a> = EnvelopeEntry<'a>;
    const WHAT: &'static str = "envelope group record";

    fn position(entry: &EnvelopeEntry<'_>) -> u64 {
        entry.seq
    }

    fn encode(entry: &EnvelopeEntry<'_>, into: &mut Vec<u8>) {
        into.extend_from_slice(&entry.received.to_be_bytes());
        into.extend_from_slice(&entry.version.to_be_bytes());
        push_str16(into, entry.collection);
        push_str16(into, entry.id);
        entry.place.encode(into);
    }

    fn decode<'a>(seq: u64, fields: &mut Fields<'a>) -> StoreResult<EnvelopeEntry<'a>> {
        let received = fields.u64()?;
        let version = fields.u32()?;
        let collection_length = fields.u16()?;
        let collection = fields.str(usize::from(collection_length))?;
        let id_length = fields.u16()?;
        Ok(EnvelopeEntry {
            seq,
            id: fields.str(usize::from(id_length))?,
            version,
            received,
            collection,
            place: fields.place()?,
        })
    }

    fn skip(fields: &mut Fields<'_>) -> StoreResult<()> {
        fields.take(8 + 4)?;
        let collection_length = fields.u16()?;
        fields.take(usize::from(collection_length))?;
        let id_length = fields.u16()?;
        fields.take(usize::from(id_length) + Place::ENCODED)?;
        Ok(())
    }
}

fn push_str16(into: &mut Vec<u8>, text: &str) {
    let length = u16::try_from(text.len()).expect("ids and collection ids are short");
    into.extend_from_slice(&length.to_be_bytes());
    into.extend_from_slice(text.as_bytes());
}

/// The value of a group record whose key holds `first`; `entries` are in order, the first at `first` or later.
pub(super) fn encode<K: EntryKind>(first: u64, entries: &[K::Entry<'_>]) -> Vec<u8> {
    encode_up_to::<K>(first, entries, usize::MAX).0
}

/// The value of a record of `entries`' first entries, taken while the value is below `bytes`, and how many it
/// took (at least one, if any).
fn encode_up_to<K: EntryKind>(
    first: u64,
    entries: &[K::Entry<'_>],
    bytes: usize,
) -> (Vec<u8>, usize) {
    let mut value = Vec::with_capacity(entries.len().min(GROUP_ENTRIES) * 64);
    let mut last = first;
    let mut taken = 0;
    for entry in entries {
        if value.len() >= bytes {
            break;
        }
        let position = K::position(entry);
        push_varint(&mut value, position - last);
        K::encode(entry, &mut value);
        last = position;
        taken += 1;
    }
    (value, taken)
}

/// Puts `entries` (in order) in `batch` as group records of the keyspace `prefix`, each of at most
/// [`GROUP_ENTRIES`] entries and about [`GROUP_BYTES`] bytes, keyed by their first entry's position.
pub(super) fn put<K: EntryKind>(batch: &mut Batch, prefix: &[u8], entries: &[K::Entry<'_>]) {
    let mut rest = entries;
    while let Some(entry) = rest.first() {
        let first = K::position(entry);
        let within = &rest[..rest.len().min(GROUP_ENTRIES)];
        let (value, taken) = encode_up_to::<K>(first, within, GROUP_BYTES);
        batch.insert(keys::group(prefix, first), value);
        rest = &rest[taken..];
    }
}

/// The entries of the record with `value` whose key holds `first`, in order.
pub(super) fn entries<K: EntryKind>(first: u64, value: &[u8]) -> Entries<'_, K> {
    Entries {
        fields: Fields::new(value, K::WHAT),
        last: first,
        kind: PhantomData,
    }
}

pub(super) struct Entries<'a, K> {
    fields: Fields<'a>,
    last: u64,
    kind: PhantomData<K>,
}

impl<'a, K: EntryKind> Entries<'a, K> {
    /// Where the next entry starts in the value, and the position it is counted from.
    fn next_start(&self, value_length: usize) -> (usize, u64) {
        (value_length - self.fields.remaining(), self.last)
    }
}

impl<'a, K: EntryKind> Iterator for Entries<'a, K> {
    type Item = StoreResult<K::Entry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fields.remaining() == 0 {
            return None;
        }
        let entry = decode_next::<K>(&mut self.fields, self.last);
        if let Ok(entry) = &entry {
            self.last = K::position(entry);
        } else {
            // One error, then nothing: the rest cannot be read without this entry's length.
            self.fields = Fields::new(&[], K::WHAT);
        }
        Some(entry)
    }
}

fn decode_next<'a, K: EntryKind>(fields: &mut Fields<'a>, last: u64) -> StoreResult<K::Entry<'a>> {
    let position = last
        .checked_add(fields.varint()?)
        .ok_or_else(|| malformed(K::WHAT))?;
    K::decode(position, fields)
}

/// The position of the first entry of a record whose key is `key`: its last eight bytes.
pub(super) fn key_position(key: &[u8]) -> StoreResult<u64> {
    let bytes = key.len().checked_sub(8).map(|start| &key[start..]);
    bytes
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| malformed("group key"))
}

/// The record of the keyspace `prefix` that would hold `position`: the one with the greatest first position not
/// after it.
pub(super) fn holding(
    tree: &Tree,
    prefix: &[u8],
    position: u64,
) -> StoreResult<Option<(IVec, IVec)>> {
    tree.range(keys::group(prefix, 0)..=keys::group(prefix, position))
        .next_back()
        .transpose()
        .map_err(io_error)
}

/// Reads the entry at `position` of the keyspace `prefix` with `read`; `None` if there is none.
pub(super) fn find<K: EntryKind, T>(
    tree: &Tree,
    prefix: &[u8],
    position: u64,
    read: impl FnOnce(K::Entry<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let Some((key, value)) = holding(tree, prefix, position)? else {
        return Ok(None);
    };
    let mut fields = Fields::new(&value, K::WHAT);
    let mut at = key_position(&key)?;
    while fields.remaining() != 0 {
        at = at
            .checked_add(fields.varint()?)
            .ok_or_else(|| malformed(K::WHAT))?;
        match at.cmp(&position) {
            std::cmp::Ordering::Less => K::skip(&mut fields)?,
            std::cmp::Ordering::Equal => return read(K::decode(at, &mut fields)?).map(Some),
            std::cmp::Ordering::Greater => break,
        }
    }
    Ok(None)
}

/// The position of the last entry of the keyspace `prefix`.
pub(super) fn last_position<K: EntryKind>(tree: &Tree, prefix: &[u8]) -> StoreResult<Option<u64>> {
    let Some((key, value)) = tree
        .scan_prefix(prefix)
        .next_back()
        .transpose()
        .map_err(io_error)?
    else {
        return Ok(None);
    };
    let mut last = None;
    for entry in entries::<K>(key_position(&key)?, &value) {
        last = Some(K::position(&entry?));
    }
    Ok(last)
}

/// Which entries a [`Scan`] yields.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bound {
    /// Those at this position or later, oldest first.
    From(u64),
    /// Those before this position, newest first.
    Before(u64),
}

/// Walks the entries of a keyspace in order (or in reverse), reading each with a function of the record's key and
/// the entry that gives `None` to pass it over.
pub(super) struct Scan<K, F> {
    records: sled::Iter,
    bound: Bound,
    record: Option<Record>,
    read: F,
    kind: PhantomData<K>,
}

/// The record being walked: where its entries to yield start, in the order they are yielded.
struct Record {
    key: IVec,
    value: IVec,
    starts: Vec<(usize, u64)>,
    next: usize,
}

impl<K: EntryKind, F> Scan<K, F> {
    /// The entries of the keyspace `prefix` within `bound`.
    pub(super) fn new(tree: &Tree, prefix: &[u8], bound: Bound, read: F) -> StoreResult<Self> {
        let end = keys::prefix_end(prefix);
        let records = match bound {
            Bound::From(from) => {
                let start = match holding(tree, prefix, from)? {
                    Some((key, _)) => key.to_vec(),
                    None => keys::group(prefix, from),
                };
                tree.range(start..end)
            }
            Bound::Before(before) => tree.range(prefix.to_vec()..=keys::group(prefix, before)),
        };
        Ok(Self {
            records,
            bound,
            record: None,
            read,
            kind: PhantomData,
        })
    }

    fn next_record(&mut self) -> Option<StoreResult<Record>> {
        let record = match self.bound {
            Bound::From(_) => self.records.next(),
            Bound::Before(_) => self.records.next_back(),
        }?;
        Some(record.map_err(io_error).and_then(|(key, value)| {
            let mut entries = entries::<K>(key_position(&key)?, &value);
            let mut starts = Vec::new();
            loop {
                let start = entries.next_start(value.len());
                let Some(entry) = entries.next() else { break };
                let position = K::position(&entry?);
                let wanted = match self.bound {
                    Bound::From(from) => position >= from,
                    Bound::Before(before) => position < before,
                };
                if wanted {
                    starts.push(start);
                }
            }
            if let Bound::Before(_) = self.bound {
                starts.reverse();
            }
            Ok(Record {
                key,
                value,
                starts,
                next: 0,
            })
        }))
    }
}

impl<K, F, T> Iterator for Scan<K, F>
where
    K: EntryKind,
    F: FnMut(&[u8], K::Entry<'_>) -> StoreResult<Option<T>>,
{
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<StoreResult<T>> {
        loop {
            if let Some(record) = &mut self.record {
                if let Some(&(offset, last)) = record.starts.get(record.next) {
                    record.next += 1;
                    let mut fields = Fields::new(&record.value[offset..], K::WHAT);
                    let read = decode_next::<K>(&mut fields, last)
                        .and_then(|entry| (self.read)(&record.key, entry));
                    match read {
                        Ok(None) => continue,
                        Ok(Some(item)) => return Some(Ok(item)),
                        Err(error) => return Some(Err(error)),
                    }
                }
            }
            match self.next_record()? {
                Ok(record) => self.record = Some(record),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[cfg(test)]
#[path = "groups_records_tests.rs"]
mod tests;
