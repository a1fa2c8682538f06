//! The STIX mapping: golden output for every fixture, and envelope -> STIX -> envelope byte for byte.

use std::path::PathBuf;

use serde_json::Value;
use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape};
use stixgate::mapping::{Tables, Unmapped, map_envelope, unmap};
use stixgate::stix::ObjectHeader;

use crate::helpers::fixtures;

const NAMES: [&str; 3] = ["sinkhole", "misp-origin", "n6-blacklist"];
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
