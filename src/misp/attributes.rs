//! MISP attributes from one IntelMQ event, by the `[fields]` kinds of the mapping tables.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::mapping::{Kind, Side, Tables};

/// One MISP attribute, before it is written as feed JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// MISP's attribute type: `ip-src`, `domain`, `md5`, `AS`, ...
    pub kind: &'static str,
    pub category: &'static str,
    pub value: String,
    pub to_ids: bool,
}

/// The attributes of one event's payload, in the tables' field order. `to_ids` is set on the observables of
/// events whose `classification.type` the tables' `[indicators]` name; AS numbers and vulnerabilities
/// describe rather than detect, so they never get it (MISP's own defaults for those types).
pub fn attributes(payload: &Map<String, Value>, tables: &Tables) -> Vec<Attribute> {
    let indicator = payload
        .get("classification.type")
        .and_then(Value::as_str)
        .is_some_and(|kind| tables.indicators.contains_key(kind));
    let mut found = Vec::new();
    for (field, rule) in &tables.fields {
        let Some(value) = payload.get(field).and_then(text) else {
            continue;
        };
        let destination = rule.side == Some(Side::Dst);
        let typed: Vec<(&'static str, &'static str, String)> = match rule.kind {
            Kind::Ip => valid_ip(&value)
                .map(|ip| (if destination { "ip-dst" } else { "ip-src" }, NETWORK, ip))
                .into_iter()
                .collect(),
            Kind::Domain => vec![("domain", NETWORK, value.to_ascii_lowercase())],
            Kind::Url => vec![("url", NETWORK, value)],
            Kind::Email => vec![(
                if destination {
                    "email-dst"
                } else {
                    "email-src"
                },
                PAYLOAD,
                value,
            )],
            Kind::Asn => vec![("AS", NETWORK, value)],
            Kind::Hash => rule
                .algorithm
                .as_deref()
                .and_then(hash_type)
                .filter(|(_, length)| is_hex_of_length(&value, *length))
                .map(|(kind, _)| (kind, PAYLOAD, value.to_ascii_lowercase()))
                .into_iter()
                .collect(),
            Kind::Cve => cves(&value)
                .map(|cve| ("vulnerability", EXTERNAL, cve))
                .collect(),
            _ => Vec::new(),
        };
        found.extend(typed.into_iter().map(|(kind, category, value)| Attribute {
            kind,
            category,
            value,
            to_ids: indicator && !matches!(kind, "AS" | "vulnerability"),
        }));
    }
    found
}

const NETWORK: &str = "Network activity";
const PAYLOAD: &str = "Payload delivery";
const EXTERNAL: &str = "External analysis";

/// A string or a number (IntelMQ's ASNs are integers) as text; nothing for empty values.
fn text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// MISP refuses an `ip-src` that is not an address; its canonical text is what MISP stores.
fn valid_ip(value: &str) -> Option<String> {
    value.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

/// MISP's attribute type and the hex length of a STIX hash algorithm name.
fn hash_type(algorithm: &str) -> Option<(&'static str, usize)> {
    match algorithm {
        "MD5" => Some(("md5", 32)),
        "SHA-1" => Some(("sha1", 40)),
        "SHA-256" => Some(("sha256", 64)),
        "SHA-512" => Some(("sha512", 128)),
        _ => None,
    }
}

fn is_hex_of_length(value: &str, length: usize) -> bool {
    value.len() == length && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The CVE ids in a `;`-separated list, uppercase as MISP's `vulnerability` type wants them.
fn cves(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(';')
        .map(|part| part.trim().to_ascii_uppercase())
        .filter(|part| {
            part.strip_prefix("CVE-")
                .is_some_and(|rest| rest.contains('-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(payload: Value) -> Vec<(&'static str, String, bool)> {
        attributes(payload.as_object().unwrap(), &Tables::embedded())
            .into_iter()
            .map(|a| (a.kind, a.value, a.to_ids))
            .collect()
    }

    #[test]
    fn an_indicator_marks_its_observables_but_not_its_as() {
        let found = of(
            json!({"classification.type": "blacklist", "source.ip": "192.0.2.1",
                              "source.asn": 64512, "destination.fqdn": "Bad.Example"}),
        );
        assert!(found.contains(&("ip-src", "192.0.2.1".into(), true)));
        assert!(found.contains(&("AS", "64512".into(), false)));
        assert!(found.contains(&("domain", "bad.example".into(), true)));
    }

    #[test]
    fn invalid_values_and_non_cves_are_left_out() {
        let found = of(
            json!({"classification.type": "infected-system", "destination.ip": "203.0.113.9",
                              "source.ip": "not an ip", "malware.hash.md5": "abc",
                              "product.vulnerabilities": "cve-2023-38408; other"}),
        );
        assert_eq!(
            found,
            [
                ("ip-dst", "203.0.113.9".into(), false),
                ("vulnerability", "CVE-2023-38408".into(), false),
            ]
        );
    }
}
