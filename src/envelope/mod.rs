//! The IEP04 envelope model: parsing, validation and identification of envelopes and bare IntelMQ events.
//!
//! Pure: no I/O, no HTTP, no storage. What was received is kept byte for byte in [`Envelope::text`].

mod error;
mod id;
pub mod intelmq;
mod json_syntax;
mod mint;
mod payload;
mod records;
pub(crate) mod sorted_json;
mod strict_json;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use error::{LocatedError, RecordError, StixContent};
pub use id::{EnvelopeId, IdError, MAX_ID_CHARS};
pub use json_syntax::JsonSyntax;
pub use mint::{HASH_ID_NAMESPACE, Minting};
pub use records::{RawRecord, split_records};
pub use strict_json::check_unique_keys;

/// The two envelope layouts of IEP04.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The 2021 draft: `{"meta": {"version", "uuid": {"current", "parent"?}, "type", "format"}, "payload"}`.
    Draft,
    /// The decided, AIL-stream style: `{"format", "version", "type", "meta": {"uuid", ...}, "payload"}`.
    Decided,
}

/// How records are turned into envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRules {
    /// How ids are minted for bare IntelMQ events.
    pub minting: Minting,
    /// The shape bare IntelMQ events are wrapped into.
    pub bare_shape: Shape,
}

/// A validated envelope and its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    id: EnvelopeId,
    parent: Option<EnvelopeId>,
    shape: Shape,
    format: Option<String>,
    kind: Option<String>,
    text: Vec<u8>,
}

impl Envelope {
    /// Validates one record: an envelope of either shape, kept verbatim, or a bare IntelMQ event or report,
    /// wrapped into an envelope with a freshly minted id and its own bytes as the payload.
    pub fn parse(record: &[u8], rules: &IntakeRules) -> Result<Self, RecordError> {
        let Value::Object(top) = strict_json::parse(record)? else {
            return Err(RecordError::NotAnObject);
        };
        if top.contains_key("meta") || top.contains_key("payload") {
            Self::from_envelope(&top, record.to_vec())
        } else if let Some(stix) = stix_content(&top) {
            Err(RecordError::Stix(stix))
        } else {
            Self::wrap_bare(&top, record, rules)
        }
    }

    /// Reads back an envelope that was validated before, such as one from the store.
    pub fn reparse(text: Vec<u8>) -> Result<Self, RecordError> {
        let Value::Object(top) = strict_json::parse(&text)? else {
            return Err(RecordError::NotAnObject);
        };
        Self::from_envelope(&top, text)
    }

    /// An envelope made here as `top` and written as `text` (`top` serialized): checked as [`Envelope::reparse`]
    /// would check `text`, without parsing it again (a map holds no duplicate keys).
    pub fn from_made(top: &Map<String, Value>, text: Vec<u8>) -> Result<Self, RecordError> {
        Self::from_envelope(top, text)
    }

    /// A draft-shape IntelMQ event made here from string members, without a map: its text is what `serde_json`
    /// writes for the same envelope built as a map,
    /// `{"meta":{"version":1,"uuid":{"current":ID},"type":"event","format":"intelmq"},"payload":{...}}`, and it
    /// is checked as [`Envelope::from_made`] would check that map, but for `raw`, which the caller encoded
    /// (it is not decoded again).
    pub fn made_event(id: &str, payload: &[(&str, &str)]) -> Result<Self, RecordError> {
        let id = EnvelopeId::parse(id).map_err(|problem| RecordError::BadId {
            field: "meta.uuid.current",
            problem,
        })?;
        if let Some((bad, _)) = payload.iter().find(|(key, _)| !intelmq::is_valid_key(key)) {
            return Err(RecordError::BadPayloadKey((*bad).to_owned()));
        }
        let length = payload
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>();
        let mut text = Vec::with_capacity(100 + id.as_str().len() + length);
        let string = |text: &mut Vec<u8>, s: &str| {
            serde_json::to_writer(text, s).expect("strings serialize into memory")
        };
        text.extend_from_slice(br#"{"meta":{"version":1,"uuid":{"current":"#);
        string(&mut text, id.as_str());
        text.extend_from_slice(br#"},"type":"event","format":"intelmq"},"payload":{"#);
        for (i, (key, value)) in payload.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            string(&mut text, key);
            text.push(b':');
            string(&mut text, value);
        }
        text.extend_from_slice(b"}}");
        Ok(Self {
            id,
            parent: None,
            shape: Shape::Draft,
            format: Some(intelmq::FORMAT.to_owned()),
            kind: Some("event".to_owned()),
            text,
        })
    }

    /// An envelope that the store holds and its payload, in one parse, for readers of many stored envelopes.
    /// The store took it only once it was validated, so this reads its header and checks nothing more: no
    /// second pass for duplicate keys, no payload check (the `raw` base64 decode).
    pub fn stored_with_payload(text: Vec<u8>) -> Result<(Self, Map<String, Value>), RecordError> {
        let Value::Object(mut top) =
            serde_json::from_slice(&text).map_err(|e| RecordError::InvalidJson(e.to_string()))?
        else {
            return Err(RecordError::NotAnObject);
        };
        let envelope = Self::from_header(&top, text)?;
        let Some(Value::Object(payload)) = top.remove("payload") else {
            unreachable!("a valid envelope has an object payload");
        };
        Ok((envelope, payload))
    }

    fn from_envelope(top: &Map<String, Value>, text: Vec<u8>) -> Result<Self, RecordError> {
        let envelope = Self::from_header(top, text)?;
        if envelope.is_intelmq()
            && let Some(Value::Object(payload)) = top.get("payload")
        {
            payload::check_payload(payload)?;
        }
        Ok(envelope)
    }

    /// The envelope its header describes, with an object payload (which is not checked here).
    fn from_header(top: &Map<String, Value>, text: Vec<u8>) -> Result<Self, RecordError> {
        let meta = match top.get("meta") {
            Some(Value::Object(meta)) => meta,
            Some(_) => return Err(wrong_type("meta", "an object")),
            None => return Err(RecordError::Missing("meta")),
        };
        match top.get("payload") {
            Some(Value::Object(_)) => {}
            Some(_) => return Err(wrong_type("payload", "a JSON object")),
            None => return Err(RecordError::Missing("payload")),
        }
        let (shape, id, parent, header) = match meta.get("uuid") {
            Some(Value::Object(uuid)) => {
                let id = required_id(uuid.get("current"), "meta.uuid.current")?;
                let parent = optional_id(uuid.get("parent"), "meta.uuid.parent")?;
                (Shape::Draft, id, parent, meta)
            }
            Some(Value::String(_)) => {
                let id = required_id(meta.get("uuid"), "meta.uuid")?;
                (Shape::Decided, id, None, top)
            }
            Some(_) => {
                return Err(wrong_type(
                    "meta.uuid",
                    "an object with `current` (draft shape) or a string (decided shape)",
                ));
            }
            None => return Err(RecordError::Missing("meta.uuid")),
        };
        let format = optional_string(header.get("format"), format_field(shape))?;
        let kind = optional_string(header.get("type"), type_field(shape))?;
        Ok(Self {
            id,
            parent,
            shape,
            format,
            kind,
            text,
        })
    }

    fn wrap_bare(
        event: &Map<String, Value>,
        record: &[u8],
        rules: &IntakeRules,
    ) -> Result<Self, RecordError> {
        payload::check_payload(event)?;
        let kind = payload::message_kind(event)?;
        payload::check_has_field(event)?;
        let id = rules.minting.mint(event);
        let id_json = serde_json::to_string(id.as_str()).expect("strings always serialize");
        let kind_json = serde_json::to_string(kind).expect("strings always serialize");
        let head = match rules.bare_shape {
            Shape::Draft => format!(
                r#"{{"meta":{{"version":1,"uuid":{{"current":{id_json}}},"type":{kind_json},"format":"intelmq"}},"payload":"#
            ),
            Shape::Decided => format!(
                r#"{{"format":"intelmq","version":1,"type":{kind_json},"meta":{{"uuid":{id_json}}},"payload":"#
            ),
        };
        let mut text = head.into_bytes();
        text.extend_from_slice(record);
        text.push(b'}');
        Ok(Self {
            id,
            parent: None,
            shape: rules.bare_shape,
            format: Some(intelmq::FORMAT.to_owned()),
            kind: Some(kind.to_owned()),
            text,
        })
    }

    pub fn id(&self) -> &EnvelopeId {
        &self.id
    }

    pub fn parent(&self) -> Option<&EnvelopeId> {
        self.parent.as_ref()
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn format(&self) -> Option<&str> {
        self.format.as_deref()
    }

    /// The envelope's `type` (`event`, `report`, ...).
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The exact bytes of the envelope.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    pub fn into_text(self) -> Vec<u8> {
        self.text
    }

    /// Whether the payload is an IntelMQ event or report: IEP04 is IntelMQ's proposal, so an envelope that
    /// names no format carries one.
    pub fn is_intelmq(&self) -> bool {
        self.format().is_none_or(|f| f == intelmq::FORMAT)
    }

    /// The payload flattened, as IntelMQ feeds deliver it, within the flat budget of the envelope's text
    /// ([`crate::envelope::intelmq::flat_budget`]).
    pub fn flat_payload(&self) -> Result<Map<String, Value>, crate::envelope::intelmq::TooLarge> {
        crate::envelope::intelmq::flatten_within(
            &self.payload(),
            crate::envelope::intelmq::flat_budget(self.text.len()),
        )
    }

    /// Whether an IntelMQ payload flattens within the flat budget of the envelope's text, copying nothing:
    /// every way in checks it, so that no feed line of a stored envelope passes it.
    pub fn check_flat_payload(&self) -> Result<(), RecordError> {
        if self.is_intelmq() {
            let budget = crate::envelope::intelmq::flat_budget(self.text.len());
            crate::envelope::intelmq::flat_size_within(&self.payload(), budget)?;
        }
        Ok(())
    }

    /// The payload object, parsed from the envelope text.
    pub fn payload(&self) -> Map<String, Value> {
        let top: Map<String, Value> =
            serde_json::from_slice(&self.text).expect("the text was validated when parsed");
        match top.get("payload") {
            Some(Value::Object(payload)) => payload.clone(),
            _ => unreachable!("a validated envelope has an object payload"),
        }
    }
}

/// STIX sent here by mistake. A TAXII envelope is told from an IntelMQ event by `objects`, or by `more` or
/// `next` with no IntelMQ field beside them.
fn stix_content(top: &Map<String, Value>) -> Option<StixContent> {
    if top.get("type").and_then(Value::as_str) == Some("bundle") {
        Some(StixContent::Bundle)
    } else if top.contains_key("objects")
        || ((top.contains_key("more") || top.contains_key("next")) && !intelmq::has_field(top))
    {
        Some(StixContent::TaxiiEnvelope)
    } else {
        None
    }
}

fn format_field(shape: Shape) -> &'static str {
    match shape {
        Shape::Draft => "meta.format",
        Shape::Decided => "format",
    }
}

fn type_field(shape: Shape) -> &'static str {
    match shape {
        Shape::Draft => "meta.type",
        Shape::Decided => "type",
    }
}

fn wrong_type(field: &'static str, expected: &'static str) -> RecordError {
    RecordError::WrongType { field, expected }
}

fn required_id(value: Option<&Value>, field: &'static str) -> Result<EnvelopeId, RecordError> {
    optional_id(value, field)?.ok_or(RecordError::Missing(field))
}

fn optional_id(
    value: Option<&Value>,
    field: &'static str,
) -> Result<Option<EnvelopeId>, RecordError> {
    optional_string(value, field)?
        .map(|raw| EnvelopeId::parse(raw).map_err(|problem| RecordError::BadId { field, problem }))
        .transpose()
}

fn optional_string(
    value: Option<&Value>,
    field: &'static str,
) -> Result<Option<String>, RecordError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

#[cfg(test)]
mod tests;
