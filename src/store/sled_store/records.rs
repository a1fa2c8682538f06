//! How values are laid out: big-endian fields, then the [`Place`] of the exact text in the text log.

use crate::store::fields::Fields;
use crate::store::text_log::Place;
use crate::store::{StoreResult, StoredEnvelope, StoredObject};

/// An `A` value: the version's id, version, version text as written, and where the exact object text is.
pub(super) struct ObjectRecord<'a> {
    pub id: &'a str,
    pub version: i64,
    pub version_text: &'a str,
    pub place: Place,
}

impl<'a> ObjectRecord<'a> {
    pub(super) fn encode(&self) -> Vec<u8> {
        let id_length = u16::try_from(self.id.len()).expect("STIX ids are short");
        let version_length = u8::try_from(self.version_text.len()).expect("timestamps are short");
        let mut value =
            Vec::with_capacity(11 + self.id.len() + self.version_text.len() + Place::ENCODED);
        value.extend_from_slice(&self.version.to_be_bytes());
        value.extend_from_slice(&id_length.to_be_bytes());
        value.extend_from_slice(self.id.as_bytes());
        value.push(version_length);
        value.extend_from_slice(self.version_text.as_bytes());
        self.place.encode(&mut value);
        value
    }

    pub(super) fn decode(value: &'a [u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, "object record");
        let version = fields.i64()?;
        let id_length = fields.u16()?;
        let id = fields.str(usize::from(id_length))?;
        let version_length = fields.u8()?;
        let version_text = fields.str(usize::from(version_length))?;
        Ok(Self {
            id,
            version,
            version_text,
            place: fields.place()?,
        })
    }

    pub(super) fn into_stored(self, date_added: u64, text: Vec<u8>) -> StoredObject {
        StoredObject {
            id: self.id.to_owned(),
            version: self.version,
            version_text: self.version_text.to_owned(),
            date_added,
            text,
        }
    }
}

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

pub(super) fn encode_status(stored_at: u64, text: &[u8]) -> Vec<u8> {
    let mut value = stored_at.to_be_bytes().to_vec();
    value.extend_from_slice(text);
    value
}

/// An `N` value: an envelope version, with where its exact text is; its position is the `N` seq.
pub(super) struct EnvelopeRecord<'a> {
    pub id: &'a str,
    pub version: u32,
    pub received: u64,
    pub collection: &'a str,
    pub place: Place,
}

impl<'a> EnvelopeRecord<'a> {
    pub(super) fn encode(&self) -> Vec<u8> {
        let collection_length =
            u16::try_from(self.collection.len()).expect("collection ids are short");
        let id_length = u16::try_from(self.id.len()).expect("envelope ids are short");
        let mut value =
            Vec::with_capacity(16 + self.collection.len() + self.id.len() + Place::ENCODED);
        value.extend_from_slice(&self.received.to_be_bytes());
        value.extend_from_slice(&self.version.to_be_bytes());
        value.extend_from_slice(&collection_length.to_be_bytes());
        value.extend_from_slice(self.collection.as_bytes());
        value.extend_from_slice(&id_length.to_be_bytes());
        value.extend_from_slice(self.id.as_bytes());
        self.place.encode(&mut value);
        value
    }

    pub(super) fn decode(value: &'a [u8]) -> StoreResult<Self> {
        let mut fields = Fields::new(value, "envelope record");
        let received = fields.u64()?;
        let version = fields.u32()?;
        let collection_length = fields.u16()?;
        let collection = fields.str(usize::from(collection_length))?;
        let id_length = fields.u16()?;
        let id = fields.str(usize::from(id_length))?;
        Ok(Self {
            id,
            version,
            received,
            collection,
            place: fields.place()?,
        })
    }

    pub(super) fn into_stored(self, position: u64, text: Vec<u8>) -> StoredEnvelope {
        StoredEnvelope {
            id: self.id.to_owned(),
            version: self.version,
            position,
            collection: self.collection.to_owned(),
            received: self.received,
            text,
        }
    }
}
