//! The key layout of the sled store (layout 7).
//!
//! Everything lives in one tree, each keyspace behind a one-byte tag, so that one atomic `Batch` can write a
//! record together with what it moves. Integers are big-endian so that byte order is numeric order. Strings
//! that are followed by more key parts end with `0x00`; collection ids cannot contain control characters, so the
//! terminator is unambiguous.
//!
//! | key | value |
//! |---|---|
//! | `G` collection `0x00` first date_added:u64 | object group record: the object versions one writer group added to the collection (see below) |
//! | `R` collection `0x00` first position:u64 | envelope group record: the envelope versions one writer group stored in the collection (see below); positions count one collection, and an envelope id is unique within its collection only |
//! | `S` status-id | status record: stored at:u64, status resource JSON packed (`sled_store/packed.rs`: zstd) |
//! | `K` key | a note: client checkpoints, provenance (bookkeeping, never served) |
//! | `C` collection | counts: objects:u64, envelopes:u64 (versions stored), moved by every write that adds or removes one |
//! | `M` name | metadata: `format` (u32, this layout is 7), `log-end` (the text log's end, segment:u32 and offset:u32, written with every batch that adds texts), `retired-segments` (the text log's segments that compaction emptied, u32 each, in order; see `sled_store/compact.rs`), `dead-bytes` (per segment:u32, the bytes:u64 of its texts that deletes stopped naming, moved by the batch of each delete; `sled_store/records.rs`), `cursor-secret`, `envelope-floor` (u64, the least position a collection's next envelope takes, raised by the restore of a backup whose positions counted every collection) |
//! | `V` view key | a derived view's record, packed: data its owner made from envelopes and can make again (the MISP feeds, `src/misp/view.rs`, lay out their keys) |
//!
//! All times are microseconds since the Unix epoch.
//!
//! ## One key per written group
//!
//! sled's cost is per key, and its memory grows with the keys it holds, so the texts one writer group adds cost
//! one key per collection (and keyspace), not one per text: a group record lists the group's entries in order, and its key holds
//! the position of its first entry. A group is written as records of at most `GROUP_ENTRIES` (64) entries and
//! `GROUP_BYTES` (6 KiB, unless one entry alone is more; both in `sled_store/groups.rs`), so that a lookup decodes, and a
//! delete rewrites, a bounded value, and so that sled never keeps a node of them as an unevicted blob. Readers
//! take records of any size. Records of one keyspace (a collection's objects, or its envelopes) never overlap:
//! every entry of a later group comes after every entry of an earlier one.
//!
//! A record's value is a header, then its entries. Numbers in them are LEB128 varints (seven bits a byte, low bits
//! first), signed ones zigzag varints (0, -1, 1, -2 … as 0, 1, 2, 3 …); a text is a varint length and its bytes.
//!
//! - The header: the number of texts, the texts the entries name by number (the prefixes of their ids, the
//!   envelopes' collections), then the first entry's time (an object's version as u64, an envelope's received)
//!   and the segment and offset of its place.
//! - Each entry: its position (date_added, or the envelope's position in its collection) as its distance from the entry before (the first's from the
//!   key's), the length of its fields, its fields. The length lets a lookup pass over an entry reading two
//!   varints.
//! - An object entry's fields: id; version (signed: its distance from the header's time, wrapping); version text
//!   flag: below 10 the text is the version written as STIX does (`YYYY-MM-DDTHH:MM:SS`, a point and that many
//!   fraction digits unless 0, `Z`), 10 the text is empty, 11 the text follows; place.
//! - An envelope entry's fields: received (signed: its distance from the header's time, wrapping), version, the
//!   number of its collection in the header, id, place.
//! - An id: a number `n`; if even, the id is the header's text `n / 2` followed by a UUID in lower case with
//!   hyphens, whose 16 bytes follow; if odd, the id is the `n / 2` bytes that follow.
//! - A place of the exact text: its length, then its segment's and its offset's distances (signed) from the
//!   header's.
//!
//! Every short form is taken only when it gives back the text byte for byte (`sled_store/entry_texts.rs`): an
//! upper-case UUID, an id without one, or a timestamp with more digits than its version keeps is written whole.
//! An entry of a STIX id and a STIX timestamp takes about 30 bytes.
//!
//! A place is segment:u32, offset:u32, length:u32 in the text log (`super::text_log`), which holds the exact texts
//! in the order they were written, so that reading a page's texts is sequential IO. An envelope text that embeds
//! an object text of its collection (base64, as the maker's envelopes do) is a spliced record there, naming the
//! object text's place (`sled_store/splice.rs`).
//!
//! The entry at a position is in the record with the greatest key not after it (one reverse range lookup), found
//! by walking that record. A page from a position starts at that record and walks on through the keyspace; a
//! backward walk of envelopes (`envelopes_before`) walks records and entries in reverse.
//!
//! Which versions an object or an envelope id has, and per-type counts instead of a type index (`match[type]`
//! filters the entries by the id's type; an object's type is the prefix of its STIX id), are in memory
//! (`sled_store/index.rs`), built from a collection's group records on first use: an id gives positions in that
//! collection, a position its entry, which is checked to be of that id.
//!
//! A delete rewrites the one record that holds the version (the writer is the only writer, so it reads and
//! rewrites the record inside its batch), or removes the record when it was the last entry; the key stays as it
//! was, still not after any entry the record holds.
//!
//! ## Crash rules
//!
//! - A group's texts are written and fsynced to the text log before its batch is applied (the rules of
//!   `super::text_log`); the batch is atomic, so a group's records, the records its deletes rewrote, and the counts
//!   and log end it moves are durable together or not at all.
//! - The in-memory indexes are derived from `G` and `R` alone: a crash loses nothing they hold that is not made
//!   again on the next open.
//!
//! ## Earlier layouts
//!
//! Layout 6 was this layout with one envelope keyspace for the whole store (`R` first seq:u64): envelope ids were
//! unique across collections and positions counted every collection's envelopes. Layouts 1 to 5 came before it
//! (texts inside sled, several keys or one key per text, group records of whole ids). A directory of any earlier
//! layout is refused with the way to move it: `backup` with the earlier binary, `restore` with this one (a backup
//! carries each envelope's collection; see `src/backup/`).
//!
//! A backup (`src/backup/`) carries the envelope and object versions (and so `C`, which a restore makes again),
//! `S`, `K` and the `M` cursor secret; never `V`, which its owner makes again.

pub const ENVELOPE_GROUP: u8 = b'R';
pub const OBJECT_GROUP: u8 = b'G';
pub const STATUS: u8 = b'S';
pub const NOTE: u8 = b'K';
pub const VIEW: u8 = b'V';
pub const COUNTS: u8 = b'C';
pub const META_CURSOR_SECRET: &[u8] = b"Mcursor-secret";
pub const META_FORMAT: &[u8] = b"Mformat";
pub const META_LOG_END: &[u8] = b"Mlog-end";
pub const META_RETIRED_SEGMENTS: &[u8] = b"Mretired-segments";
pub const META_DEAD_BYTES: &[u8] = b"Mdead-bytes";
/// The least position a collection's next envelope takes (u64; see `WriteOp::RaiseEnvelopeFloor`).
pub const META_ENVELOPE_FLOOR: &[u8] = b"Menvelope-floor";

/// The prefix of a collection's object group records.
pub fn object_groups(collection: &str) -> Vec<u8> {
    let mut key = vec![OBJECT_GROUP];
    key.extend_from_slice(collection.as_bytes());
    key.push(0);
    key
}

/// The prefix of a collection's envelope group records.
pub fn envelope_groups(collection: &str) -> Vec<u8> {
    let mut key = vec![ENVELOPE_GROUP];
    key.extend_from_slice(collection.as_bytes());
    key.push(0);
    key
}

/// The key of the group record of the keyspace `prefix` whose first entry is at `first`.
pub fn group(prefix: &[u8], first: u64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&first.to_be_bytes());
    key
}

/// The first key after every key that starts with `prefix` (whose last byte is below `0xff`: a tag or `0x00`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    let last = end.last_mut().expect("prefixes are not empty");
    *last += 1;
    end
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

/// Splits a key of `tag`, collection `0x00` position:u64 (a `G` or an `R` key) into collection and position.
pub fn parse_collection_key(tag: u8, key: &[u8]) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(&[tag])?;
    let (collection, position) = rest.split_at_checked(rest.len().checked_sub(9)?)?;
    let position = position.strip_prefix(&[0])?;
    Some((
        std::str::from_utf8(collection).ok()?,
        u64::from_be_bytes(position.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn object_group_keys_round_trip(collection in "[^\\x00]{1,40}", date_added: u64) {
            let key = group(&object_groups(&collection), date_added);
            prop_assert_eq!(
                parse_collection_key(OBJECT_GROUP, &key),
                Some((collection.as_str(), date_added))
            );
            prop_assert!(key < prefix_end(&object_groups(&collection)));
        }

        #[test]
        fn envelope_group_keys_sort_in_numeric_order(a: u64, b: u64) {
            let prefix = envelope_groups("pub");
            prop_assert_eq!(a.cmp(&b), group(&prefix, a).cmp(&group(&prefix, b)));
            prop_assert!(group(&prefix, a) < prefix_end(&prefix));
        }
    }

    #[test]
    fn one_collection_is_not_a_prefix_of_another() {
        assert!(!group(&object_groups("ab"), 0).starts_with(&object_groups("a")));
        assert!(!group(&envelope_groups("ab"), 0).starts_with(&envelope_groups("a")));
    }
}
