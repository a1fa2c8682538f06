//! The tags of one IntelMQ event: its TLP, and its classification in the RSIT taxonomy's machine tags.

use serde_json::{Map, Value};

/// `tlp:<level>` from IntelMQ's `tlp` (MISP's tlp taxonomy is lowercase), and
/// `rsit:<taxonomy>="<type>"` from `classification.taxonomy` and `classification.type`.
pub fn event_tags(payload: &Map<String, Value>) -> Vec<String> {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::trim);
    let mut tags = Vec::new();
    if let Some(tlp) = text("tlp").filter(|t| !t.is_empty()) {
        let level = tlp.to_ascii_lowercase();
        let level = level.strip_prefix("tlp:").unwrap_or(&level);
        tags.push(format!("tlp:{level}"));
    }
    if let (Some(taxonomy), Some(kind)) =
        (text("classification.taxonomy"), text("classification.type"))
    {
        tags.push(format!("rsit:{taxonomy}=\"{kind}\""));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tlp_is_lowercased_and_the_classification_becomes_an_rsit_tag() {
        let payload = json!({"tlp": "AMBER+STRICT", "classification.taxonomy": "malicious-code",
                             "classification.type": "c2-server"});
        let tags = event_tags(payload.as_object().unwrap());
        assert_eq!(
            tags,
            ["tlp:amber+strict", "rsit:malicious-code=\"c2-server\""]
        );
    }
}
