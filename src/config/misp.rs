//! `[misp]`: the MISP feeds, who made their events, how envelopes are grouped into events, and the feeds
//! with filters.

use serde::Deserialize;

use super::{ConfigError, Settings, is_url_segment};

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

impl Settings {
    pub(super) fn validate_misp(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let mut names = std::collections::HashSet::new();
        for feed in &self.misp.feeds {
            if !is_url_segment(&feed.name) {
                return invalid(format!(
                    "misp.feeds name {:?} must be one URL segment of [A-Za-z0-9._~-]",
                    feed.name
                ));
            }
            if !names.insert(feed.name.as_str()) {
                return invalid(format!("misp.feeds name {:?} is used twice", feed.name));
            }
            if self.collection(&feed.name).is_some() {
                return invalid(format!(
                    "misp.feeds name {:?} is a collection's id or alias, whose feed is served there already",
                    feed.name
                ));
            }
            if self.collection(&feed.collection).is_none() {
                return invalid(format!(
                    "misp.feeds {:?}: collection {:?} names no collection (by id or alias)",
                    feed.name, feed.collection
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// figment's Jail returns figment's large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use std::path::Path;

    #[test]
    fn a_feed_may_take_neither_a_collections_name_nor_an_unknown_collection() {
        Jail::expect_with(|jail| {
            let feed = |name: &str, collection: &str| {
                format!("[[misp.feeds]]\nname = \"{name}\"\ncollection = \"{collection}\"\n")
            };
            for (text, named) in [
                (feed("intelmq", "intelmq"), "is a collection's id or alias"),
                (
                    feed("green", "nope"),
                    "collection \"nope\" names no collection",
                ),
                (feed("a/b", "intelmq"), "must be one URL segment"),
                (
                    feed("x", "intelmq") + &feed("x", "intelmq"),
                    "is used twice",
                ),
            ] {
                jail.create_file("c.toml", &text)?;
                let error = Settings::load(Some(Path::new("c.toml"))).unwrap_err();
                assert!(error.to_string().contains(named), "{error}");
            }
            jail.create_file("c.toml", &feed("green", "intelmq"))?;
            assert!(Settings::load(Some(Path::new("c.toml"))).is_ok());
            Ok(())
        });
    }

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
