//! TAXII object checks (`src/stix/`, `NewObject::received`): what Add Objects does with each object of a
//! posted envelope before anything is stored.
//!
//! Properties: the check is deterministic; an accepted object keeps its exact text; its id is its `id`
//! member, a valid STIX id whose type is its `type`; its version is its `modified`, else its `created`, both
//! STIX timestamps, `modified` not before `created`; `spec_version` is "2.1" (absent only for objects that
//! carry neither time); the version's instant reads back the same from the TAXII form it is served in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use stixgate::stix::{StixId, Timestamp};
use stixgate::store::NewObject;

/// A TAXII envelope as Add Objects reads it: only `objects`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

fuzz_target!(|body: &[u8]| {
    let texts: Vec<&[u8]> = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => envelope
            .objects
            .unwrap_or_default()
            .into_iter()
            .map(|raw| raw.get().as_bytes())
            .collect(),
        // An object alone, so that the corpus need not wrap each one.
        Err(_) => vec![body],
    };
    for text in texts {
        check_object(text);
    }
});

fn check_object(text: &[u8]) {
    let checked = NewObject::received(text.to_vec());
    assert_eq!(
        checked,
        NewObject::received(text.to_vec()),
        "the check is not deterministic"
    );
    let Ok(object) = checked else {
        return;
    };
    assert_eq!(object.text, text, "an object is not kept verbatim");
    let members: Value = serde_json::from_slice(text).expect("an accepted object is JSON");
    assert_eq!(
        members["id"].as_str(),
        Some(object.id.as_str()),
        "the id is not the `id` member"
    );
    let id = StixId::parse(&object.id).expect("an accepted id is a STIX id");
    assert_eq!(
        members["type"].as_str(),
        Some(id.object_type()),
        "`type` is not the id's"
    );
    let created = members["created"].as_str();
    let modified = members["modified"].as_str();
    match members.get("spec_version") {
        Some(version) => assert_eq!(version, "2.1"),
        None => assert!(
            created.is_none() && modified.is_none(),
            "2.0 object accepted"
        ),
    }
    let times: Vec<Timestamp> = [created, modified]
        .into_iter()
        .flatten()
        .map(|t| Timestamp::parse_stix(t).expect("accepted times are STIX timestamps"))
        .collect();
    if let [created, modified] = times[..] {
        assert!(modified >= created, "`modified` before `created`");
    }
    match modified.or(created) {
        Some(version) => {
            assert_eq!(
                object.version_text, version,
                "the version is not modified/created"
            );
            let instant = Timestamp::from_micros(object.version);
            assert_eq!(
                Timestamp::parse_lenient(&instant.to_taxii()),
                Ok(instant),
                "{version:?} does not read back from {:?}",
                instant.to_taxii()
            );
        }
        None => assert_eq!((object.version, object.version_text.as_str()), (0, "")),
    }
}
