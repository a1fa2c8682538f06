//! The carrier: one STIX object per envelope, holding the envelope's exact text, from which the envelope
//! comes back byte for byte.
//!
//! The same envelope always gives the same carrier (id, timestamps, content), so that instances that map
//! the same envelope independently serve identical objects and TAXII dedup works across them.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Context, GATEWAY_IDENTITY_ID};
use crate::envelope::{Envelope, EnvelopeId};
use crate::stix::Timestamp;

/// The carrier's STIX type, defined by the extension below (a plain name: `x-` marks the deprecated
/// custom-object mechanism, STIX 2.1 §11.2).
pub const CARRIER_TYPE: &str = "iep04-envelope";

/// The extension-definition that defines [`CARRIER_TYPE`] and the back-link property. Frozen.
pub const CARRIER_EXTENSION_ID: &str = "extension-definition--74b974cf-0d12-40eb-b740-1173aa718f62";

/// Namespace of carrier ids for envelope ids that are not RFC 4122 UUIDs of versions 1 to 5: UUIDv5 of the
/// exact id string. Frozen: changing it changes every such carrier id.
pub const CARRIER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x1d05_1d03_831d_4e5e_b7f8_7abb_91a9_a6f7);

/// `created` and `modified` of carriers whose envelope names no time.
const NO_TIME: &str = "1970-01-01T00:00:00.000Z";

/// `iep04-envelope--<uuid>`: the envelope's own UUID when it is an RFC 4122 UUID of version 1 to 5 (STIX
/// ids allow only those), otherwise UUIDv5 in [`CARRIER_ID_NAMESPACE`] over the exact id string.
pub fn carrier_id(id: &EnvelopeId) -> String {
    let uuid = id
        .as_rfc4122_uuid()
        .unwrap_or_else(|| Uuid::new_v5(&CARRIER_ID_NAMESPACE, id.as_str().as_bytes()));
    format!("{CARRIER_TYPE}--{uuid}")
}

/// `created` (and first `modified`) from the payload: `time.observation`, else `time.source`, else the
/// Unix epoch. IntelMQ writes `+00:00`; STIX wants `Z` and milliseconds.
pub fn carrier_times(payload: &Map<String, Value>) -> (Timestamp, String) {
    ["time.observation", "time.source"]
        .iter()
        .filter_map(|key| payload.get(*key)?.as_str())
        .find_map(|text| Timestamp::parse_lenient(text).ok())
        .map(|t| (t, t.to_stix_millis()))
        .unwrap_or_else(|| {
            let epoch = Timestamp::parse_stix(NO_TIME).expect("a valid constant");
            (epoch, NO_TIME.to_owned())
        })
}

pub(super) fn carrier(envelope: &Envelope, context: &Context) -> Value {
    let mut object = json!({
        "type": CARRIER_TYPE,
        "spec_version": "2.1",
        "id": context.carrier_id,
        "created": context.created,
        "modified": context.modified,
        "created_by_ref": GATEWAY_IDENTITY_ID,
    });
    let properties = object.as_object_mut().expect("built as an object");
    if let Some(marking) = &context.marking {
        properties.insert("object_marking_refs".into(), json!([marking]));
    }
    properties.insert(
        "envelope".into(),
        Value::String(String::from_utf8_lossy(envelope.text()).into_owned()),
    );
    properties.insert(
        "envelope_hashes".into(),
        json!({"SHA-256": hex(&Sha256::digest(envelope.text()))}),
    );
    properties.insert(
        "envelope_id".into(),
        Value::String(context.envelope_id.clone()),
    );
    if let Some(parent) = envelope.parent() {
        properties.insert("parent_ref".into(), Value::String(carrier_id(parent)));
    }
    for (name, value) in [
        ("envelope_format", envelope.format()),
        ("envelope_type", envelope.kind()),
    ] {
        if let Some(value) = value {
            properties.insert(name.into(), Value::String(value.to_owned()));
        }
    }
    properties.insert(
        "extensions".into(),
        json!({ CARRIER_EXTENSION_ID: {"extension_type": "new-sdo"} }),
    );
    object
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{IntakeRules, Minting, Shape};
    use crate::mapping::{Tables, map_envelope};

    fn envelope(text: &str) -> Envelope {
        let rules = IntakeRules {
            minting: Minting::Uuid4,
            bare_shape: Shape::Draft,
        };
        Envelope::parse(text.as_bytes(), &rules).unwrap()
    }

    #[test]
    fn ids_follow_the_envelope_id() {
        let uuid = EnvelopeId::parse("72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b").unwrap();
        assert_eq!(
            carrier_id(&uuid),
            "iep04-envelope--72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b"
        );
        let cycat =
            EnvelopeId::parse("cert-at:intelmq:72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b").unwrap();
        let expected = Uuid::new_v5(&CARRIER_ID_NAMESPACE, cycat.as_str().as_bytes());
        assert_eq!(carrier_id(&cycat), format!("iep04-envelope--{expected}"));
        let v7 = EnvelopeId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
        assert_ne!(
            carrier_id(&v7),
            "iep04-envelope--01890a5d-ac96-774b-bcce-b302099a8057"
        );
    }

    #[test]
    fn the_same_envelope_gives_the_same_carrier_holding_its_exact_text() {
        let text = r#"{"meta": {"uuid": {"current": "a:1", "parent": "a:0"}, "format": "intelmq", "type": "event"}, "payload": {"time.source": "2024-05-18T11:36:08+00:00", "tlp": "RED", "extra.x": "é\u00e9"}}"#;
        let tables = Tables::embedded();
        let first = map_envelope(&envelope(text), &tables, None).carrier;
        assert_eq!(first, map_envelope(&envelope(text), &tables, None).carrier);
        assert_eq!(first["envelope"].as_str().unwrap(), text);
        assert_eq!(first["created"], "2024-05-18T11:36:08.000Z");
        assert_eq!(
            first["parent_ref"],
            carrier_id(&EnvelopeId::parse("a:0").unwrap())
        );
        assert_eq!(first["envelope_format"], "intelmq");
        assert_eq!(
            first["object_marking_refs"][0],
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
        );
        crate::stix::ObjectHeader::read(first.to_string().as_bytes()).unwrap();
    }

    #[test]
    fn envelopes_without_times_fall_back_to_the_epoch() {
        let mapped = map_envelope(
            &envelope(r#"{"meta": {"uuid": "x1"}, "payload": {"time.source": "garbage"}}"#),
            &Tables::embedded(),
            None,
        );
        assert_eq!(mapped.carrier["modified"], "1970-01-01T00:00:00.000Z");
    }
}
