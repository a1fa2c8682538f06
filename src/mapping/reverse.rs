//! STIX -> envelopes: a carrier gives back its exact envelope; a foreign standard object becomes an IntelMQ
//! envelope keyed by its STIX id, with what the tables can fill and `raw` = its exact JSON.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::CARRIER_TYPE;
use crate::envelope::{Envelope, RecordError};

/// What came back from one STIX object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmapped {
    /// The exact envelope a carrier holds.
    Carrier(Envelope),
    /// An IntelMQ envelope made from a foreign object.
    Foreign(Envelope),
    /// Objects that describe no event of their own: SCOs (their observed-data or indicator does), the
    /// extension-definition, identities, markings, relationships, and our own standard objects (their carrier
    /// holds the event).
    Skipped,
}

/// `objects` are all the objects at hand (a bundle, a page), for resolving `observed-data` references.
pub fn unmap(text: &[u8], objects: &[Value]) -> Result<Unmapped, RecordError> {
    let object: Map<String, Value> = match serde_json::from_slice(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(RecordError::NotAnObject),
        Err(e) => return Err(RecordError::InvalidJson(e.to_string())),
    };
    let object_type = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if object_type == CARRIER_TYPE {
        let envelope =
            object
                .get("envelope")
                .and_then(Value::as_str)
                .ok_or(RecordError::WrongType {
                    field: "envelope",
                    expected: "the envelope's text, a string",
                })?;
        return Envelope::reparse(envelope.as_bytes().to_vec()).map(Unmapped::Carrier);
    }
    let ours = object
        .get("extensions")
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key(super::CARRIER_EXTENSION_ID));
    let mut payload = match object_type {
        "indicator" if !ours => indicator_fields(&object),
        "observed-data" if !ours => observed_fields(&object, objects),
        _ => return Ok(Unmapped::Skipped),
    };
    let Some(id) = object.get("id").and_then(Value::as_str) else {
        return Err(RecordError::Missing("id"));
    };
    if let Some(time) = ["valid_from", "first_observed", "created"]
        .iter()
        .find_map(|k| object.get(*k)?.as_str())
    {
        payload.insert("time.source".into(), json!(intelmq_time(time)));
    }
    payload.insert("classification.type".into(), json!("undetermined"));
    payload.insert(
        "raw".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(text)),
    );
    let envelope = json!({
        "meta": {"version": 1, "uuid": {"current": id}, "type": "event", "format": "intelmq"},
        "payload": payload,
    });
    Envelope::reparse(serde_json::to_vec(&envelope).expect("JSON values serialize"))
        .map(Unmapped::Foreign)
}

/// `[type:property = 'value']` patterns of one comparison, which is what IntelMQ can hold.
fn indicator_fields(object: &Map<String, Value>) -> Map<String, Value> {
    let mut payload = Map::new();
    if let Some((object_type, value)) = object
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(simple_pattern)
    {
        if let Some(field) = field_for(&object_type) {
            payload.insert(field.into(), json!(value));
        }
    }
    if let Some(description) = object.get("description").and_then(Value::as_str) {
        payload.insert("event_description.text".into(), json!(description));
    }
    payload
}

fn observed_fields(object: &Map<String, Value>, objects: &[Value]) -> Map<String, Value> {
    let mut payload = Map::new();
    let refs = object
        .get("object_refs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for reference in refs.iter().filter_map(Value::as_str) {
        let Some(sco) = objects.iter().find(|o| o["id"] == reference) else {
            continue;
        };
        let object_type = sco["type"].as_str().unwrap_or_default();
        if let (Some(field), Some(value)) = (field_for(object_type), sco.get("value")) {
            payload.entry(field).or_insert(value.clone());
        }
        if object_type == "autonomous-system" {
            if let Some(number) = sco.get("number") {
                payload.entry("source.asn").or_insert(number.clone());
            }
        }
    }
    payload
}

/// The objects of a page or envelope that `observed-data` may refer to: the observables [`unmap`] reads
/// values from. Parsing only those keeps the cost of a large page low.
pub fn reference_context<'a>(texts: impl Iterator<Item = &'a [u8]>) -> Vec<Value> {
    #[derive(serde::Deserialize)]
    struct Typed<'t> {
        #[serde(rename = "type", borrow)]
        object_type: Option<std::borrow::Cow<'t, str>>,
    }
    texts
        .filter(|text| {
            serde_json::from_slice::<Typed>(text).is_ok_and(|t| {
                t.object_type
                    .is_some_and(|t| field_for(&t).is_some() || t == "autonomous-system")
            })
        })
        .filter_map(|text| serde_json::from_slice(text).ok())
        .collect()
}

/// The IntelMQ field for a simple observable type.
fn field_for(object_type: &str) -> Option<&'static str> {
    match object_type {
        "ipv4-addr" | "ipv6-addr" => Some("source.ip"),
        "domain-name" => Some("source.fqdn"),
        "url" => Some("source.url"),
        "email-addr" => Some("source.account"),
        _ => None,
    }
}

/// `[ipv4-addr:value = '198.51.100.7']` -> ("ipv4-addr", "198.51.100.7"); `None` for anything richer.
fn simple_pattern(pattern: &str) -> Option<(String, String)> {
    let inner = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (path, value) = inner.split_once('=')?;
    let (object_type, property) = path.trim().split_once(':')?;
    let quoted = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    if property != "value" || quoted.replace("\\'", "").contains('\'') {
        return None;
    }
    Some((
        object_type.to_owned(),
        quoted.replace("\\'", "'").replace("\\\\", "\\"),
    ))
}

/// IntelMQ's DateTime form: `+00:00`, not `Z`.
fn intelmq_time(stix: &str) -> String {
    crate::stix::Timestamp::parse_lenient(stix)
        .map(|t| t.to_taxii().replace('Z', "+00:00"))
        .unwrap_or_else(|_| stix.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_patterns_only() {
        assert_eq!(
            simple_pattern("[ipv4-addr:value = '198.51.100.7']"),
            Some(("ipv4-addr".into(), "198.51.100.7".into()))
        );
        assert_eq!(
            simple_pattern(r"[url:value = 'http://x/it\'s']"),
            Some(("url".into(), "http://x/it's".into()))
        );
        assert_eq!(
            simple_pattern("[ipv4-addr:value = '1.1.1.1' OR ipv4-addr:value = '2.2.2.2']"),
            None
        );
        assert_eq!(simple_pattern("[file:hashes.MD5 = 'abc']"), None);
    }

    #[test]
    fn a_foreign_indicator_becomes_an_intelmq_envelope_keyed_by_its_id() {
        let text = br#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'evil.example.com']","pattern_type":"stix","valid_from":"2020-01-02T03:04:05Z","description":"C2"}"#;
        let Unmapped::Foreign(envelope) = unmap(text, &[]).unwrap() else {
            panic!("not mapped")
        };
        assert_eq!(
            envelope.id().as_str(),
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        );
        let payload = envelope.payload();
        assert_eq!(payload["source.fqdn"], "evil.example.com");
        assert_eq!(payload["time.source"], "2020-01-02T03:04:05.000000+00:00");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(payload["raw"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, text);
    }
}
