//! MISP events from envelopes: the grouping rule, stable UUIDs, and the feed's event JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::attributes::{Attribute, attributes};
use super::tags::event_tags;
use crate::config::{MispDistribution, MispSettings};
use crate::mapping::Tables;
use crate::stix::Timestamp;

/// The namespace of the UUIDv5 of events (over `<collection id>\0<feed name>\0<day>`) and of attributes
/// (over `<event uuid>\0<envelope id>\0<type>\0<value>`): the same envelopes always give the same UUIDs, on
/// every instance, so MISP updates its copy instead of making a second one.
pub const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x36328190_1d3d_4f35_ab79_1af9f8bb59ee);

/// The feed name of events that carry none.
const UNNAMED_FEED: &str = "unnamed feed";

/// One stored envelope version, as far as the feed needs it.
pub struct FeedEnvelope {
    pub id: String,
    pub version: u32,
    /// When it was stored, in microseconds since the Unix epoch.
    pub received: u64,
    pub payload: Map<String, Value>,
}

/// One MISP event: the envelopes of one feed on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MispEvent {
    pub uuid: Uuid,
    pub info: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Seconds since the epoch: when the newest of its envelopes was stored. It moves only when an envelope
    /// joins the event, so MISP fetches the event again only when it changed.
    pub timestamp: u64,
    /// The union of its attributes' tags, sorted.
    pub tags: Vec<String>,
    pub attributes: Vec<EventAttribute>,
}

/// An attribute with what ties it to its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAttribute {
    pub uuid: Uuid,
    pub attribute: Attribute,
    pub envelope_id: String,
    pub timestamp: u64,
    pub tags: Vec<String>,
}

/// The events of a collection's envelopes (in the order they were stored; of several versions of one
/// envelope id, the latest counts), ordered by day and feed name.
pub fn build_events(
    collection: &str,
    envelopes: impl IntoIterator<Item = FeedEnvelope>,
    tables: &Tables,
) -> Vec<MispEvent> {
    let mut latest: BTreeMap<String, FeedEnvelope> = BTreeMap::new();
    for envelope in envelopes {
        let newer = latest
            .get(&envelope.id)
            .is_none_or(|kept| kept.version < envelope.version);
        if newer {
            latest.insert(envelope.id.clone(), envelope);
        }
    }
    let mut groups: BTreeMap<(String, String), Vec<FeedEnvelope>> = BTreeMap::new();
    for envelope in latest.into_values() {
        groups
            .entry(group_key(&envelope))
            .or_default()
            .push(envelope);
    }
    groups
        .into_iter()
        .map(|((day, feed), mut members)| {
            members.sort_by(|a, b| (a.received, &a.id).cmp(&(b.received, &b.id)));
            event(collection, &feed, day, &members, tables)
        })
        .collect()
}

/// The day (of `time.source`, else `time.observation`, else of storage) and feed name of an envelope.
fn group_key(envelope: &FeedEnvelope) -> (String, String) {
    let micros = ["time.source", "time.observation"]
        .iter()
        .filter_map(|key| envelope.payload.get(*key)?.as_str())
        .find_map(|text| Timestamp::parse_lenient(text).ok())
        .map_or(
            i64::try_from(envelope.received).unwrap_or(i64::MAX),
            Timestamp::micros,
        );
    let day = chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || "1970-01-01".to_owned(),
        |t| t.format("%Y-%m-%d").to_string(),
    );
    let feed = envelope
        .payload
        .get("feed.name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(UNNAMED_FEED);
    (day, feed.to_owned())
}

fn event(
    collection: &str,
    feed: &str,
    date: String,
    members: &[FeedEnvelope],
    tables: &Tables,
) -> MispEvent {
    let uuid = Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{collection}\0{feed}\0{date}").as_bytes(),
    );
    let mut all_tags = BTreeSet::new();
    let mut found = Vec::new();
    for envelope in members {
        let tags = event_tags(&envelope.payload);
        all_tags.extend(tags.iter().cloned());
        for attribute in attributes(&envelope.payload, tables) {
            let name = format!(
                "{uuid}\0{}\0{}\0{}",
                envelope.id, attribute.kind, attribute.value
            );
            found.push(EventAttribute {
                uuid: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
                attribute,
                envelope_id: envelope.id.clone(),
                timestamp: envelope.received / 1_000_000,
                tags: tags.clone(),
            });
        }
    }
    MispEvent {
        uuid,
        info: format!("IntelMQ feed {feed}: events of {date} (UTC)"),
        timestamp: members
            .iter()
            .map(|e| e.received / 1_000_000)
            .max()
            .unwrap_or(0),
        date,
        tags: all_tags.into_iter().collect(),
        attributes: found,
    }
}

/// Event files write numbers as strings (as PyMISP's `to_feed` does), the manifest as numbers (as its
/// `manifest` does).
const ANALYSIS_COMPLETED: u8 = 2;
const THREAT_LEVEL_UNDEFINED: u8 = 4;
const DISTRIBUTION_INHERIT_EVENT: &str = "5";

impl MispEvent {
    /// The event file, `{"Event": {...}}`.
    pub fn to_json(&self, settings: &MispSettings) -> Value {
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|a| {
                json!({
                    "uuid": a.uuid,
                    "type": a.attribute.kind,
                    "category": a.attribute.category,
                    "value": a.attribute.value,
                    "to_ids": a.attribute.to_ids,
                    "comment": format!("envelope {}", a.envelope_id),
                    "timestamp": a.timestamp.to_string(),
                    "distribution": DISTRIBUTION_INHERIT_EVENT,
                    "disable_correlation": false,
                    "Tag": tag_list(&a.tags),
                })
            })
            .collect();
        json!({"Event": {
            "uuid": self.uuid,
            "info": self.info,
            "date": self.date,
            "timestamp": self.timestamp.to_string(),
            "publish_timestamp": self.timestamp.to_string(),
            "published": true,
            "analysis": ANALYSIS_COMPLETED.to_string(),
            "threat_level_id": THREAT_LEVEL_UNDEFINED.to_string(),
            "distribution": distribution_level(settings.distribution),
            "Orgc": organisation(settings),
            "Tag": tag_list(&self.tags),
            "Attribute": attributes,
        }})
    }

    /// The event's entry in `manifest.json`, with the fields of PyMISP's `MISPEvent.manifest`.
    pub fn manifest_entry(&self, settings: &MispSettings) -> Value {
        json!({
            "Orgc": organisation(settings),
            "Tag": tag_list(&self.tags),
            "info": self.info,
            "date": self.date,
            "analysis": ANALYSIS_COMPLETED,
            "threat_level_id": THREAT_LEVEL_UNDEFINED,
            "timestamp": self.timestamp,
        })
    }
}

fn organisation(settings: &MispSettings) -> Value {
    json!({"name": settings.org_name, "uuid": settings.org_uuid})
}

/// Tags as PyMISP's feed export writes them: the colour is its default (MISP keeps the colour of a tag it
/// has), and the tags are global ones, which MISP may share on.
fn tag_list(tags: &[String]) -> Value {
    tags.iter()
        .map(|name| json!({"name": name, "colour": "#ffffff", "local": false, "relationship_type": ""}))
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
