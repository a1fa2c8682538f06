//! The key layout of the sled store (layout 3).
//!
//! Everything lives in one tree, each keyspace behind a one-byte tag, so that one atomic `Batch` can write a
//! record together with what it moves. Integers are big-endian so that byte order is numeric order. Strings
//! that are followed by more key parts end with `0x00`; collection ids cannot contain control characters, so the
//! terminator is unambiguous.
//!
//! | key | value |
//! |---|---|
//! | `N` seq:u64 | envelope record: received:u64, version:u32, collection length:u16, collection, id length:u16, id, place of the exact text |
//! | `A` collection `0x00` date_added:u64 | object record: version:i64, id length:u16, STIX id, version text length:u8, version text, place of the exact object text |
//! | `S` status-id | status record: stored at:u64, status resource JSON |
//! | `K` key | a note: client checkpoints, provenance (bookkeeping, never served) |
//! | `C` collection | counts: objects:u64, envelopes:u64 (versions stored), moved by every write that adds or removes one |
//! | `M` name | metadata: `format` (u32, this layout is 3), `log-end` (the text log's end, segment:u32 and offset:u32, written with every batch that adds texts), `cursor-secret` |
//! | `V` view key | a derived view's record: data its owner made from envelopes and can make again (the MISP feeds, `src/misp/view.rs`, lay out their keys) |
//!
//! All times are microseconds since the Unix epoch.
//!
//! ## One key per stored text
//!
//! sled's cost is per key, and keys inserted in random order make its memory grow with the data, so a stored text
//! costs one key, and both text keys grow in the order of writing: an object version is one `A` key (its
//! collection's order of addition, so that a page is one range scan), an envelope version one `N` key (the order
//! envelopes were stored in, which feeds and exports walk). The exact texts are not in sled but in the text log
//! (`super::text_log`), written in the same order, so that reading a page's texts is sequential IO; a place is
//! segment:u32, offset:u32, length:u32.
//!
//! What earlier layouts kept as more keys per text is in memory (`sled_store/index.rs`), built from `A` and `N`
//! on first use: ids to versions (layout 2's `O` and `L` keys), envelope ids to versions (`E`), and per-type
//! counts instead of a type index (`T`: `match[type]` filters the `A` scan by the id's type). An object's type is
//! the prefix of its STIX id.
//!
//! ## Crash rules
//!
//! - A group's texts are written and fsynced to the text log before its batch is applied (the rules of
//!   `super::text_log`); the batch is atomic, so a record and the counts and log end it moves are durable together
//!   or not at all.
//! - The in-memory indexes are derived from `A` and `N` alone: a crash loses nothing they hold that is not made
//!   again on the next open.
//!
//! Layout 2 had `E`, `O`, `T` and `L` keys per text and its format 2; such a directory is refused with the way to
//! move it (`backup` with the earlier binary, `restore` with this one).
//!
//! A backup (`src/backup/`) carries `N`, `A` (and so `C`, which a restore makes again), `S`, `K` and the `M`
//! cursor secret; never `V`, which its owner makes again.

pub const ENVELOPE_ORDER: u8 = b'N';
pub const ADDED: u8 = b'A';
pub const STATUS: u8 = b'S';
pub const NOTE: u8 = b'K';
pub const VIEW: u8 = b'V';
pub const COUNTS: u8 = b'C';
pub const META_CURSOR_SECRET: &[u8] = b"Mcursor-secret";
pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_LOG_END: &[u8] = b"Mlog-end";

pub fn envelope_order(seq: u64) -> Vec<u8> {
    let mut key = vec![ENVELOPE_ORDER];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The seq of an `N` key.
pub fn parse_envelope_order(key: &[u8]) -> Option<u64> {
    let seq = key.strip_prefix(&[ENVELOPE_ORDER])?;
    Some(u64::from_be_bytes(seq.try_into().ok()?))
}

/// The prefix of a collection's objects in order of addition.
pub fn added_prefix(collection: &str) -> Vec<u8> {
    let mut key = vec![ADDED];
    key.extend_from_slice(collection.as_bytes());
    key.push(0);
    key
}

pub fn added(collection: &str, date_added: u64) -> Vec<u8> {
    let mut key = added_prefix(collection);
    key.extend_from_slice(&date_added.to_be_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn added_keys_round_trip(collection in "[^\\x00]{1,40}", date_added: u64) {
            let key = added(&collection, date_added);
            prop_assert_eq!(parse_any_added(&key), Some((collection.as_str(), date_added)));
            prop_assert_eq!(parse_added(added_prefix(&collection).len(), &key), Some(date_added));
        }

        #[test]
        fn envelope_order_keys_round_trip_in_numeric_order(a: u64, b: u64) {
            prop_assert_eq!(parse_envelope_order(&envelope_order(a)), Some(a));
            prop_assert_eq!(a.cmp(&b), envelope_order(a).cmp(&envelope_order(b)));
        }
    }

    #[test]
    fn one_collection_is_not_a_prefix_of_another() {
        assert!(!added("ab", 0).starts_with(&added_prefix("a")));
    }
}
