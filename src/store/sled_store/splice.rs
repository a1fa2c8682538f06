//! Envelope texts stored as spliced records of the text log (layout 5): the IntelMQ envelope that the maker makes
//! of a posted object carries the object's exact text again, base64, in `payload.raw`, which is two thirds of the
//! envelope's bytes. When an envelope text embeds, exactly, the base64 of the text of a version of an object of
//! its collection (stored earlier, or earlier in the same group), the log holds the bytes around the base64 and
//! the object text's place instead (see `text_log`'s format). Any other envelope text is stored whole.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::SledStore;
use super::index::Indexes;
use super::pending::{Pending, pending_object};
use crate::store::StoreResult;
use crate::store::text_log::{Place, Splice};

/// Where the base64 of an embedded text starts: a JSON member `raw` with a string value.
const RAW: &[u8] = b"\"raw\":\"";

/// The one field of an object text that finds its stored versions.
#[derive(Deserialize)]
struct ObjectId<'a> {
    #[serde(borrow)]
    id: &'a str,
}

impl SledStore {
    /// Places the text of an envelope of `collection` in the group's texts: spliced when it embeds an object
    /// text of the collection, whole otherwise.
    pub(super) fn place_envelope_text(
        &self,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        text: &[u8],
    ) -> StoreResult<Place> {
        match self.find_splice(pending, indexes, collection, text)? {
            Some(splice) => Ok(pending.texts.push_spliced(&splice)),
            None => Ok(pending.texts.push(text)),
        }
    }

    /// The splice that gives back `text` exactly, if its `raw` member is the base64 of a stored object text.
    fn find_splice<'t>(
        &self,
        pending: &mut Pending,
        indexes: &mut Indexes,
        collection: &str,
        text: &'t [u8],
    ) -> StoreResult<Option<Splice<'t>>> {
        let Some((start, end)) = raw_member(text) else {
            return Ok(None);
        };
        let encoded = &text[start..end];
        let Ok(inner) = STANDARD.decode(encoded) else {
            return Ok(None);
        };
        // The text is rebuilt by encoding the object text: only an encoding that comes back the same is taken.
        if STANDARD.encode(&inner).as_bytes() != encoded {
            return Ok(None);
        }
        let Ok(object) = serde_json::from_slice::<ObjectId<'_>>(&inner) else {
            return Ok(None);
        };
        let hash = indexes.hasher.hash(object.id);
        for found in self.versions_now(pending, indexes, collection, hash, object.id)? {
            let (place, same) = match found.place {
                Some(place) => {
                    let same = place.length as usize == inner.len()
                        && self.text(place, &mut pending.window)? == inner;
                    (place, same)
                }
                None => match pending
                    .objects
                    .get(collection)
                    .and_then(|written| pending_object(written, found.date_added))
                {
                    Some(object) => (object.place, object.text == inner),
                    None => continue,
                },
            };
            if !same {
                continue;
            }
            return Ok(Some(Splice {
                before: &text[..start],
                inner: place,
                after: &text[end..],
            }));
        }
        Ok(None)
    }
}

/// The bounds of the value of the first `raw` string member of a JSON text (without its quotes), if it has one
/// with no escape in it (base64 needs none).
fn raw_member(text: &[u8]) -> Option<(usize, usize)> {
    let start = text.windows(RAW.len()).position(|w| w == RAW)? + RAW.len();
    let length = text[start..].iter().position(|&b| b == b'"')?;
    let value = &text[start..start + length];
    (!value.contains(&b'\\')).then_some((start, start + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_member_is_found_without_its_quotes() {
        let text = br#"{"payload":{"a":"b","raw":"eyJ9","c":1}}"#;
        let (start, end) = raw_member(text).unwrap();
        assert_eq!(&text[start..end], b"eyJ9");
        assert_eq!(raw_member(br#"{"raw":5}"#), None);
        assert_eq!(raw_member(br#"{"raw":"a\"b"}"#), None);
        assert_eq!(raw_member(br#"{"raw":"unterminated"#), None);
    }
}

#[cfg(test)]
#[path = "splice_tests.rs"]
pub(super) mod store_tests;
