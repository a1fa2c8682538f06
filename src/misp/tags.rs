//! The tags of one IntelMQ event: its TLP, and its classification, in the RSIT taxonomy where RSIT has it.

use serde_json::{Map, Value};

use crate::mapping::Tables;

/// `tlp:<level>` from IntelMQ's `tlp` (MISP's tlp taxonomy is lowercase), and the classification:
/// `rsit:<taxonomy>="<type>"` for a pair of the tables' `[rsit]`; else `rsit:<taxonomy>` (a predicate alone is
/// a valid RSIT tag) or `intelmq:taxonomy="<taxonomy>"`, and `intelmq:type="<type>"`, so that no
/// classification is lost and none is passed off as RSIT.
pub fn event_tags(payload: &Map<String, Value>, tables: &Tables) -> Vec<String> {
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let mut tags = Vec::new();
    if let Some(tlp) = text("tlp") {
        let level = tlp.to_ascii_lowercase();
        let level = level.strip_prefix("tlp:").unwrap_or(&level);
        tags.push(format!("tlp:{level}"));
    }
    let (taxonomy, kind) = (text("classification.taxonomy"), text("classification.type"));
    let rsit_types = taxonomy.and_then(|t| tables.rsit.get(t));
    match (taxonomy, kind) {
        (Some(taxonomy), Some(kind)) if rsit_types.is_some_and(|types| types.contains(kind)) => {
            tags.push(format!("rsit:{taxonomy}=\"{kind}\""));
        }
        _ => {
            if let Some(taxonomy) = taxonomy {
                tags.push(match rsit_types {
                    Some(_) => format!("rsit:{taxonomy}"),
                    None => format!("intelmq:taxonomy=\"{taxonomy}\""),
                });
            }
            if let Some(kind) = kind {
                tags.push(format!("intelmq:type=\"{kind}\""));
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags(payload: Value) -> Vec<String> {
        event_tags(payload.as_object().unwrap(), &Tables::embedded())
    }

    #[test]
    fn tlp_is_lowercased_and_an_rsit_classification_becomes_an_rsit_tag() {
        let found = tags(
            json!({"tlp": "AMBER+STRICT", "classification.taxonomy": "malicious-code",
                                "classification.type": "c2-server"}),
        );
        assert_eq!(
            found,
            ["tlp:amber+strict", "rsit:malicious-code=\"c2-server\""]
        );
    }

    #[test]
    fn types_rsit_lacks_keep_the_rsit_predicate_and_an_intelmq_type() {
        let found =
            tags(json!({"classification.taxonomy": "other", "classification.type": "blacklist"}));
        assert_eq!(found, ["rsit:other", "intelmq:type=\"blacklist\""]);
        let found = tags(json!({"classification.taxonomy": "made-up", "classification.type": "x"}));
        assert_eq!(
            found,
            ["intelmq:taxonomy=\"made-up\"", "intelmq:type=\"x\""]
        );
    }
}
