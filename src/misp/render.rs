//! Feed JSON: each envelope's attributes and objects when it joins the feed, and the event files and
//! `manifest.json` entries from the stored records.

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::attributes::{Attribute, IP_PORT_TEMPLATE, attributes};
use super::definition::{EVENT_NAMESPACE, FeedDefinition};
use super::tags::event_tags;
use super::view::{Member, Summary};
use crate::config::MispDistribution;
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
        let mut json = json!({
            "uuid": Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            "type": attribute.kind,
            "category": attribute.category,
            "value": attribute.value,
            "to_ids": attribute.to_ids,
            "comment": comment,
            "timestamp": timestamp,
            "distribution": DISTRIBUTION_INHERIT_EVENT,
            "disable_correlation": false,
            "Tag": tag_list(tags.iter()),
        });
        if let Some(relation) = relation {
            json["object_relation"] = json!(relation);
        }
        json
    };
    let loose: Vec<Value> = found
        .attributes
        .iter()
        .map(|a| attribute_json(event, a, None))
        .collect();
    let objects: Vec<Value> = found
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
            let members: Vec<Value> = object
                .attributes
                .iter()
                .map(|(relation, a)| attribute_json(uuid, a, Some(relation)))
                .collect();
            json!({
                "name": "ip-port",
                "meta-category": "network",
                "description": "An IP address (or domain or hostname) and a port seen as a tuple (or as a triple) in a specific time frame.",
                "template_uuid": IP_PORT_TEMPLATE.0,
                "template_version": IP_PORT_TEMPLATE.1.to_string(),
                "uuid": uuid,
                "timestamp": timestamp,
                "distribution": DISTRIBUTION_INHERIT_EVENT,
                "comment": format!("{side} of {comment}"),
                "Attribute": members,
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
    tags.map(
        |name| json!({"name": name, "colour": "#ffffff", "local": false, "relationship_type": ""}),
    )
    .collect()
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
