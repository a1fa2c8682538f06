//! The entries of group records (layout 6, `keys.rs`): object versions in `G` records, envelope versions in `R`
//! records, and how each field is written against its record's header (`groups.rs`).

use super::entry_texts::{join_uuid, split_uuid, timestamp, timestamp_digits};
use super::groups::{EntryKind, Header};
use super::inline_str::InlineStr;
use super::malformed;
use crate::store::StoreResult;
use crate::store::fields::{Fields, push_text, push_varint, push_zigzag};
use crate::store::text_log::Place;
use crate::store::{ObjectRef, StoredEnvelope, StoredObject};

/// Records of object versions, keyed by collection and the first `date_added`.
pub(crate) struct Objects;

/// Records of envelope versions, keyed by collection and the first seq (its position in the collection).
pub(crate) struct Envelopes;

/// An object version: its id, version, version text as written, and where the exact object text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectEntry {
    pub date_added: u64,
    pub id: InlineStr,
    pub version: i64,
    pub version_text: InlineStr,
    pub place: Place,
}

impl ObjectEntry {
    pub(super) fn borrowed<'t>(&'t self, text: &'t [u8]) -> ObjectRef<'t> {
        ObjectRef {
            id: &self.id,
            version: self.version,
            version_text: &self.version_text,
            date_added: self.date_added,
            text,
        }
    }

    pub(super) fn into_stored(self, text: Vec<u8>) -> StoredObject {
        StoredObject {
            id: self.id.to_string(),
            version: self.version,
            version_text: self.version_text.to_string(),
            date_added: self.date_added,
            text,
        }
    }
}

/// An envelope version, with where its exact text is; its position in its collection is its seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvelopeEntry {
    pub seq: u64,
    pub id: InlineStr,
    pub version: u32,
    pub received: u64,
    pub collection: InlineStr,
    pub place: Place,
}

impl EnvelopeEntry {
    pub(super) fn into_stored(self, text: Vec<u8>) -> StoredEnvelope {
        StoredEnvelope {
            id: self.id.to_string(),
            version: self.version,
            position: self.seq,
            collection: self.collection.to_string(),
            received: self.received,
            text,
        }
    }
}

impl EntryKind for Objects {
    type Entry = ObjectEntry;
    const WHAT: &'static str = "object group record";

    fn position(entry: &ObjectEntry) -> u64 {
        entry.date_added
    }

    fn time(entry: &ObjectEntry) -> u64 {
        entry.version as u64
    }

    fn place(entry: &ObjectEntry) -> Place {
        entry.place
    }

    fn set_place(entry: &mut ObjectEntry, place: Place) {
        entry.place = place;
    }

    fn texts(entry: &ObjectEntry) -> impl Iterator<Item = &str> {
        split_uuid(&entry.id).map(|(prefix, _)| prefix).into_iter()
    }

    fn encode(entry: &ObjectEntry, header: &Header<'_>, into: &mut Vec<u8>) {
        push_id(into, &entry.id, header);
        push_zigzag(into, header.time_distance(Self::time(entry)));
        if entry.version_text.is_empty() {
            into.push(VERSION_TEXT_EMPTY);
        } else if let Some(digits) = timestamp_digits(entry.version, &entry.version_text) {
            into.push(digits);
        } else {
            into.push(VERSION_TEXT_WHOLE);
            push_text(into, &entry.version_text);
        }
        header.push_place(into, entry.place);
    }

    fn decode(
        date_added: u64,
        header: &Header<'_>,
        fields: &mut Fields<'_>,
    ) -> StoreResult<ObjectEntry> {
        let id = read_id(fields, header)?;
        let version = header.time_at(fields.zigzag()?) as i64;
        let version_text = match fields.u8()? {
            VERSION_TEXT_EMPTY => InlineStr::new(""),
            VERSION_TEXT_WHOLE => InlineStr::new(fields.text()?),
            digits => timestamp(version, digits).ok_or_else(|| malformed(Self::WHAT))?,
        };
        Ok(ObjectEntry {
            date_added,
            id,
            version,
            version_text,
            place: header.read_place(fields)?,
        })
    }
}

/// An object's version text flag: below 10 the number of fraction digits of the version written as a STIX
/// timestamp (`entry_texts::timestamp`); these two otherwise.
const VERSION_TEXT_EMPTY: u8 = 10;
const VERSION_TEXT_WHOLE: u8 = 11;

impl EntryKind for Envelopes {
    type Entry = EnvelopeEntry;
    const WHAT: &'static str = "envelope group record";

    fn position(entry: &EnvelopeEntry) -> u64 {
        entry.seq
    }

    fn time(entry: &EnvelopeEntry) -> u64 {
        entry.received
    }

    fn place(entry: &EnvelopeEntry) -> Place {
        entry.place
    }

    fn set_place(entry: &mut EnvelopeEntry, place: Place) {
        entry.place = place;
    }

    fn texts(entry: &EnvelopeEntry) -> impl Iterator<Item = &str> {
        let prefix = split_uuid(&entry.id).map(|(prefix, _)| prefix);
        std::iter::once(&*entry.collection).chain(prefix)
    }

    fn encode(entry: &EnvelopeEntry, header: &Header<'_>, into: &mut Vec<u8>) {
        push_zigzag(into, header.time_distance(entry.received));
        push_varint(into, u64::from(entry.version));
        push_varint(into, header.index(&entry.collection));
        push_id(into, &entry.id, header);
        header.push_place(into, entry.place);
    }

    fn decode(
        seq: u64,
        header: &Header<'_>,
        fields: &mut Fields<'_>,
    ) -> StoreResult<EnvelopeEntry> {
        let received = header.time_at(fields.zigzag()?);
        let version = u32::try_from(fields.varint()?).map_err(|_| malformed(Self::WHAT))?;
        let collection = InlineStr::new(header.text(fields.varint()?)?);
        Ok(EnvelopeEntry {
            seq,
            id: read_id(fields, header)?,
            version,
            received,
            collection,
            place: header.read_place(fields)?,
        })
    }
}

/// Writes an id as a varint `n` and what it says: for an even `n`, the header's text `n / 2` followed by a UUID
/// (its 16 bytes follow); for an odd `n`, a text of `n / 2` bytes (they follow).
fn push_id(into: &mut Vec<u8>, id: &str, header: &Header<'_>) {
    match split_uuid(id) {
        Some((prefix, uuid)) => {
            push_varint(into, header.index(prefix) * 2);
            into.extend_from_slice(&uuid);
        }
        None => {
            push_varint(into, id.len() as u64 * 2 + 1);
            into.extend_from_slice(id.as_bytes());
        }
    }
}

fn read_id(fields: &mut Fields<'_>, header: &Header<'_>) -> StoreResult<InlineStr> {
    let form = fields.varint()?;
    if form % 2 == 1 {
        let length = usize::try_from(form / 2).map_err(|_| malformed(header.what()))?;
        return Ok(InlineStr::new(fields.str(length)?));
    }
    let prefix = header.text(form / 2)?;
    let uuid = fields.take(16)?.try_into().expect("16 bytes");
    Ok(join_uuid(prefix, &uuid))
}

#[cfg(test)]
#[path = "groups_records_tests.rs"]
mod records_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_store::groups::{Bound, encode, entries, wanted};
    use proptest::prelude::*;

    fn place(segment: u32, offset: u32, length: u32) -> Place {
        Place {
            segment,
            offset,
            length,
        }
    }

    fn object(date_added: u64, id: &str, version: i64, version_text: &str) -> ObjectEntry {
        ObjectEntry {
            date_added,
            id: id.into(),
            version,
            version_text: version_text.into(),
            place: place(0, (date_added % 10_000) as u32 * 400, 350),
        }
    }

    fn round_trip<K: EntryKind>(first: u64, written: &[K::Entry]) -> Vec<K::Entry> {
        let value = encode::<K>(first, written);
        entries::<K>(first, &value)
            .collect::<StoreResult<_>>()
            .unwrap()
    }

    const UUID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn object_entries_come_back_byte_for_byte() {
        let millis = 1_700_000_000_123_000;
        let written = [
            object(
                1_000,
                &format!("indicator--{UUID}"),
                millis,
                "2023-11-14T22:13:20.123Z",
            ),
            object(
                1_001,
                &format!("indicator--{UUID}"),
                millis,
                "2023-11-14T22:13:20.123000Z",
            ),
            // Upper case, no UUID, an uppercase type, a prefix of another kind, a non-ASCII id.
            object(1_002, &format!("malware--{}", UUID.to_uppercase()), 7, "v"),
            object(1_003, "indicator--1", -5, ""),
            object(1_004, &format!("X-Type--{UUID}"), 0, "1970-01-01T00:00:00Z"),
            object(1_005, &format!("identité--{UUID}"), i64::MIN, "2020-01-01"),
            // More digits than the version keeps, and a lower-case `t`: kept whole.
            object(
                1_006,
                &format!("indicator--{UUID}"),
                millis,
                "2023-11-14T22:13:20.123000999Z",
            ),
            object(
                1_007,
                &format!("indicator--{UUID}"),
                millis,
                "2023-11-14t22:13:20.123Z",
            ),
            // A version text that is another version's timestamp.
            object(
                1_008,
                &format!("indicator--{UUID}"),
                millis + 1,
                "2023-11-14T22:13:20.123Z",
            ),
            object(1 << 50, &"x".repeat(300), i64::MAX, &"9".repeat(255)),
        ];
        assert_eq!(round_trip::<Objects>(900, &written), written);
    }

    #[test]
    fn envelope_entries_come_back_byte_for_byte() {
        let envelope = |seq: u64, id: &str, collection: &str, received: u64| EnvelopeEntry {
            seq,
            id: id.into(),
            version: seq as u32,
            received,
            collection: collection.into(),
            place: place(seq as u32 % 3, 1_000 - seq as u32, 99),
        };
        let written = [
            envelope(3, UUID, "c1", 1_700_000_000_000_000),
            envelope(4, &format!("cert-at:intelmq:{UUID}"), "c2", 5),
            envelope(5, "e", "c1", u64::MAX),
            envelope(6, &UUID.to_uppercase(), &"c".repeat(200), 0),
        ];
        assert_eq!(round_trip::<Envelopes>(3, &written), written);
    }

    #[test]
    fn an_object_entry_of_a_uuid_id_and_a_stix_timestamp_is_short() {
        let written: Vec<_> = (0..512)
            .map(|n| {
                let mut entry = object(
                    1_700_000_000_000_000 + n,
                    &format!("indicator--{UUID}"),
                    1_699_999_999_000_000 + n as i64 * 1_000,
                    "",
                );
                entry.version_text = timestamp(entry.version, 3).unwrap();
                entry
            })
            .collect();
        let value = encode::<Objects>(written[0].date_added, &written);
        assert!(value.len() < 512 * 30, "{} bytes", value.len());
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let written = [
            object(1, &format!("indicator--{UUID}"), 1, "v"),
            object(2, "indicator--2", 2, "w"),
        ];
        let value = encode::<Objects>(1, &written);
        let cut = entries::<Objects>(1, &value[..value.len() - 1]).collect::<Vec<_>>();
        assert!(cut[0].is_ok() && cut[1].is_err() && cut.len() == 2);
        for end in 0..value.len() - 1 {
            let _ = entries::<Objects>(1, &value[..end]).count();
        }
        assert!(entries::<Objects>(1, &[0xff; 12]).next().unwrap().is_err());
    }

    #[test]
    fn wanted_entries_are_those_within_the_bound() {
        let written: Vec<_> = (10..20).map(|n| object(n, "indicator--1", 1, "")).collect();
        let value = encode::<Objects>(10, &written);
        let dates = |bound| -> Vec<u64> {
            let wanted = wanted::<Objects>(10, &value, bound).unwrap();
            wanted.iter().map(|entry| entry.date_added).collect()
        };
        assert_eq!(dates(Bound::From(17)), [17, 18, 19]);
        assert_eq!(dates(Bound::Before(13)), [12, 11, 10]);
    }

    proptest! {
        #[test]
        fn any_object_entries_round_trip(
            entries in prop::collection::vec(
                (0..1u64 << 40, "[a-z-]{1,20}", any::<[u8; 16]>(), any::<i64>(), 0..12u8, any::<(u32, u32, u32)>()),
                1..40,
            ),
            whole_ids in prop::collection::vec(".{0,70}", 40),
        ) {
            let mut date_added = 0;
            let written: Vec<_> = entries
                .iter()
                .zip(&whole_ids)
                .map(|((step, prefix, uuid, version, digits, (segment, offset, length)), whole)| {
                    date_added += step;
                    let id = if digits % 3 == 0 { whole.as_str().into() } else { join_uuid(prefix, uuid) };
                    let version_text = match digits {
                        10 => InlineStr::new(""),
                        11 => InlineStr::new(whole),
                        digits => timestamp(*version, *digits).unwrap_or_else(|| InlineStr::new("?")),
                    };
                    ObjectEntry {
                        date_added,
                        id,
                        version: *version,
                        version_text,
                        place: place(*segment, *offset, *length),
                    }
                })
                .collect();
            prop_assert_eq!(round_trip::<Objects>(0, &written), written);
        }
    }
}
