//! Which envelopes a feed serves and how it groups them into events.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::settings::{GroupBy, MispDistribution, MispFeedSettings, MispSettings, TlpLevel};
use crate::mapping::{Tables, observed_time};
use crate::stix::Timestamp;
use crate::store::CollectionNames;

/// The namespace of the UUIDv5 of events (over `<collection id or feed name>\0<feed.name>\0<period>`) and of
/// attributes and objects: the same envelopes always give the same UUIDs, on every instance, so MISP updates
/// its copy instead of making a second one.
pub const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x36328190_1d3d_4f35_ab79_1af9f8bb59ee);

/// The feed name of events that carry none.
const UNNAMED_FEED: &str = "unnamed feed";

/// One MISP feed: a collection's own (served under its id and alias), or a configured one with filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDefinition {
    /// Where its state lives in the store's views, unique among feeds.
    pub view_id: String,
    /// What its event UUIDs are made from: the collection id, or the configured feed's name.
    seed: String,
    pub collection: String,
    feed_names: Option<Vec<String>>,
    tlp_ceiling: Option<TlpLevel>,
    group_by: GroupBy,
    pub org_name: String,
    pub org_uuid: Uuid,
    pub distribution: MispDistribution,
}

/// The event an envelope belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub event: Uuid,
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub info: String,
}

impl FeedDefinition {
    /// Every feed: one per collection, then the configured ones.
    pub fn all(misp: &MispSettings, collections: &CollectionNames) -> Vec<Self> {
        let mut feeds: Vec<Self> = collections
            .ids()
            .map(|id| Self::new(misp, format!("c\0{id}"), id.to_owned(), id, None))
            .collect();
        feeds.extend(misp.feeds.iter().map(|feed| {
            let collection = collections
                .id_of(&feed.collection)
                .expect("misp.feeds collections are checked when the settings are loaded");
            Self::new(
                misp,
                format!("f\0{}", feed.name),
                feed.name.clone(),
                collection,
                Some(feed),
            )
        }));
        feeds
    }

    fn new(
        misp: &MispSettings,
        view_id: String,
        seed: String,
        collection: &str,
        filters: Option<&MispFeedSettings>,
    ) -> Self {
        Self {
            view_id,
            seed,
            collection: collection.to_owned(),
            feed_names: filters.and_then(|f| f.feed_names.clone()),
            tlp_ceiling: filters.and_then(|f| f.tlp_ceiling),
            group_by: filters.and_then(|f| f.group_by).unwrap_or(misp.group_by),
            org_name: misp.org_name.clone(),
            org_uuid: misp.org_uuid,
            distribution: misp.distribution,
        }
    }

    /// A digest of everything that shapes the feed's files. When it changes, the stored state was made by
    /// another definition and is made again.
    pub fn fingerprint(&self, tables: &Tables) -> String {
        // Bump when the records or the rendering change meaning.
        const FORMAT: u32 = 2;
        let digest = Sha256::digest(format!("{FORMAT}\0{self:?}\0{tables:?}").as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether an IntelMQ event passes the feed's filters.
    pub fn admits(&self, payload: &Map<String, Value>) -> bool {
        let names_ok = self
            .feed_names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| Some(n.as_str()) == feed_name(payload)));
        let tlp_ok = self.tlp_ceiling.is_none_or(|ceiling| {
            payload
                .get("tlp")
                .and_then(Value::as_str)
                .and_then(TlpLevel::parse)
                .is_some_and(|level| level <= ceiling)
        });
        names_ok && tlp_ok
    }

    /// The event of an IntelMQ event stored at `received` (microseconds since the epoch): by the period of
    /// `time.source`, else `time.observation`, else `received`, and by feed name unless grouped by day only.
    pub fn group(&self, payload: &Map<String, Value>, received: u64) -> Group {
        let micros = observed_time(payload).map_or(
            i64::try_from(received).unwrap_or(i64::MAX),
            Timestamp::micros,
        );
        let time = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
        let date = time.format("%Y-%m-%d").to_string();
        let feed = feed_name(payload).unwrap_or(UNNAMED_FEED);
        let (feed, period, info) = match self.group_by {
            GroupBy::FeedDay => (
                feed,
                date.clone(),
                format!("IntelMQ feed {feed}: events of {date} (UTC)"),
            ),
            GroupBy::FeedHour => {
                let hour = time.format("%H").to_string();
                (
                    feed,
                    format!("{date}T{hour}"),
                    format!("IntelMQ feed {feed}: events of {date} {hour}:00 to {hour}:59 (UTC)"),
                )
            }
            GroupBy::Day => ("", date.clone(), format!("IntelMQ events of {date} (UTC)")),
        };
        let name = format!("{}\0{feed}\0{period}", self.seed);
        Group {
            event: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            date,
            info,
        }
    }
}

fn feed_name(payload: &Map<String, Value>) -> Option<&str> {
    payload
        .get("feed.name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The feeds of the one collection `intelmq`, with `misp` added to the default `[misp]` table.
    fn feeds(misp: &str) -> Vec<FeedDefinition> {
        let text = format!(
            "org_name = \"stixgate\"\norg_uuid = \"3c5b2d57-6f0e-4a8b-9d41-8e2f7a1c6b90\"\n\
             distribution = \"organisation\"\ngroup_by = \"feed-day\"\n{misp}"
        );
        let settings: MispSettings = toml::from_str(&text).expect("valid settings");
        let collections = CollectionNames::new([(
            "6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c".to_owned(),
            Some("intelmq".to_owned()),
        )]);
        FeedDefinition::all(&settings, &collections)
    }

    #[test]
    fn a_collection_feed_groups_by_feed_and_day_with_stable_uuids() {
        let feeds = feeds("");
        let payload = json!({"feed.name": "n6", "time.source": "2024-07-12T23:59:00+00:00"});
        let group = feeds[0].group(payload.as_object().unwrap(), 0);
        assert_eq!(group.date, "2024-07-12");
        let name = format!("{}\0n6\02024-07-12", feeds[0].collection);
        assert_eq!(group.event, Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()));
    }

    #[test]
    fn configured_filters_admit_by_feed_name_and_tlp_ceiling() {
        let feeds = feeds(
            "[[feeds]]\nname = \"green\"\ncollection = \"intelmq\"\nfeed_names = [\"n6\"]\ntlp_ceiling = \"green\"\ngroup_by = \"day\"\n",
        );
        let green = feeds.last().unwrap();
        let admits = |payload: Value| green.admits(payload.as_object().unwrap());
        assert!(admits(json!({"feed.name": "n6", "tlp": "WHITE"})));
        assert!(admits(json!({"feed.name": "n6", "tlp": "tlp:green"})));
        assert!(!admits(json!({"feed.name": "n6", "tlp": "AMBER"})));
        assert!(!admits(json!({"feed.name": "n6"})));
        assert!(!admits(json!({"feed.name": "other", "tlp": "GREEN"})));
        let one = green.group(
            json!({"feed.name": "a", "time.source": "2024-07-12T01:00:00Z"})
                .as_object()
                .unwrap(),
            0,
        );
        let two = green.group(
            json!({"feed.name": "b", "time.source": "2024-07-12T22:00:00Z"})
                .as_object()
                .unwrap(),
            0,
        );
        assert_eq!(one, two, "grouped by day only");
    }
}
