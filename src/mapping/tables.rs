//! The mapping tables of `mappings/intelmq-stix.toml`: loaded, checked, and looked up by the mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::stix::StixId;

/// The tables stixgate ships, embedded at build time.
pub const DEFAULT_TABLES: &str = include_str!("../../mappings/intelmq-stix.toml");
const FILE_NAME: &str = "intelmq-stix.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ip,
    Network,
    Domain,
    Url,
    Email,
    Asn,
    Port,
    Transport,
    Hash,
    Malware,
    Cve,
    Country,
    Provider,
    Tlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Src,
    Dst,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    pub kind: Kind,
    pub side: Option<Side>,
    /// For `hash`: the STIX hash algorithm name.
    pub algorithm: Option<String>,
}

/// The observables an indicator pattern can be made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternSource {
    Url,
    Domain,
    Ip,
    Hash,
    Email,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorRule {
    pub indicator_types: Vec<String>,
    pub pattern_from: Vec<PatternSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tables {
    pub fields: BTreeMap<String, FieldRule>,
    pub indicators: BTreeMap<String, IndicatorRule>,
    pub tlp: BTreeMap<String, String>,
    /// The RSIT taxonomy: each `classification.taxonomy` with the `classification.type` values it has.
    #[serde(default)]
    pub rsit: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("mapping table {source_name}: {message}")]
pub struct TablesError {
    pub source_name: String,
    pub message: String,
}

/// STIX 2.1 §10.8's indicator-type-ov.
const INDICATOR_TYPES: [&str; 7] = [
    "anomalous-activity",
    "anonymization",
    "benign",
    "compromised",
    "malicious-activity",
    "attribution",
    "unknown",
];
const HASH_ALGORITHMS: [&str; 4] = ["MD5", "SHA-1", "SHA-256", "SHA-512"];

impl Tables {
    /// The embedded tables.
    pub fn embedded() -> Self {
        Self::parse(DEFAULT_TABLES, "(embedded)")
            .expect("the shipped tables are valid; a unit test checks them")
    }

    /// The tables from `dir/intelmq-stix.toml`.
    pub fn load(dir: &Path) -> Result<Self, TablesError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| TablesError {
            source_name: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Self, TablesError> {
        let error = |message: String| TablesError {
            source_name: source_name.to_owned(),
            message,
        };
        let tables: Tables = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        for (field, rule) in &tables.fields {
            if !crate::envelope::intelmq::is_valid_key(field) {
                return Err(error(format!(
                    "[fields] {field:?} is not an IntelMQ field name"
                )));
            }
            let needs_side = matches!(
                rule.kind,
                Kind::Ip | Kind::Network | Kind::Port | Kind::Asn | Kind::Country
            );
            if needs_side && rule.side.is_none() {
                return Err(error(format!(
                    "[fields] {field:?}: kind {:?} needs side = \"src\" or \"dst\"",
                    rule.kind
                )));
            }
            match (&rule.kind, &rule.algorithm) {
                (Kind::Hash, Some(a)) if HASH_ALGORITHMS.contains(&a.as_str()) => {}
                (Kind::Hash, other) => {
                    return Err(error(format!(
                        "[fields] {field:?}: kind hash needs algorithm = one of {HASH_ALGORITHMS:?}, not {other:?}"
                    )));
                }
                (_, Some(_)) => {
                    return Err(error(format!(
                        "[fields] {field:?}: only kind hash takes an algorithm"
                    )));
                }
                (_, None) => {}
            }
        }
        for (classification, rule) in &tables.indicators {
            if let Some(bad) = rule
                .indicator_types
                .iter()
                .find(|t| !INDICATOR_TYPES.contains(&t.as_str()))
            {
                return Err(error(format!(
                    "[indicators] {classification:?}: {bad:?} is not one of STIX's indicator types {INDICATOR_TYPES:?}"
                )));
            }
            if rule.indicator_types.is_empty() || rule.pattern_from.is_empty() {
                return Err(error(format!(
                    "[indicators] {classification:?}: indicator_types and pattern_from must not be empty"
                )));
            }
        }
        for (level, id) in &tables.tlp {
            let valid = StixId::parse(id).is_ok_and(|id| id.object_type() == "marking-definition");
            if !valid {
                return Err(error(format!(
                    "[tlp] {level:?}: {id:?} is not a marking-definition id"
                )));
            }
        }
        Ok(tables)
    }

    /// The marking-definition of an IntelMQ `tlp` value (case and a `TLP:` prefix do not matter).
    pub fn marking(&self, tlp: &str) -> Option<&str> {
        let level = tlp.trim().to_ascii_uppercase();
        let level = level.strip_prefix("TLP:").unwrap_or(&level);
        self.tlp.get(level).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tables_are_valid() {
        let tables = Tables::embedded();
        assert_eq!(tables.fields["source.ip"].kind, Kind::Ip);
        assert_eq!(
            tables.marking("tlp:amber"),
            Some("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                "[fields]\n\"Source.IP\" = { kind = \"ip\", side = \"src\" }\n[indicators]\n[tlp]\n",
                "not an IntelMQ field name",
            ),
            (
                "[fields]\n\"source.ip\" = { kind = \"ip\" }\n[indicators]\n[tlp]\n",
                "needs side",
            ),
            (
                "[fields]\n\"malware.hash.md5\" = { kind = \"hash\", algorithm = \"MD6\" }\n[indicators]\n[tlp]\n",
                "needs algorithm",
            ),
            (
                "[fields]\n\"source.ip\" = { kind = \"ipaddress\", side = \"src\" }\n[indicators]\n[tlp]\n",
                "unknown variant",
            ),
            (
                "[fields]\n[indicators]\n\"scanner\" = { indicator_types = [\"evil\"], pattern_from = [\"ip\"] }\n[tlp]\n",
                "\"evil\" is not one of",
            ),
            (
                "[fields]\n[indicators]\n[tlp]\nWHITE = \"identity--613f2e26-407d-48c7-9eca-b8e91df99dc9\"\n",
                "not a marking-definition id",
            ),
        ];
        for (text, expected) in cases {
            let error = Tables::parse(text, "t.toml").unwrap_err().to_string();
            assert!(
                error.contains(expected) && error.starts_with("mapping table t.toml"),
                "{error}"
            );
        }
    }
}
