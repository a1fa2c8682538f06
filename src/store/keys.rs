//! The key layout of the sled store.
//!
//! Everything lives in one tree, each keyspace behind a one-byte tag, so that one atomic `Batch` can write a
//! record together with all of its index entries. Integers are big-endian so that byte order is numeric order.
//! Strings that are followed by more key parts end with `0x00`; envelope ids and collection ids cannot
//! contain control characters, and STIX ids are `[a-z0-9-]--uuid`, so the terminator is unambiguous.
//!
//! | key | value |
//! |---|---|
//! | `E` id `0x00` version:u32 | envelope record: received:u64, position:u64 (its `N` seq), collection length:u16, collection, place of the exact text |
//! | `N` seq:u64 | the `E` key: envelopes in the order they were stored (export walks this) |
//! | `A` collection `0x00` date_added:u64 | object record: version:i64, id length:u16, STIX id, version text length:u8, version text, place of the exact object text |
//! | `O` collection `0x00` stix-id `0x00` version:i64 (sign bit flipped) | date_added:u64 (the `A` key of that version) |
//! | `T` collection `0x00` type `0x00` date_added:u64 | empty: the collection's `A` keys of one object type (for `match[type]`) |
//! | `L` collection `0x00` stix-id | first version:i64, last version:i64, for objects with two or more versions only |
//!
//! Objects live in `A`, in order of addition, so that a page is one range scan. The exact texts are not in sled but
//! in the text log (`super::text_log`), written in the same order, so that reading a page's texts is sequential IO;
//! a place is segment:u32, offset:u32, length:u32.
//! | `S` status-id | status record: stored at:u64, status resource JSON |
//! | `K` key | a note: client checkpoints, provenance (bookkeeping, never served) |
//! | `C` collection | counts: objects:u64, envelopes:u64 (versions stored), moved by every write that adds or removes one |
//! | `M` name | metadata: `format` (u32, this layout is 2; layout 1 kept the texts in sled), `log-end` (the text log's end, segment:u32 and offset:u32, written with every batch that adds texts), `cursor-secret` |
//! | `V` view key | a derived view's record: data its owner made from envelopes and can make again (the MISP feeds, `src/misp/view.rs`, lay out their keys) |
//!
//! All times are microseconds since the Unix epoch.
//!
//! A backup (`src/backup/`) carries `E` (with its `N` position), `A` (and so `O`, `T`, `L`, `C`, which a
//! restore makes again), `S`, `K` and the `M` cursor secret; never `V`, which its owner makes again.

pub const ENVELOPE: u8 = b'E';
pub const ENVELOPE_ORDER: u8 = b'N';
pub const OBJECT: u8 = b'O';
pub const ADDED: u8 = b'A';
pub const ADDED_BY_TYPE: u8 = b'T';
pub const BOUNDS: u8 = b'L';
pub const STATUS: u8 = b'S';
pub const NOTE: u8 = b'K';
pub const VIEW: u8 = b'V';
pub const COUNTS: u8 = b'C';
pub const META_CURSOR_SECRET: &[u8] = b"Mcursor-secret";
pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_LOG_END: &[u8] = b"Mlog-end";

pub fn envelope_prefix(id: &str) -> Vec<u8> {
    tagged(ENVELOPE, &[id.as_bytes()])
}

pub fn envelope(id: &str, version: u32) -> Vec<u8> {
    let mut key = envelope_prefix(id);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// Splits an `E` key into id and version.
pub fn parse_envelope(key: &[u8]) -> Option<(&str, u32)> {
    let rest = key.strip_prefix(&[ENVELOPE])?;
    let (id, version) = rest.split_at_checked(rest.len().checked_sub(5)?)?;
    let version = version.strip_prefix(&[0])?;
    Some((
        std::str::from_utf8(id).ok()?,
        u32::from_be_bytes(version.try_into().ok()?),
    ))
}

pub fn envelope_order(seq: u64) -> Vec<u8> {
    let mut key = vec![ENVELOPE_ORDER];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn object_suffix(stix_id: &str, version: i64) -> Vec<u8> {
    let mut suffix = stix_id.as_bytes().to_vec();
    suffix.push(0);
    suffix.extend_from_slice(&flip(version).to_be_bytes());
    suffix
}

pub fn object(collection: &str, suffix: &[u8]) -> Vec<u8> {
    let mut key = tagged(OBJECT, &[collection.as_bytes()]);
    key.extend_from_slice(suffix);
    key
}

/// The prefix of every version of one object.
pub fn object_versions_prefix(collection: &str, stix_id: &str) -> Vec<u8> {
    tagged(OBJECT, &[collection.as_bytes(), stix_id.as_bytes()])
}

/// The version in an `O` key, which ends in it.
pub fn version_of_object_key(key: &[u8]) -> Option<i64> {
    let bytes = key.get(key.len().checked_sub(8)?..)?;
    Some(unflip(u64::from_be_bytes(bytes.try_into().ok()?)))
}

/// The prefix of a collection's index in order of addition, or of its index for one object type.
pub fn added_prefix(collection: &str, object_type: Option<&str>) -> Vec<u8> {
    match object_type {
        None => tagged(ADDED, &[collection.as_bytes()]),
        Some(object_type) => tagged(
            ADDED_BY_TYPE,
            &[collection.as_bytes(), object_type.as_bytes()],
        ),
    }
}

pub fn added(collection: &str, object_type: Option<&str>, date_added: u64) -> Vec<u8> {
    let mut key = added_prefix(collection, object_type);
    key.extend_from_slice(&date_added.to_be_bytes());
    key
}

pub fn bounds_prefix(collection: &str) -> Vec<u8> {
    tagged(BOUNDS, &[collection.as_bytes()])
}

pub fn bounds(collection: &str, stix_id: &str) -> Vec<u8> {
    let mut key = bounds_prefix(collection);
    key.extend_from_slice(stix_id.as_bytes());
    key
}

pub fn counts(collection: &str) -> Vec<u8> {
    let mut key = vec![COUNTS];
    key.extend_from_slice(collection.as_bytes());
    key
}

pub fn note(key: &str) -> Vec<u8> {
    let mut bytes = vec![NOTE];
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

pub fn view(key: &[u8]) -> Vec<u8> {
    let mut bytes = vec![VIEW];
    bytes.extend_from_slice(key);
    bytes
}

pub fn status(id: &str) -> Vec<u8> {
    let mut key = vec![STATUS];
    key.extend_from_slice(id.as_bytes());
    key
}

/// Splits an `A` key into collection and date_added.
pub fn parse_any_added(key: &[u8]) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(&[ADDED])?;
    let (collection, date_added) = rest.split_at_checked(rest.len().checked_sub(9)?)?;
    let date_added = date_added.strip_prefix(&[0])?;
    Some((
        std::str::from_utf8(collection).ok()?,
        u64::from_be_bytes(date_added.try_into().ok()?),
    ))
}

pub fn parse_added(prefix_len: usize, key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(prefix_len..)?.try_into().ok()?))
}

fn tagged(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![tag];
    for part in parts {
        key.extend_from_slice(part);
        key.push(0);
    }
    key
}

/// Maps signed to unsigned so that byte order matches numeric order, negatives first.
fn flip(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

fn unflip(value: u64) -> i64 {
    (value ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn object_versions_sort_in_numeric_order(a: i64, b: i64) {
            let (ka, kb) = (object_suffix("x--1", a), object_suffix("x--1", b));
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            prop_assert_eq!(version_of_object_key(&object("c", &ka)), Some(a));
        }

        #[test]
        fn added_keys_round_trip(collection in "[^\\x00]{1,40}", date_added: u64) {
            let key = added(&collection, None, date_added);
            prop_assert_eq!(parse_any_added(&key), Some((collection.as_str(), date_added)));
        }

        #[test]
        fn envelope_keys_round_trip(id in "[^\\x00-\\x1f]{1,40}", version: u32) {
            let key = envelope(&id, version);
            prop_assert_eq!(parse_envelope(&key), Some((id.as_str(), version)));
            prop_assert!(key.starts_with(&envelope_prefix(&id)));
        }
    }

    #[test]
    fn one_id_is_not_a_prefix_of_another() {
        assert!(!envelope("ab", 0).starts_with(&envelope_prefix("a")));
    }
}
