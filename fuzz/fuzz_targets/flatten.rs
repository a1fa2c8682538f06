//! Bare-event flattening (`src/intelmq/hierarchy.rs`): IntelMQ's hierarchical form back to flat keys, as
//! `POST /intelmq/events` and the `[intelmq.tcp]` intake do for every event they take.
//!
//! Properties: flattening is deterministic; a flat event comes back as it was; every flat entry is a value of
//! the input found at its dotted key (re-nesting is consistent), and only values below `extra` stay objects;
//! the output has no more entries than the input has values, and its text is bounded by
//! `2 + entries × (input bytes + 1)`: each entry is a value of the input and the keys above it. That bound is
//! quadratic, the amplification of issue 22's finding 1; it is tightened to the request budget once
//! flattening counts what it builds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stixgate::intelmq::flatten;

fuzz_target!(|input: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Map<String, Value>>(input) else {
        return;
    };
    let flat = flatten(&event);
    assert_eq!(flat, flatten(&event), "flattening is not deterministic");
    let is_flat = event
        .iter()
        .all(|(key, value)| !value.is_object() || key.starts_with("extra."));
    if is_flat {
        assert_eq!(flat, event, "a flat event changed");
    }
    for (key, value) in &flat {
        let mut steps = STEPS;
        assert!(
            found_at(&event, key, value, &mut steps),
            "{key:?} is not a value of the input"
        );
        if value.is_object() {
            assert!(
                key.starts_with("extra.") || key.contains(".extra."),
                "{key:?} holds an object outside extra"
            );
        }
    }
    let values = count_values(&event);
    assert!(
        flat.len() <= values,
        "{} entries from {values} values",
        flat.len()
    );
    let text = serde_json::to_vec(&flat).expect("JSON values serialize");
    let bound = 2 + flat.len() * (input.len() + 1);
    assert!(
        text.len() <= bound,
        "{} bytes, more than {bound}",
        text.len()
    );
});

/// How many members [`found_at`] reads before it gives up and counts the value as found: keys that hold dots
/// (`a` beside `a.a` at every level) make the paths to try grow exponentially with the depth.
const STEPS: usize = 100_000;

/// Whether `value` sits in `object` at `key`, read as a path of keys joined with `.` (keys may hold dots).
fn found_at(object: &Map<String, Value>, key: &str, value: &Value, steps: &mut usize) -> bool {
    object.iter().any(|(name, inner)| {
        *steps = steps.saturating_sub(1);
        *steps == 0
            || (name == key && inner == value)
            || key
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .zip(inner.as_object())
                .is_some_and(|(rest, inner)| found_at(inner, rest, value, steps))
    })
}

/// The values in an object, nested ones included (an object counts as one value, and so do its members).
fn count_values(object: &Map<String, Value>) -> usize {
    object
        .values()
        .map(|value| 1 + value.as_object().map_or(0, count_values))
        .sum()
}
