//! The IntelMQ event that an envelope of format `intelmq` carries: its key grammar, its field list (IntelMQ's
//! harmonization), its hierarchical form, and which values IntelMQ accepts. Pure: no I/O.
//!
//! This is part of the envelope model, not of the `intelmq` integration room, because intake checks it before
//! anything is stored, and the integration (delivery, feeds, pushes, the TCP intake) sits above intake.

mod fields;
mod hierarchy;
pub mod validate;

use serde_json::{Map, Value};

use super::sorted_json::{self, Style};
pub use fields::{FieldList, FieldSpec, FieldsError};
pub use hierarchy::{
    FLAT_GROWTH, FLAT_SLACK, TooLarge, flat_budget, flat_size_within, flatten_within,
};

/// The `format` of envelopes whose payload is an IntelMQ event or report.
pub const FORMAT: &str = "intelmq";

/// Whether a bare message holds a field of IntelMQ 3.5's events or reports; every `extra.` key counts.
pub fn has_field(message: &Map<String, Value>) -> bool {
    let fields = FieldList::shared_35();
    message
        .keys()
        .any(|key| fields.accepts(key, false) || fields.accepts(key, true))
}

/// `^[a-z_][a-z_0-9]+(\.[a-z_0-9]+)*$`, IntelMQ's grammar for message keys.
pub fn is_valid_key(key: &str) -> bool {
    let word = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
    let mut segments = key.split('.');
    let first = segments.next().unwrap_or_default().as_bytes();
    first.len() >= 2
        && (first[0].is_ascii_lowercase() || first[0] == b'_')
        && first.iter().all(|&c| word(c))
        && segments.all(|s| !s.is_empty() && s.bytes().all(word))
}

/// One line as IntelMQ's file output writes it (`json.dumps(..., ensure_ascii=False, sort_keys=True)`):
/// keys sorted, Python's separators, no `__type` unless `with_type` is set.
pub fn file_output_line(
    payload: &Map<String, Value>,
    kind: Option<&str>,
    with_type: bool,
) -> String {
    let mut event = payload.clone();
    event.shift_remove("__type");
    if with_type {
        let name = if kind == Some("report") {
            "Report"
        } else {
            "Event"
        };
        event.insert("__type".to_owned(), Value::String(name.to_owned()));
    }
    let mut line = String::new();
    sorted_json::write(&Value::Object(event), Style::Python, &mut line);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar_matches_intelmq() {
        for good in [
            "source.ip",
            "extra.a_b.c1",
            "__type",
            "raw",
            "ab",
            "a_",
            "extra.0",
        ] {
            assert!(is_valid_key(good), "{good}");
        }
        for bad in [
            "a",
            "Source.ip",
            "source..ip",
            "source.",
            ".x",
            "source-ip",
            "1ab",
            "extra.A",
            "",
        ] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn file_output_sorts_keys_and_uses_pythons_separators() {
        let payload: Map<String, Value> = serde_json::from_str(
            r#"{"raw": "eA==", "__type": "Event", "extra.n": {"z": 1, "a": [1.0, "ä"]}, "feed.accuracy": 100.0}"#,
        )
        .unwrap();
        assert_eq!(
            file_output_line(&payload, Some("event"), false),
            r#"{"extra.n": {"a": [1.0, "ä"], "z": 1}, "feed.accuracy": 100.0, "raw": "eA=="}"#
        );
        assert_eq!(
            file_output_line(&payload, Some("event"), true),
            r#"{"__type": "Event", "extra.n": {"a": [1.0, "ä"], "z": 1}, "feed.accuracy": 100.0, "raw": "eA=="}"#
        );
    }
}
