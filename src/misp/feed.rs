//! The feed's index files: `manifest.json` and `hashes.csv`.

use super::event::MispEvent;
use crate::config::MispSettings;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

/// `manifest.json`: each event's UUID to its manifest entry.
pub fn manifest(events: &[MispEvent], settings: &MispSettings) -> Value {
    let entries: Map<String, Value> = events
        .iter()
        .map(|event| (event.uuid.to_string(), event.manifest_entry(settings)))
        .collect();
    Value::Object(entries)
}

/// `hashes.csv`: one `<md5 of the value>,<event uuid>` line per attribute, as PyMISP's feed generator
/// writes it (its `hash_values('md5')`; none of the types made here is composite, so one hash per value).
/// MISP looks values up in it to correlate without fetching the events.
pub fn hashes_csv(events: &[MispEvent]) -> String {
    let mut csv = String::new();
    for event in events {
        for attribute in &event.attributes {
            let digest: String = Md5::digest(attribute.attribute.value.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            csv.push_str(&format!("{digest},{}\n", event.uuid));
        }
    }
    csv
}
