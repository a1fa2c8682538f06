//! MISP attributes and objects from what a payload holds, read through the mapping tables
//! ([`Observables`]), so the feed and the STIX objects agree on what is valid.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::mapping::{Observables, Side, Tables};

/// One MISP attribute, before it is written as feed JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// MISP's attribute type: `ip-src`, `hostname`, `md5`, `AS`, ...
    pub kind: &'static str,
    pub category: &'static str,
    pub value: String,
    pub to_ids: bool,
}

/// An `ip-port` object: one side's address and host name, with the port and transport that go with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPort {
    pub side: Side,
    /// Each attribute with its `object_relation` in MISP's `ip-port` template.
    pub attributes: Vec<(&'static str, Attribute)>,
}

/// MISP's `ip-port` object template, whose attributes [`IpPort`] uses.
pub const IP_PORT_TEMPLATE: (&str, u32) = ("9f8cea74-16fe-4968-a2b4-026676949ac6", 10);

/// The attributes and objects of one payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub attributes: Vec<Attribute>,
    pub objects: Vec<IpPort>,
}

const NETWORK: &str = "Network activity";
const PAYLOAD: &str = "Payload delivery";
const EXTERNAL: &str = "External analysis";

/// The payload's attributes. `to_ids` is set on the observables of events whose `classification.type` the
/// tables' `[indicators]` name; AS numbers, vulnerabilities, ports and protocols describe rather than detect,
/// so they never get it (MISP's own defaults for those types). Where a side has a port, its address and host
/// name go into an `ip-port` object with it instead of standing alone.
pub fn attributes(payload: &Map<String, Value>, tables: &Tables) -> Found {
    let indicator = payload
        .get("classification.type")
        .and_then(Value::as_str)
        .is_some_and(|kind| tables.indicators.contains_key(kind));
    let found = Observables::read(payload, tables, &mut Vec::new());
    let attribute = |kind, category, value: String| Attribute {
        kind,
        category,
        value,
        to_ids: indicator && !matches!(kind, "AS" | "vulnerability" | "port" | "text"),
    };
    let mut sided: Vec<(Side, Attribute)> = Vec::new();
    for (side, ip) in &found.ips {
        let kind = match side {
            Side::Src => "ip-src",
            Side::Dst => "ip-dst",
        };
        sided.push((*side, attribute(kind, NETWORK, ip.to_string())));
    }
    for (side, name) in &found.domains {
        let kind = host_kind(name, payload, *side);
        sided.push((*side, attribute(kind, NETWORK, name.clone())));
    }
    let mut objects = Vec::new();
    for (side, port) in &found.ports {
        let (in_object, alone): (Vec<_>, Vec<_>) = sided.into_iter().partition(|(s, _)| s == side);
        sided = alone;
        if in_object.is_empty() {
            continue;
        }
        let mut members: Vec<(&'static str, Attribute)> =
            in_object.into_iter().map(|(_, a)| (a.kind, a)).collect();
        let port_relation = match side {
            Side::Src => "src-port",
            Side::Dst => "dst-port",
        };
        members.push((port_relation, attribute("port", NETWORK, port.to_string())));
        if let Some(transport) = &found.transport {
            members.push((
                "protocol",
                attribute("text", NETWORK, transport.to_ascii_uppercase()),
            ));
        }
        objects.push(IpPort {
            side: *side,
            attributes: members,
        });
    }
    let mut attributes: Vec<Attribute> = sided.into_iter().map(|(_, a)| a).collect();
    attributes.extend(
        found
            .urls
            .iter()
            .map(|url| attribute("url", NETWORK, url.clone())),
    );
    for (side, email) in &found.emails {
        let kind = match side {
            Side::Src => "email-src",
            Side::Dst => "email-dst",
        };
        attributes.push(attribute(kind, PAYLOAD, email.clone()));
    }
    for (_, asn) in &found.asns {
        attributes.push(attribute("AS", NETWORK, asn.to_string()));
    }
    for (algorithm, hash) in &found.hashes {
        if let Some(kind) = hash_type(algorithm) {
            attributes.push(attribute(kind, PAYLOAD, hash.clone()));
        }
    }
    attributes.extend(
        found
            .cves
            .iter()
            .map(|cve| attribute("vulnerability", EXTERNAL, cve.clone())),
    );
    Found {
        attributes,
        objects,
    }
}

/// MISP's `domain` for a registered domain (one label above its public suffix), `hostname` for a host in it.
/// The suffix is IntelMQ's `<side>.domain_suffix` when an expert set it, else the last label.
fn host_kind(name: &str, payload: &Map<String, Value>, side: Side) -> &'static str {
    let suffix_field = match side {
        Side::Src => "source.domain_suffix",
        Side::Dst => "destination.domain_suffix",
    };
    let suffix_labels = payload
        .get(suffix_field)
        .and_then(Value::as_str)
        .map(|suffix| suffix.trim().trim_matches('.'))
        .filter(|suffix| {
            !suffix.is_empty() && name.ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
        })
        .map_or(1, |suffix| suffix.split('.').count());
    if name.split('.').count() > suffix_labels + 1 && name.parse::<IpAddr>().is_err() {
        "hostname"
    } else {
        "domain"
    }
}

/// MISP's attribute type of a STIX hash algorithm name.
fn hash_type(algorithm: &str) -> Option<&'static str> {
    match algorithm {
        "MD5" => Some("md5"),
        "SHA-1" => Some("sha1"),
        "SHA-256" => Some("sha256"),
        "SHA-512" => Some("sha512"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(payload: Value) -> Found {
        attributes(payload.as_object().unwrap(), &Tables::embedded())
    }

    fn loose(found: &Found) -> Vec<(&'static str, String, bool)> {
        found
            .attributes
            .iter()
            .map(|a| (a.kind, a.value.clone(), a.to_ids))
            .collect()
    }

    #[test]
    fn an_indicator_marks_its_observables_but_not_its_as() {
        let found = of(
            json!({"classification.type": "blacklist", "source.ip": "192.0.2.1",
                              "source.asn": 64512, "destination.fqdn": "Bad.Example"}),
        );
        let loose = loose(&found);
        assert!(loose.contains(&("ip-src", "192.0.2.1".into(), true)));
        assert!(loose.contains(&("AS", "64512".into(), false)));
        assert!(loose.contains(&("domain", "bad.example".into(), true)));
    }

    #[test]
    fn invalid_values_and_non_cves_are_left_out() {
        let found = of(
            json!({"classification.type": "infected-system", "destination.ip": "203.0.113.9",
                              "source.ip": "not an ip", "malware.hash.md5": "abc",
                              "product.vulnerabilities": "cve-2023-38408; other"}),
        );
        assert_eq!(
            loose(&found),
            [
                ("ip-dst", "203.0.113.9".into(), false),
                ("vulnerability", "CVE-2023-38408".into(), false),
            ]
        );
    }

    #[test]
    fn hosts_below_the_public_suffix_are_hostnames() {
        let found = of(
            json!({"source.fqdn": "www.example.co.uk", "source.domain_suffix": "co.uk",
                              "destination.fqdn": "example.co.uk", "destination.domain_suffix": "co.uk"}),
        );
        assert_eq!(
            loose(&found),
            [
                ("domain", "example.co.uk".into(), false),
                ("hostname", "www.example.co.uk".into(), false),
            ]
        );
        let found = of(json!({"source.fqdn": "mail.example.com"}));
        assert_eq!(found.attributes[0].kind, "hostname");
    }

    #[test]
    fn a_side_with_a_port_becomes_an_ip_port_object() {
        let found = of(
            json!({"classification.type": "c2-server", "source.ip": "198.51.100.7",
                              "source.fqdn": "c2.example.net", "source.port": 443,
                              "protocol.transport": "tcp", "destination.ip": "192.0.2.5"}),
        );
        assert_eq!(loose(&found), [("ip-dst", "192.0.2.5".into(), true)]);
        let [object] = found.objects.as_slice() else {
            panic!("one object: {found:?}")
        };
        let relations: Vec<_> = object
            .attributes
            .iter()
            .map(|(relation, a)| (*relation, a.kind, a.value.as_str(), a.to_ids))
            .collect();
        assert_eq!(
            relations,
            [
                ("ip-src", "ip-src", "198.51.100.7", true),
                ("hostname", "hostname", "c2.example.net", true),
                ("src-port", "port", "443", false),
                ("protocol", "text", "TCP", false),
            ]
        );
    }
}
