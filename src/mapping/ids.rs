//! Deterministic ids: the spec's for SCOs, and UUIDv5 in our namespace for the standard SDOs and SROs, so
//! that the same envelope always maps to the same objects on every instance.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::envelope::sorted_json::{self, Style};

/// STIX 2.1 §2.9: the namespace of SCO ids.
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Namespace of the ids of standard SDOs and SROs. Frozen.
pub const STANDARD_ID_NAMESPACE: Uuid = Uuid::from_u128(0xb92d_1af2_3d7c_4e29_9aec_75c6_51e4_a548);

/// An SCO id (STIX 2.1 §2.9): UUIDv5 over the RFC 8785 canonical JSON of the ID-contributing properties.
/// Our SCOs have ASCII keys and integer numbers only, for which sorted compact JSON is RFC 8785.
pub fn sco_id(object_type: &str, contributing: &Map<String, Value>) -> String {
    let mut canonical = String::new();
    sorted_json::write(
        &Value::Object(contributing.clone()),
        Style::Compact,
        &mut canonical,
    );
    format!(
        "{object_type}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    )
}

/// The id of a standard SDO or SRO named by `parts` (joined with NUL, which no part contains).
pub fn standard_id(object_type: &str, parts: &[&str]) -> String {
    format!(
        "{object_type}--{}",
        Uuid::new_v5(&STANDARD_ID_NAMESPACE, parts.join("\0").as_bytes())
    )
}

/// Adds `properties` (an object) to `object`, replacing what it had under the same names.
pub(super) fn merge(object: &mut Value, properties: Value) {
    if let (Some(object), Value::Object(properties)) = (object.as_object_mut(), properties) {
        object.extend(properties);
    }
}

/// A SCO of `object_type` with `contributing` properties, whose id is made from them (§2.9).
pub(super) fn sco(object_type: &str, contributing: Value) -> Value {
    let contributing = contributing.as_object().cloned().unwrap_or_default();
    sco_with_id(
        object_type,
        sco_id(object_type, &contributing),
        contributing,
    )
}

pub(super) fn sco_with_id(object_type: &str, id: String, properties: Map<String, Value>) -> Value {
    let mut object = json!({"type": object_type, "spec_version": "2.1", "id": id});
    merge(&mut object, Value::Object(properties));
    object
}

/// The `id` of a STIX object, empty when it has none.
pub(super) fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(object_type: &str, contributing: Value) -> String {
        sco_id(object_type, contributing.as_object().unwrap())
    }

    #[test]
    fn sco_ids_match_the_spec_examples() {
        assert_eq!(
            id("ipv4-addr", json!({"value": "198.51.100.3"})),
            "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"
        );
        assert_eq!(
            id("autonomous-system", json!({"number": 15139})),
            "autonomous-system--3aa27478-50b5-5ab8-9da9-cdc12b657fff"
        );
        assert_eq!(
            id("domain-name", json!({"value": "example.com"})),
            "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"
        );
        assert_eq!(
            id(
                "network-traffic",
                json!({"src_ref": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "dst_port": 443, "protocols": ["ipv4", "tcp"]})
            ),
            "network-traffic--21fb682d-8acd-5691-b4d4-101141ec8c81"
        );
    }
}
