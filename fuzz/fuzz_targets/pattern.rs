//! STIX pattern -> IntelMQ (`src/mapping/reverse.rs`): a foreign indicator posted to a collection becomes an
//! IntelMQ envelope keyed by its id, with the value of a one-comparison pattern in its field.
//!
//! The input drives an indicator: an observable type, a value (any text), an operator, whether the pattern is
//! written as the mapping writes it (quotes and backslashes escaped) or raw, and a description.
//!
//! Properties: a well-formed indicator always gives an envelope (never an error, whatever its pattern and
//! description), keyed by the indicator's id, whose `raw` is the indicator's exact text; an escaped
//! `[type:value = '…']` gives its value back unchanged in the type's field (`source.network` for a CIDR
//! address, `source.ip` for another), an `ISSUBSET` of an address in `source.network`; the description comes
//! back as `event_description.text`; and any pattern gives at most one observable field.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use stixgate::mapping::{Unmapped, unmap};

const ID: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const FIELDS: [&str; 5] = [
    "source.ip",
    "source.network",
    "source.fqdn",
    "source.url",
    "source.account",
];

#[derive(Debug, Arbitrary)]
struct Indicator {
    object_type: ObjectType,
    value: String,
    subset: bool,
    escaped: bool,
    description: Option<String>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum ObjectType {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    File,
}

fuzz_target!(|indicator: Indicator| {
    let object_type = match indicator.object_type {
        ObjectType::Ipv4 => "ipv4-addr",
        ObjectType::Ipv6 => "ipv6-addr",
        ObjectType::Domain => "domain-name",
        ObjectType::Url => "url",
        ObjectType::Email => "email-addr",
        ObjectType::File => "file",
    };
    let value = if indicator.escaped {
        indicator.value.replace('\\', "\\\\").replace('\'', "\\'")
    } else {
        indicator.value.clone()
    };
    let operator = if indicator.subset { "ISSUBSET" } else { "=" };
    let pattern = format!("[{object_type}:value {operator} '{value}']");
    let mut object = json!({"type": "indicator", "spec_version": "2.1", "id": ID,
        "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2020-01-02T03:04:05Z"});
    if let Some(description) = &indicator.description {
        object["description"] = json!(description);
    }
    let text = serde_json::to_vec(&object).expect("JSON values serialize");
    let envelope = match unmap(&text, &[]) {
        Ok(Unmapped::Foreign(envelope)) => envelope,
        other => panic!("{pattern:?} gave {other:?}"),
    };
    assert_eq!(envelope.id().as_str(), ID);
    let payload = envelope.payload();
    let raw = payload["raw"].as_str().expect("raw is a string");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("raw is base64"),
        text,
        "raw is not the indicator's text"
    );
    assert_eq!(
        payload
            .get("event_description.text")
            .and_then(|d| d.as_str()),
        indicator.description.as_deref()
    );
    let found: Vec<&str> = FIELDS
        .iter()
        .copied()
        .filter(|f| payload.contains_key(*f))
        .collect();
    assert!(found.len() <= 1, "{pattern:?} gave {found:?}");
    if !indicator.escaped {
        return;
    }
    let is_address = matches!(indicator.object_type, ObjectType::Ipv4 | ObjectType::Ipv6);
    let expected = match indicator.object_type {
        _ if indicator.subset && !is_address => None,
        _ if indicator.subset => Some("source.network"),
        ObjectType::Ipv4 | ObjectType::Ipv6 if indicator.value.contains('/') => {
            Some("source.network")
        }
        ObjectType::Ipv4 | ObjectType::Ipv6 => Some("source.ip"),
        ObjectType::Domain => Some("source.fqdn"),
        ObjectType::Url => Some("source.url"),
        ObjectType::Email => Some("source.account"),
        ObjectType::File => None,
    };
    match expected {
        Some(field) => assert_eq!(
            payload.get(field).and_then(|v| v.as_str()),
            Some(indicator.value.as_str()),
            "{pattern:?} did not give its value back in {field}: {payload:?}"
        ),
        None => assert!(found.is_empty(), "{pattern:?} gave {found:?}"),
    }
});
