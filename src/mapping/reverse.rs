//! STIX -> envelopes: a carrier gives back its exact envelope; a foreign standard object becomes an IntelMQ
//! envelope keyed by its STIX id, with what the tables can fill and `raw` = its exact JSON.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::CARRIER_TYPE;
use crate::envelope::{Envelope, RecordError};
use members::Members;

mod members;

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
    let Some(members) = Members::read(text) else {
        // The errors that a `Value` parse gives, word for word.
        return Err(match serde_json::from_slice::<Value>(text) {
            Ok(_) => RecordError::NotAnObject,
            Err(e) => RecordError::InvalidJson(e.to_string()),
        });
    };
    match members.object_type.as_deref().unwrap_or_default() {
        CARRIER_TYPE => carrier(text),
        "indicator" if !members.ours => indicator(&members, text),
        "observed-data" if !members.ours => observed(text, objects),
        _ => Ok(Unmapped::Skipped),
    }
}

/// The envelope a carrier holds.
fn carrier(text: &[u8]) -> Result<Unmapped, RecordError> {
    let object: Map<String, Value> =
        serde_json::from_slice(text).map_err(|e| RecordError::InvalidJson(e.to_string()))?;
    let envelope =
        object
            .get("envelope")
            .and_then(Value::as_str)
            .ok_or(RecordError::WrongType {
                field: "envelope",
                expected: "the envelope's text, a string",
            })?;
    let envelope = Envelope::reparse(envelope.as_bytes().to_vec())?;
    envelope.check_flat_payload()?;
    Ok(Unmapped::Carrier(envelope))
}

/// `[type:property = 'value']` patterns of one comparison, which is what IntelMQ can hold; the envelope is
/// written straight from the members, in the order a map of them would hold them.
fn indicator(members: &Members, text: &[u8]) -> Result<Unmapped, RecordError> {
    let mut payload: Vec<(&str, &str)> = Vec::with_capacity(5);
    let comparison = members.pattern.as_deref().and_then(simple_pattern);
    if let Some(comparison) = &comparison {
        // `ISSUBSET` names a network, whatever its value looks like.
        let network = comparison.operator == Operator::IsSubset;
        if let Some(field) = address_field(&comparison.object_type, &comparison.value, "source")
            .map(|f| if network { "source.network" } else { f })
            .or_else(|| field_for(&comparison.object_type))
        {
            payload.push((field, &comparison.value));
        }
    }
    if let Some(description) = members.description.as_deref() {
        payload.push(("event_description.text", description));
    }
    let Some(id) = members.id.as_deref() else {
        return Err(RecordError::Missing("id"));
    };
    let time = [
        &members.valid_from,
        &members.first_observed,
        &members.created,
    ]
    .into_iter()
    .find_map(|time| time.as_deref())
    .map(intelmq_time);
    if let Some(time) = &time {
        payload.push(("time.source", time));
    }
    payload.push(("classification.type", "undetermined"));
    let raw = base64::engine::general_purpose::STANDARD.encode(text);
    payload.push(("raw", &raw));
    Envelope::made_event(id, &payload).map(Unmapped::Foreign)
}

/// An observed-data's envelope: what its observables hold.
fn observed(text: &[u8], objects: &[Value]) -> Result<Unmapped, RecordError> {
    let object: Map<String, Value> =
        serde_json::from_slice(text).map_err(|e| RecordError::InvalidJson(e.to_string()))?;
    let payload = observed_fields(&object, objects);
    envelope_of(&object, payload, text)
}

/// The IntelMQ envelope of a foreign object whose fields gave `payload`: the object's id, its time, and its exact
/// `text` as `raw`, as `Value` maps. (An indicator's is written from its members instead, `Members`, to the
/// same bytes.)
fn envelope_of(
    object: &Map<String, Value>,
    mut payload: Map<String, Value>,
    text: &[u8],
) -> Result<Unmapped, RecordError> {
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
    let mut envelope = Map::new();
    envelope.insert(
        "meta".into(),
        json!({"version": 1, "uuid": {"current": id}, "type": "event", "format": "intelmq"}),
    );
    envelope.insert("payload".into(), Value::Object(payload));
    let text = serde_json::to_vec(&envelope).expect("JSON values serialize");
    Envelope::from_made(&envelope, text).map(Unmapped::Foreign)
}

/// The values of the observables an observed-data refers to. A `network-traffic` gives each side its own
/// fields (addresses, ports) and `protocol.transport`; any other observable fills the `source.` side.
fn observed_fields(object: &Map<String, Value>, objects: &[Value]) -> Map<String, Value> {
    let mut payload = Map::new();
    let refs = object
        .get("object_refs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |reference: &str| objects.iter().find(|o| o["id"] == reference);
    let scos: Vec<&Value> = refs
        .iter()
        .filter_map(Value::as_str)
        .filter_map(find)
        .collect();
    // The connection first; its addresses have their sides, and are not read again as `source.` ones.
    let traffic = scos.iter().find(|o| o["type"] == "network-traffic");
    let sided: Vec<&Value> = traffic
        .iter()
        .flat_map(|t| [&t["src_ref"], &t["dst_ref"]])
        .collect();
    if let Some(traffic) = traffic {
        for (side, reference, port) in [
            ("source", "src_ref", "src_port"),
            ("destination", "dst_ref", "dst_port"),
        ] {
            if let Some(address) = traffic[reference].as_str().and_then(find)
                && let (Some(object_type), Some(value)) =
                    (address["type"].as_str(), address["value"].as_str())
            {
                let field = address_field(object_type, value, side).or_else(|| {
                    (object_type == "domain-name").then_some(if side == "source" {
                        "source.fqdn"
                    } else {
                        "destination.fqdn"
                    })
                });
                if let Some(field) = field {
                    payload.insert(field.into(), json!(value));
                }
            }
            if let Some(number) = traffic.get(port).filter(|p| p.is_u64()) {
                payload.insert(format!("{side}.port"), number.clone());
            }
        }
        if let Some(transport) = traffic["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|p| !["ipv4", "ipv6"].contains(p))
        {
            payload.insert("protocol.transport".into(), json!(transport));
        }
    }
    for sco in scos.iter().filter(|o| !sided.contains(&&o["id"])) {
        let object_type = sco["type"].as_str().unwrap_or_default();
        if let Some(value) = sco.get("value") {
            let field = value
                .as_str()
                .and_then(|v| address_field(object_type, v, "source"))
                .or_else(|| field_for(object_type));
            if let Some(field) = field {
                payload.entry(field).or_insert(value.clone());
            }
        }
        if object_type == "autonomous-system"
            && let Some(number) = sco.get("number")
        {
            payload.entry("source.asn").or_insert(number.clone());
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
                t.object_type.is_some_and(|t| {
                    field_for(&t).is_some() || t == "autonomous-system" || t == "network-traffic"
                })
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

/// The field of an address on one side (`source` or `destination`): `*.network` for a CIDR value, which
/// IntelMQ refuses in `*.ip`, else `*.ip`. `None` for what is no address.
fn address_field(object_type: &str, value: &str, side: &str) -> Option<&'static str> {
    if !matches!(object_type, "ipv4-addr" | "ipv6-addr") {
        return None;
    }
    Some(match (side, super::values::is_network(value)) {
        ("source", true) => "source.network",
        ("source", false) => "source.ip",
        (_, true) => "destination.network",
        (_, false) => "destination.ip",
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    IsSubset,
}

/// One comparison of a pattern: `[type:value = 'x']`, or `[ipv4-addr:value ISSUBSET 'x/n']`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    object_type: String,
    operator: Operator,
    value: String,
}

/// `[ipv4-addr:value = '198.51.100.7']` -> ("ipv4-addr", =, "198.51.100.7"); `None` for anything richer.
fn simple_pattern(pattern: &str) -> Option<Comparison> {
    let inner = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    // The value starts at the first quote: an `=` or `ISSUBSET` inside it is part of it.
    let (head, value) = inner.split_at(inner.find('\'')?);
    let head = head.trim_end();
    let (path, operator) = if let Some(path) = head.strip_suffix('=') {
        (path, Operator::Equals)
    } else {
        (head.strip_suffix(" ISSUBSET")?, Operator::IsSubset)
    };
    let (object_type, property) = path.trim().split_once(':')?;
    let quoted = value.trim_end().strip_prefix('\'')?.strip_suffix('\'')?;
    if property != "value" || quoted.replace("\\'", "").contains('\'') {
        return None;
    }
    if operator == Operator::IsSubset && !matches!(object_type, "ipv4-addr" | "ipv6-addr") {
        return None;
    }
    Some(Comparison {
        object_type: object_type.to_owned(),
        operator,
        value: quoted.replace("\\'", "'").replace("\\\\", "\\"),
    })
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
        let equals = |object_type: &str, value: &str| Comparison {
            object_type: object_type.into(),
            operator: Operator::Equals,
            value: value.into(),
        };
        assert_eq!(
            simple_pattern("[ipv4-addr:value = '198.51.100.7']"),
            Some(equals("ipv4-addr", "198.51.100.7"))
        );
        assert_eq!(
            simple_pattern(r"[url:value = 'http://x/it\'s']"),
            Some(equals("url", "http://x/it's"))
        );
        assert_eq!(
            simple_pattern("[ipv6-addr:value ISSUBSET '2001:db8::/32']"),
            Some(Comparison {
                operator: Operator::IsSubset,
                ..equals("ipv6-addr", "2001:db8::/32")
            })
        );
        assert_eq!(
            simple_pattern("[ipv4-addr:value = '1.1.1.1' OR ipv4-addr:value = '2.2.2.2']"),
            None
        );
        assert_eq!(simple_pattern("[file:hashes.MD5 = 'abc']"), None);
        assert_eq!(simple_pattern("[url:value ISSUBSET 'http://x/']"), None);
        assert_eq!(simple_pattern("[ipv4-addr:value != '192.0.2.1']"), None);
    }

    /// Found by the `pattern` fuzz target: the operator was found as the first `=` of the comparison, which for
    /// `ISSUBSET` is one inside the quoted value, so such a pattern gave no value back.
    #[test]
    fn an_equals_sign_in_the_value_is_part_of_the_value() {
        assert_eq!(
            simple_pattern("[ipv6-addr:value ISSUBSET '.1.100.a=']"),
            Some(Comparison {
                object_type: "ipv6-addr".into(),
                operator: Operator::IsSubset,
                value: ".1.100.a=".into(),
            })
        );
        assert_eq!(
            simple_pattern("[url:value = 'http://x.example/?a=b']").map(|c| c.value),
            Some("http://x.example/?a=b".into())
        );
    }

    fn foreign_payload(text: &str, objects: &[Value]) -> Map<String, Value> {
        match unmap(text.as_bytes(), objects).unwrap() {
            Unmapped::Foreign(envelope) => envelope.payload(),
            other => panic!("not mapped: {other:?}"),
        }
    }

    fn indicator(pattern: &str) -> String {
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
               "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
               "pattern": pattern, "pattern_type": "stix", "valid_from": "2020-01-02T03:04:05Z"})
        .to_string()
    }

    /// IntelMQ refuses a CIDR in `source.ip` (its IPAddress type takes one address): a network goes to
    /// `source.network`, which takes it, and a single address still to `source.ip`.
    #[test]
    fn a_cidr_in_a_foreign_indicator_is_a_network_never_an_ip() {
        for (pattern, field, value) in [
            (
                "[ipv4-addr:value = '192.0.2.0/24']",
                "source.network",
                "192.0.2.0/24",
            ),
            (
                "[ipv6-addr:value = '2001:db8::/32']",
                "source.network",
                "2001:db8::/32",
            ),
            (
                "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
                "source.network",
                "198.51.100.0/24",
            ),
            ("[ipv4-addr:value = '192.0.2.1']", "source.ip", "192.0.2.1"),
        ] {
            let payload = foreign_payload(&indicator(pattern), &[]);
            assert_eq!(payload[field], value, "{pattern}");
            assert!(
                !payload.contains_key(if field == "source.ip" {
                    "source.network"
                } else {
                    "source.ip"
                }),
                "{pattern}: {payload:?}"
            );
        }
    }

    /// A network-traffic gives each side its own fields, a CIDR address included; ports and a transport come
    /// back alone too.
    #[test]
    fn observed_network_traffic_fills_both_sides() {
        let sco = |object_type: &str, value: &str| {
            let object = json!({"type": object_type, "spec_version": "2.1", "value": value});
            let id = super::super::ids::sco_id(
                object_type,
                json!({"value": value}).as_object().unwrap(),
            );
            let mut object = object;
            object["id"] = json!(id);
            object
        };
        let network = sco("ipv4-addr", "192.0.2.0/24");
        let address = sco("ipv6-addr", "2001:db8::1");
        let traffic = json!({"type": "network-traffic", "spec_version": "2.1",
            "id": "network-traffic--3b37f7af-ec2b-5930-8d78-525c6c584b40",
            "src_ref": address["id"], "dst_ref": network["id"], "dst_port": 23, "protocols": ["ipv6", "tcp"]});
        let observed = json!({"type": "observed-data", "spec_version": "2.1",
            "id": "observed-data--0c0d3f4e-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
            "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
            "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2020-01-01T00:00:00Z",
            "number_observed": 1, "object_refs": [network["id"], address["id"], traffic["id"]]});
        let payload = foreign_payload(&observed.to_string(), &[network, address, traffic]);
        assert_eq!(payload["source.ip"], "2001:db8::1");
        assert_eq!(payload["destination.network"], "192.0.2.0/24");
        assert_eq!(payload["destination.port"], 23);
        assert_eq!(payload["protocol.transport"], "tcp");
        for absent in ["source.network", "destination.ip", "source.port"] {
            assert!(!payload.contains_key(absent), "{absent}: {payload:?}");
        }
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

#[cfg(test)]
mod indicator_tests;
