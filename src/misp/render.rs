//! Feed JSON: each envelope's attributes and objects when it joins the feed, and the event files and
//! `manifest.json` entries from the stored records.

use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::attributes::{Attribute, IP_PORT_TEMPLATE, attributes};
use super::definition::{EVENT_NAMESPACE, FeedDefinition};
use super::settings::MispDistribution;
use super::tags::event_tags;
use super::view::{Member, Summary};
use crate::mapping::{Side, Tables};

/// Event files write numbers as strings (as PyMISP's `to_feed` does), the manifest as numbers (as its
/// `manifest` does).
const ANALYSIS_COMPLETED: u8 = 2;
const THREAT_LEVEL_UNDEFINED: u8 = 4;
const DISTRIBUTION_INHERIT_EVENT: &str = "5";

/// One stored envelope version of an IntelMQ event, as the feed reads it.
pub struct FeedEnvelope<'a> {
    pub id: &'a str,
    pub version: u32,
    /// When it was stored, in microseconds since the Unix epoch.
    pub received: u64,
    pub payload: &'a Map<String, Value>,
}

/// A feed attribute's JSON, its fields in the order MISP's feeds write them.
#[derive(Serialize)]
struct AttributeJson<'a> {
    uuid: Uuid,
    #[serde(rename = "type")]
    kind: &'a str,
    category: &'a str,
    value: &'a str,
    to_ids: bool,
    comment: &'a str,
    timestamp: &'a str,
    distribution: &'a str,
    disable_correlation: bool,
    #[serde(rename = "Tag")]
    tags: Vec<TagJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_relation: Option<&'a str>,
}

/// A feed object's JSON (an `ip-port`), with its attributes.
#[derive(Serialize)]
struct ObjectJson<'a> {
    name: &'a str,
    #[serde(rename = "meta-category")]
    meta_category: &'a str,
    description: &'a str,
    template_uuid: &'a str,
    template_version: String,
    uuid: Uuid,
    timestamp: &'a str,
    distribution: &'a str,
    comment: String,
    #[serde(rename = "Attribute")]
    attributes: Vec<Box<RawValue>>,
}

/// A tag as PyMISP's feed export writes it; see [`tag_list`].
#[derive(Serialize)]
struct TagJson<'a> {
    name: &'a str,
    colour: &'a str,
    local: bool,
    relationship_type: &'a str,
}

impl<'a> TagJson<'a> {
    fn new(name: &'a str) -> Self {
        Self {
            name,
            colour: "#ffffff",
            local: false,
            relationship_type: "",
        }
    }
}

/// An envelope's part of event `event`, and its `hashes.csv` lines (the MD5 of every attribute value, as
/// PyMISP's feed generator writes them; no type made here is composite, so one hash per value).
pub fn member(envelope: &FeedEnvelope, event: Uuid, tables: &Tables) -> (Member, String) {
    let tags = event_tags(envelope.payload, tables);
    let found = attributes(envelope.payload, tables);
    let timestamp = (envelope.received / 1_000_000).to_string();
    let comment = format!("envelope {}", envelope.id);
    let mut hashes = String::new();
    let mut attribute_json = |scope: Uuid, attribute: &Attribute, relation: Option<&str>| {
        let name = format!(
            "{scope}\0{}\0{}\0{}",
            envelope.id, attribute.kind, attribute.value
        );
        hashes.push_str(&format!("{},{event}\n", md5_hex(&attribute.value)));
        raw(&AttributeJson {
            uuid: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            kind: attribute.kind,
            category: attribute.category,
            value: &attribute.value,
            to_ids: attribute.to_ids,
            comment: &comment,
            timestamp: &timestamp,
            distribution: DISTRIBUTION_INHERIT_EVENT,
            disable_correlation: false,
            tags: tags.iter().map(|tag| TagJson::new(tag)).collect(),
            object_relation: relation,
        })
    };
    let loose: Vec<Box<RawValue>> = found
        .attributes
        .iter()
        .map(|a| attribute_json(event, a, None))
        .collect();
    let objects: Vec<Box<RawValue>> = found
        .objects
        .iter()
        .map(|object| {
            let side = match object.side {
                Side::Src => "source",
                Side::Dst => "destination",
            };
            let uuid = Uuid::new_v5(
                &EVENT_NAMESPACE,
                format!("{event}\0{}\0ip-port\0{side}", envelope.id).as_bytes(),
            );
            let members = object
                .attributes
                .iter()
                .map(|(relation, a)| attribute_json(uuid, a, Some(relation)))
                .collect();
            raw(&ObjectJson {
                name: "ip-port",
                meta_category: "network",
                description: "An IP address (or domain or hostname) and a port seen as a tuple (or as a triple) in a specific time frame.",
                template_uuid: IP_PORT_TEMPLATE.0,
                template_version: IP_PORT_TEMPLATE.1.to_string(),
                uuid,
                timestamp: &timestamp,
                distribution: DISTRIBUTION_INHERIT_EVENT,
                comment: format!("{side} of {comment}"),
                attributes: members,
            })
        })
        .collect();
    let member = Member {
        envelope: envelope.id.to_owned(),
        version: envelope.version,
        tags,
        attributes: loose,
        objects,
    };
    (member, hashes)
}

/// The event file, `{"Event": {...}}`, of an event and its members.
pub fn event_file(
    definition: &FeedDefinition,
    event: Uuid,
    summary: &Summary,
    members: impl IntoIterator<Item = Member>,
) -> Value {
    let (mut attributes, mut objects) = (Vec::new(), Vec::new());
    for member in members {
        attributes.extend(member.attributes);
        objects.extend(member.objects);
    }
    let timestamp = summary.timestamp.to_string();
    json!({"Event": {
        "uuid": event,
        "info": summary.info,
        "date": summary.date,
        "timestamp": timestamp,
        "publish_timestamp": timestamp,
        "published": true,
        "analysis": ANALYSIS_COMPLETED.to_string(),
        "threat_level_id": THREAT_LEVEL_UNDEFINED.to_string(),
        "distribution": distribution_level(definition.distribution),
        "Orgc": organisation(definition),
        "Tag": tag_list(summary.tags.keys()),
        "Attribute": attributes,
        "Object": objects,
    }})
}

/// The event's entry in `manifest.json`, with the fields of PyMISP's `MISPEvent.manifest`.
pub fn manifest_entry(definition: &FeedDefinition, summary: &Summary) -> Value {
    json!({
        "Orgc": organisation(definition),
        "Tag": tag_list(summary.tags.keys()),
        "info": summary.info,
        "date": summary.date,
        "analysis": ANALYSIS_COMPLETED,
        "threat_level_id": THREAT_LEVEL_UNDEFINED,
        "timestamp": summary.timestamp,
    })
}

fn organisation(definition: &FeedDefinition) -> Value {
    json!({"name": definition.org_name, "uuid": definition.org_uuid})
}

/// Tags as PyMISP's feed export writes them: the colour is its default (MISP keeps the colour of a tag it
/// has), and the tags are global ones, which MISP may share on.
fn tag_list<'a>(tags: impl Iterator<Item = &'a String>) -> Value {
    json!(tags.map(|name| TagJson::new(name)).collect::<Vec<_>>())
}

/// The JSON text of a feed record part.
fn raw(part: &impl Serialize) -> Box<RawValue> {
    to_raw_value(part).expect("feed JSON has string keys and serializes")
}

fn distribution_level(distribution: MispDistribution) -> &'static str {
    match distribution {
        MispDistribution::Organisation => "0",
        MispDistribution::Community => "1",
        MispDistribution::Connected => "2",
        MispDistribution::All => "3",
    }
}

fn md5_hex(value: &str) -> String {
    Md5::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON an attribute had when it was built as a `Value` (fields in insertion order): the stored records
    /// and the event files must keep these bytes.
    fn value_attribute(
        uuid: Uuid,
        attribute: &Attribute,
        tags: &[String],
        relation: Option<&str>,
    ) -> Value {
        let mut json = json!({
            "uuid": uuid,
            "type": attribute.kind,
            "category": attribute.category,
            "value": attribute.value,
            "to_ids": attribute.to_ids,
            "comment": "envelope e-1",
            "timestamp": "1700000000",
            "distribution": DISTRIBUTION_INHERIT_EVENT,
            "disable_correlation": false,
            "Tag": tag_list(tags.iter()),
        });
        if let Some(relation) = relation {
            json["object_relation"] = json!(relation);
        }
        json
    }

    #[test]
    fn attributes_and_objects_are_written_as_their_value_trees_were() {
        let tables = Tables::embedded();
        let payload = json!({"source.ip": "192.0.2.1", "source.port": 443, "destination.ip": "198.51.100.2",
            "classification.type": "c2-server", "tlp": "AMBER", "feed.name": "n6"});
        let payload = payload.as_object().expect("an object");
        let joining = FeedEnvelope {
            id: "e-1",
            version: 0,
            received: 1_700_000_000_000_000,
            payload,
        };
        let event = Uuid::from_u128(1);
        let (member, _) = member(&joining, event, &tables);
        let found = attributes(payload, &tables);
        let name = |scope: Uuid, a: &Attribute| {
            Uuid::new_v5(
                &EVENT_NAMESPACE,
                format!("{scope}\0e-1\0{}\0{}", a.kind, a.value).as_bytes(),
            )
        };
        let loose: Vec<String> = found
            .attributes
            .iter()
            .map(|a| value_attribute(name(event, a), a, &member.tags, None).to_string())
            .collect();
        let written: Vec<&str> = member.attributes.iter().map(|a| a.get()).collect();
        assert_eq!(written, loose);
        assert_eq!(found.objects.len(), 1, "the source side has a port");
        let object = &found.objects[0];
        let uuid = Uuid::new_v5(
            &EVENT_NAMESPACE,
            format!("{event}\0e-1\0ip-port\0source").as_bytes(),
        );
        let expected = json!({
            "name": "ip-port",
            "meta-category": "network",
            "description": "An IP address (or domain or hostname) and a port seen as a tuple (or as a triple) in a specific time frame.",
            "template_uuid": IP_PORT_TEMPLATE.0,
            "template_version": IP_PORT_TEMPLATE.1.to_string(),
            "uuid": uuid,
            "timestamp": "1700000000",
            "distribution": DISTRIBUTION_INHERIT_EVENT,
            "comment": "source of envelope e-1",
            "Attribute": object.attributes.iter()
                .map(|(relation, a)| value_attribute(name(uuid, a), a, &member.tags, Some(relation)))
                .collect::<Vec<_>>(),
        });
        assert_eq!(member.objects.len(), 1);
        assert_eq!(member.objects[0].get(), expected.to_string());
    }
}
