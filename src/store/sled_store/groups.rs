//! Group records (layout 6, see `keys.rs`): the object versions one writer group added to a collection, or the
//! envelope versions it stored, kept as one sled value: a header, then the entries in order, each written against
//! the header (`group_entries.rs`). An entry's position (`date_added`, or the envelope's seq) is written as its
//! distance from the one before, the first entry's from the position in the record's key, and its length follows,
//! so that a walk to one entry reads two varints for each entry it passes.

use sled::{Batch, IVec, Tree};

use super::{io_error, malformed};
use crate::store::StoreResult;
use crate::store::fields::{Fields, push_text, push_varint, push_zigzag};
use crate::store::keys;
use crate::store::text_log::Place;

/// Entries a group record holds at most: a larger group is written as several records, so that a lookup walks
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
    type Entry;
    /// What a damaged record is called in errors.
    const WHAT: &'static str;
    fn position(entry: &Self::Entry) -> u64;
    /// The entry's time (an object's version, an envelope's received), written as its distance from the first
    /// entry's.
    fn time(entry: &Self::Entry) -> u64;
    fn place(entry: &Self::Entry) -> Place;
    /// Moves the entry's text: compaction copies texts to the log's end.
    fn set_place(entry: &mut Self::Entry, place: Place);
    /// The texts of the entry that the header lists, for the entry to name them by number.
    fn texts(entry: &Self::Entry) -> impl Iterator<Item = &str>;
    /// Writes the entry's fields that follow its position and length.
    fn encode(entry: &Self::Entry, header: &Header<'_>, into: &mut Vec<u8>);
    fn decode(
        position: u64,
        header: &Header<'_>,
        fields: &mut Fields<'_>,
    ) -> StoreResult<Self::Entry>;
}

/// The start of a record's value, which its entries are written against: the texts they name by number (ids'
/// prefixes, envelopes' collections) and the time and place of the first entry, from which each entry's are
/// distances. Written as: the number of texts (varint), each text (varint length, bytes), time (varint), segment
/// (varint), offset (varint).
pub(super) struct Header<'a> {
    what: &'static str,
    texts: Vec<&'a str>,
    time: u64,
    place: Place,
}

impl<'a> Header<'a> {
    fn of<K: EntryKind>(entries: &'a [K::Entry]) -> Self {
        let mut texts = Vec::new();
        for text in entries.iter().flat_map(K::texts) {
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        let first = entries.first();
        Self {
            what: K::WHAT,
            texts,
            time: first.map_or(0, K::time),
            place: first.map_or(
                Place {
                    segment: 0,
                    offset: 0,
                    length: 0,
                },
                K::place,
            ),
        }
    }

    fn encode(&self, into: &mut Vec<u8>) {
        push_varint(into, self.texts.len() as u64);
        for text in &self.texts {
            push_text(into, text);
        }
        push_varint(into, self.time);
        push_varint(into, self.place.segment.into());
        push_varint(into, self.place.offset.into());
    }

    fn decode(fields: &mut Fields<'a>, what: &'static str) -> StoreResult<Self> {
        let count = fields.varint()?;
        // Each text takes a byte at least: a count beyond the value's length is damage, not an allocation to try.
        if count > fields.remaining() as u64 {
            return Err(malformed(what));
        }
        let texts = (0..count)
            .map(|_| fields.text())
            .collect::<StoreResult<_>>()?;
        let time = fields.varint()?;
        let u32_field = |value: u64| u32::try_from(value).map_err(|_| malformed(what));
        let segment = u32_field(fields.varint()?)?;
        let offset = u32_field(fields.varint()?)?;
        Ok(Self {
            what,
            texts,
            time,
            place: Place {
                segment,
                offset,
                length: 0,
            },
        })
    }

    pub(super) fn what(&self) -> &'static str {
        self.what
    }

    /// The number of a text of the record's entries.
    pub(super) fn index(&self, text: &str) -> u64 {
        let index = self.texts.iter().position(|t| *t == text);
        index.expect("the header lists the texts of its entries") as u64
    }

    pub(super) fn text(&self, index: u64) -> StoreResult<&'a str> {
        let text = usize::try_from(index).ok().and_then(|i| self.texts.get(i));
        text.copied().ok_or_else(|| malformed(self.what))
    }

    /// `time` as a distance from the first entry's, as [`Header::time_at`] takes it back (wrapping, so that any
    /// two times have one).
    pub(super) fn time_distance(&self, time: u64) -> i64 {
        time.wrapping_sub(self.time) as i64
    }

    pub(super) fn time_at(&self, distance: i64) -> u64 {
        self.time.wrapping_add(distance as u64)
    }

    /// Writes a place as its length (varint), then its segment's and its offset's distances from the first
    /// entry's (zigzag varints): a group's texts are near each other in the log.
    pub(super) fn push_place(&self, into: &mut Vec<u8>, place: Place) {
        push_varint(into, place.length.into());
        push_zigzag(
            into,
            i64::from(place.segment) - i64::from(self.place.segment),
        );
        push_zigzag(into, i64::from(place.offset) - i64::from(self.place.offset));
    }

    pub(super) fn read_place(&self, fields: &mut Fields<'_>) -> StoreResult<Place> {
        let u32_field = |value: i64| u32::try_from(value).map_err(|_| malformed(self.what));
        let length = u32::try_from(fields.varint()?).map_err(|_| malformed(self.what))?;
        let segment = u32_field(i64::from(self.place.segment) + fields.zigzag()?)?;
        let offset = u32_field(i64::from(self.place.offset) + fields.zigzag()?)?;
        Ok(Place {
            segment,
            offset,
            length,
        })
    }
}

/// The value of a group record whose key holds `first`; `entries` are in order, the first at `first` or later.
pub(super) fn encode<K: EntryKind>(first: u64, entries: &[K::Entry]) -> Vec<u8> {
    let header = Header::of::<K>(entries);
    let mut value = Vec::with_capacity(64 + entries.len() * 40);
    header.encode(&mut value);
    let mut fields = Vec::new();
    let mut last = first;
    for entry in entries {
        let position = K::position(entry);
        push_varint(&mut value, position - last);
        fields.clear();
        K::encode(entry, &header, &mut fields);
        push_varint(&mut value, fields.len() as u64);
        value.extend_from_slice(&fields);
        last = position;
    }
    value
}

/// Puts `entries` (in order) in `batch` as group records of the keyspace `prefix`, keyed by their first entry's
/// position, each of at most [`GROUP_ENTRIES`] entries and [`GROUP_BYTES`] bytes (unless one entry alone is more).
pub(super) fn put<K: EntryKind>(batch: &mut Batch, prefix: &[u8], entries: &[K::Entry]) {
    let mut rest = entries;
    while let Some(entry) = rest.first() {
        let first = K::position(entry);
        let mut taken = rest.len().min(GROUP_ENTRIES);
        let mut value = encode::<K>(first, &rest[..taken]);
        // Compact entries are about 30 bytes, so this is rare: ids that are not UUIDs, kept whole.
        while value.len() > GROUP_BYTES && taken > 1 {
            taken = taken.div_ceil(2);
            value = encode::<K>(first, &rest[..taken]);
        }
        batch.insert(keys::group(prefix, first), value);
        rest = &rest[taken..];
    }
}

/// Steps through a record's entries by their lengths, reading only their positions until asked for an entry.
struct Walk<'a> {
    header: Header<'a>,
    fields: Fields<'a>,
    last: u64,
}

impl<'a> Walk<'a> {
    fn new<K: EntryKind>(first: u64, value: &'a [u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, K::WHAT);
        Ok(Self {
            header: Header::decode(&mut fields, K::WHAT)?,
            fields,
            last: first,
        })
    }

    /// The next entry's position and its fields, `None` after the last.
    fn next(&mut self) -> StoreResult<Option<(u64, Fields<'a>)>> {
        if self.fields.remaining() == 0 {
            return Ok(None);
        }
        let what = self.header.what;
        self.last = self
            .last
            .checked_add(self.fields.varint()?)
            .ok_or_else(|| malformed(what))?;
        let length = usize::try_from(self.fields.varint()?).unwrap_or(usize::MAX);
        Ok(Some((
            self.last,
            Fields::new(self.fields.take(length)?, what),
        )))
    }

    fn decode<K: EntryKind>(&self, position: u64, mut fields: Fields<'_>) -> StoreResult<K::Entry> {
        let entry = K::decode(position, &self.header, &mut fields)?;
        if fields.remaining() != 0 {
            return Err(malformed(K::WHAT));
        }
        Ok(entry)
    }
}

/// The entries of the record with `value` whose key holds `first`, in order.
pub(super) fn entries<K: EntryKind>(first: u64, value: &[u8]) -> Entries<'_, K> {
    Entries {
        walk: Some(Walk::new::<K>(first, value)),
        kind: std::marker::PhantomData,
    }
}

pub(super) struct Entries<'a, K> {
    /// `None` once done: after the last entry, or after an error (the rest cannot be read without the length it
    /// lost).
    walk: Option<StoreResult<Walk<'a>>>,
    kind: std::marker::PhantomData<K>,
}

impl<K: EntryKind> Iterator for Entries<'_, K> {
    type Item = StoreResult<K::Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut walk = match self.walk.take()? {
            Ok(walk) => walk,
            Err(error) => return Some(Err(error)),
        };
        let next = walk.next().and_then(|next| {
            next.map(|(position, fields)| walk.decode::<K>(position, fields))
                .transpose()
        });
        match next {
            Ok(Some(entry)) => {
                self.walk = Some(Ok(walk));
                Some(Ok(entry))
            }
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

/// The entries within `bound` of the record with `value` whose key holds `first`, in the order `bound` walks
/// them; the others are passed over undecoded.
pub(super) fn wanted<K: EntryKind>(
    first: u64,
    value: &[u8],
    bound: Bound,
) -> StoreResult<Vec<K::Entry>> {
    let mut walk = Walk::new::<K>(first, value)?;
    let mut wanted = Vec::new();
    while let Some((position, fields)) = walk.next()? {
        let within = match bound {
            Bound::From(from) => position >= from,
            Bound::Before(before) => position < before,
        };
        if within {
            wanted.push(walk.decode::<K>(position, fields)?);
        }
    }
    if let Bound::Before(_) = bound {
        wanted.reverse();
    }
    Ok(wanted)
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
    read: impl FnOnce(K::Entry) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let Some((key, value)) = holding(tree, prefix, position)? else {
        return Ok(None);
    };
    let mut walk = Walk::new::<K>(key_position(&key)?, &value)?;
    while let Some((at, fields)) = walk.next()? {
        match at.cmp(&position) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return read(walk.decode::<K>(at, fields)?).map(Some),
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
    let mut walk = Walk::new::<K>(key_position(&key)?, &value)?;
    let mut last = None;
    while let Some((position, _)) = walk.next()? {
        last = Some(position);
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
pub(super) struct Scan<K: EntryKind, F> {
    records: sled::Iter,
    bound: Bound,
    /// The key of the record being walked, and its entries still to read.
    record: Option<(IVec, std::vec::IntoIter<K::Entry>)>,
    read: F,
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
        })
    }

    fn next_record(&mut self) -> Option<StoreResult<(IVec, std::vec::IntoIter<K::Entry>)>> {
        let record = match self.bound {
            Bound::From(_) => self.records.next(),
            Bound::Before(_) => self.records.next_back(),
        }?;
        Some(record.map_err(io_error).and_then(|(key, value)| {
            let entries = wanted::<K>(key_position(&key)?, &value, self.bound)?;
            Ok((key, entries.into_iter()))
        }))
    }
}

impl<K, F, T> Iterator for Scan<K, F>
where
    K: EntryKind,
    F: FnMut(&[u8], K::Entry) -> StoreResult<Option<T>>,
{
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<StoreResult<T>> {
        loop {
            if let Some((key, entries)) = &mut self.record
                && let Some(entry) = entries.next()
            {
                match (self.read)(key, entry) {
                    Ok(None) => continue,
                    Ok(Some(item)) => return Some(Ok(item)),
                    Err(error) => return Some(Err(error)),
                }
            }
            match self.next_record()? {
                Ok(record) => self.record = Some(record),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}
