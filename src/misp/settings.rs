//! `[misp]`: the MISP feeds, who made their events, how envelopes are grouped into events, and the feeds
//! with filters.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispSettings {
    /// The creating organisation (`Orgc`) of every event: MISP creates or matches it by its UUID.
    pub org_name: String,
    pub org_uuid: uuid::Uuid,
    /// Who the events may be shared with once in MISP.
    pub distribution: MispDistribution,
    /// How the feed of each collection groups envelopes into events.
    pub group_by: GroupBy,
    /// Feeds of part of a collection, each at `/misp/<name>/`.
    #[serde(default)]
    pub feeds: Vec<MispFeedSettings>,
}

/// MISP's distribution levels that need no sharing group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MispDistribution {
    Organisation,
    Community,
    Connected,
    All,
}

/// Which envelopes make one MISP event. Periods are UTC, of `time.source`, else `time.observation`, else of
/// when the envelope was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    /// One event per `feed.name` per day.
    FeedDay,
    /// One event per `feed.name` per hour, like IntelMQ's own MISP feed output.
    FeedHour,
    /// One event per day, whatever the feed.
    Day,
}

/// A feed of the envelopes of one collection that pass its filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispFeedSettings {
    /// Its URL segment: `/misp/<name>/manifest.json`. Not a collection's id or alias.
    pub name: String,
    /// The collection (id or alias); it is readable by whoever may read this collection.
    pub collection: String,
    /// Only envelopes whose `feed.name` is one of these; all when left out.
    pub feed_names: Option<Vec<String>>,
    /// Only envelopes whose `tlp` is this level or a more open one; envelopes without `tlp` are left out.
    pub tlp_ceiling: Option<TlpLevel>,
    /// `misp.group_by` when left out.
    pub group_by: Option<GroupBy>,
}

/// TLP levels from the most open to the most restricted; TLP 1.0's `white` is 2.0's `clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlpLevel {
    #[serde(alias = "white")]
    Clear,
    Green,
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    Red,
}

impl TlpLevel {
    /// IntelMQ's `tlp` value (`AMBER`, `TLP:AMBER+STRICT`, any case); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let level = text.trim().to_ascii_lowercase();
        match level.strip_prefix("tlp:").unwrap_or(&level) {
            "clear" | "white" => Some(Self::Clear),
            "green" => Some(Self::Green),
            "amber" => Some(Self::Amber),
            "amber+strict" => Some(Self::AmberStrict),
            "red" => Some(Self::Red),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_levels_read_intelmq_values_in_order() {
        assert_eq!(TlpLevel::parse("WHITE"), Some(TlpLevel::Clear));
        assert_eq!(
            TlpLevel::parse("tlp:Amber+Strict"),
            Some(TlpLevel::AmberStrict)
        );
        assert_eq!(TlpLevel::parse("purple"), None);
        assert!(TlpLevel::Green < TlpLevel::Amber && TlpLevel::AmberStrict < TlpLevel::Red);
    }
}
