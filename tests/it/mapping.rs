//! The STIX mapping: golden output for every fixture, and envelope -> STIX -> envelope byte for byte.

use std::path::PathBuf;

use serde_json::Value;
use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape};
use stixgate::mapping::{Tables, Unmapped, map_envelope, unmap};
use stixgate::stix::ObjectHeader;

use crate::helpers::fixtures;

const NAMES: [&str; 7] = [
    "sinkhole",
    "misp-origin",
    "n6-blacklist",
    "honeypot-brute-force",
    "scan-open-service",
    "transport-no-port",
    "drop-network",
];
const KINDS: [&str; 3] = ["event", "draft", "decided"];

/// Bare events get content ids, so that their golden output is stable too.
fn rules() -> IntakeRules {
    IntakeRules {
        minting: Minting::Hash,
        bare_shape: Shape::Draft,
    }
}

fn golden_path(name: &str, kind: &str) -> PathBuf {
    fixtures().join(format!("stix/{name}.{kind}.json"))
}

/// Any change to the mapping shows in review as a change to `fixtures/stix/`. After checking a change is
/// intended, regenerate with `UPDATE_GOLDEN=1 cargo test --test it golden`.
#[test]
fn golden_stix_for_every_fixture() {
    let tables = Tables::embedded();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for name in NAMES {
        for kind in KINDS {
            let text =
                std::fs::read(fixtures().join(format!("intelmq/{name}.{kind}.json"))).unwrap();
            let envelope = Envelope::parse(text.trim_ascii(), &rules()).unwrap();
            let mapped = map_envelope(&envelope, &tables, None);
            assert!(
                mapped.warnings.is_empty(),
                "{name}.{kind}: {:?}",
                mapped.warnings
            );
            let objects: Vec<Value> = std::iter::once(mapped.carrier)
                .chain(mapped.standard)
                .collect();
            for object in &objects {
                ObjectHeader::read(object.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("{name}.{kind}: {e}: {object}"));
            }
            let actual = format!("{}\n", serde_json::to_string_pretty(&objects).unwrap());
            let path = golden_path(name, kind);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                expected == actual,
                "{} differs from the mapping's output:\n{actual}",
                path.display()
            );
        }
    }
}

#[test]
fn every_fixture_maps_to_the_expected_kinds_of_objects() {
    let tables = Tables::embedded();
    let types = |name: &str| -> Vec<String> {
        let text = std::fs::read(fixtures().join(format!("intelmq/{name}.draft.json"))).unwrap();
        let mapped = map_envelope(
            &Envelope::parse(text.trim_ascii(), &rules()).unwrap(),
            &tables,
            None,
        );
        let mut types: Vec<String> = mapped
            .standard
            .iter()
            .map(|o| o["type"].as_str().unwrap().to_owned())
            .collect();
        types.sort();
        types.dedup();
        types
    };
    assert_eq!(
        types("sinkhole"),
        [
            "identity",
            "ipv4-addr",
            "location",
            "malware",
            "network-traffic",
            "observed-data",
            "relationship"
        ]
    );
    assert!(
        !types("sinkhole").contains(&"indicator".to_owned()),
        "an infected system is a victim, not an IoC"
    );
    assert!(
        types("misp-origin").contains(&"indicator".to_owned())
            && types("misp-origin").contains(&"file".to_owned())
    );
    assert!(types("n6-blacklist").contains(&"autonomous-system".to_owned()));
}

#[test]
fn invalid_values_are_left_out_with_warnings_and_kept_in_the_carrier() {
    let text = r#"{"meta": {"uuid": "w-1"}, "payload": {"source.ip": "999.1.1.1", "source.fqdn": "_dmarc.example.com", "source.url": "http://exa mple.com/", "malware.hash.md5": "abc", "source.port": 70000, "source.geolocation.cc": "XX", "destination.ip": "192.0.2.1", "tlp": "ULTRAVIOLET", "classification.type": "c2-server"}}"#;
    let envelope = Envelope::parse(text.as_bytes(), &rules()).unwrap();
    let mapped = map_envelope(&envelope, &Tables::embedded(), None);
    assert_eq!(mapped.warnings.len(), 7, "{:#?}", mapped.warnings);
    for field in [
        "source.ip",
        "source.fqdn",
        "source.url",
        "malware.hash.md5",
        "source.port",
        "source.geolocation.cc",
        "tlp",
    ] {
        assert!(
            mapped.warnings.iter().any(|w| w.starts_with(field)),
            "no warning for {field}"
        );
    }
    let values: Vec<&str> = mapped
        .standard
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(values, ["192.0.2.1"]);
    assert_eq!(mapped.carrier["envelope"], text);
}

#[test]
fn carriers_unmap_to_the_exact_envelope_and_standard_objects_to_nothing() {
    let tables = Tables::embedded();
    for name in NAMES {
        for kind in ["draft", "decided"] {
            let text =
                std::fs::read(fixtures().join(format!("intelmq/{name}.{kind}.json"))).unwrap();
            let mapped = map_envelope(
                &Envelope::parse(text.trim_ascii(), &rules()).unwrap(),
                &tables,
                None,
            );
            let Unmapped::Carrier(back) =
                unmap(mapped.carrier.to_string().as_bytes(), &[]).unwrap()
            else {
                panic!("the carrier did not unmap")
            };
            assert_eq!(back.text(), text.trim_ascii());
            for object in &mapped.standard {
                assert_eq!(
                    unmap(object.to_string().as_bytes(), &mapped.standard).unwrap(),
                    Unmapped::Skipped,
                    "{object}"
                );
            }
        }
    }
}

/// The fields a network-traffic and its addresses carry, which must survive IntelMQ -> STIX -> IntelMQ.
const NETWORK_FIELDS: [&str; 7] = [
    "source.ip",
    "destination.ip",
    "source.network",
    "destination.network",
    "source.port",
    "destination.port",
    "protocol.transport",
];

/// Addresses compare as addresses: STIX writes them in canonical form (lower case, compressed), so that the
/// same address always gets the same SCO id, while IntelMQ keeps `2001:DB8::BB2B:F258` as the feed wrote it.
fn same_value(field: &str, a: &Value, b: &Value) -> bool {
    let ip = |v: &Value| v.as_str()?.parse::<std::net::IpAddr>().ok();
    a == b || (field.ends_with(".ip") && ip(a).is_some() && ip(a) == ip(b))
}

/// A consumer that re-publishes our observed-data and indicators (without our back-link, so they read as
/// foreign objects) gives back the event's addresses, networks, ports and transport, each on its own side:
/// a lone destination port, a lone source port, a transport without a port, a netblock.
#[test]
fn network_fields_come_back_from_the_standard_objects() {
    let tables = Tables::embedded();
    for name in NAMES {
        let text = std::fs::read(fixtures().join(format!("intelmq/{name}.draft.json"))).unwrap();
        let envelope = Envelope::parse(text.trim_ascii(), &rules()).unwrap();
        let expected: Vec<(&str, Value)> = NETWORK_FIELDS
            .iter()
            .filter_map(|f| Some((*f, envelope.payload().get(*f)?.clone())))
            .collect();
        let mut foreign = map_envelope(&envelope, &tables, None).standard;
        for object in &mut foreign {
            object.as_object_mut().unwrap().remove("extensions");
        }
        let mut found: Vec<(String, Value)> = Vec::new();
        for object in foreign
            .iter()
            .filter(|o| o["type"] == "observed-data" || o["type"] == "indicator")
        {
            let Unmapped::Foreign(back) = unmap(object.to_string().as_bytes(), &foreign).unwrap()
            else {
                panic!("{name}: {object} did not unmap")
            };
            for field in NETWORK_FIELDS {
                if let Some(value) = back.payload().get(field) {
                    found.push((field.to_owned(), value.clone()));
                }
            }
        }
        for (field, value) in &found {
            let original = expected.iter().find(|(f, _)| f == field);
            assert!(
                original.is_some_and(|(_, v)| same_value(field, v, value)),
                "{name}: {field} = {value} came back, the event has {original:?}"
            );
        }
        for (field, value) in &expected {
            assert!(
                found.iter().any(|(f, _)| f == field),
                "{name}: {field} = {value} did not come back"
            );
        }
    }
}

/// IntelMQ refuses a CIDR in `*.ip`: the network of a netblock feed becomes an ipv4-addr whose value is the
/// CIDR, its indicator's pattern names it, and both come back as `source.network`, never `source.ip`.
#[test]
fn a_netblock_maps_to_a_cidr_address_and_back_to_source_network() {
    let text = r#"{"meta": {"uuid": "net-1"}, "payload": {"source.network": "192.0.2.77/24", "classification.type": "blacklist", "destination.network": "2001:DB8:1::/48", "destination.ip": "2001:db8:1::5"}}"#;
    let envelope = Envelope::parse(text.as_bytes(), &rules()).unwrap();
    let mapped = map_envelope(&envelope, &Tables::embedded(), None);
    assert!(mapped.warnings.is_empty(), "{:?}", mapped.warnings);
    let values: Vec<&str> = mapped
        .standard
        .iter()
        .filter(|o| o["type"] == "ipv4-addr" || o["type"] == "ipv6-addr")
        .filter_map(|o| o["value"].as_str())
        .collect();
    // Host bits cleared, as IntelMQ's IPNetwork sanitiser clears them; the destination's prefix stays in the
    // carrier, beside the destination's own address.
    assert_eq!(values, ["2001:db8:1::5", "192.0.2.0/24"]);
    let indicator = mapped
        .standard
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap();
    assert_eq!(indicator["pattern"], "[ipv4-addr:value = '192.0.2.0/24']");
    let mut foreign = indicator.clone();
    foreign.as_object_mut().unwrap().remove("extensions");
    let Unmapped::Foreign(back) = unmap(foreign.to_string().as_bytes(), &[]).unwrap() else {
        panic!("the indicator did not unmap")
    };
    assert_eq!(back.payload()["source.network"], "192.0.2.0/24");
    assert!(back.payload().get("source.ip").is_none());
}

/// An event with ports but no address: STIX needs src_ref or dst_ref, so no network-traffic is made, and the
/// warning says what stays in the carrier only.
#[test]
fn ports_without_an_address_stay_in_the_carrier_with_a_warning() {
    let text = r#"{"meta": {"uuid": "port-1"}, "payload": {"source.fqdn": "bad.example.net", "destination.port": 8080, "protocol.transport": "tcp", "classification.type": "c2-server"}}"#;
    let envelope = Envelope::parse(text.as_bytes(), &rules()).unwrap();
    let mapped = map_envelope(&envelope, &Tables::embedded(), None);
    assert!(
        mapped
            .standard
            .iter()
            .all(|o| o["type"] != "network-traffic"),
        "{:#?}",
        mapped.standard
    );
    assert_eq!(mapped.warnings.len(), 1, "{:?}", mapped.warnings);
    assert!(mapped.warnings[0].contains("destination port 8080"));
    assert!(mapped.standard.iter().any(|o| o["type"] == "domain-name"));
}
