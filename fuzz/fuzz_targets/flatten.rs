//! Bare-event flattening (`src/intelmq/hierarchy.rs`): IntelMQ's hierarchical form back to flat keys, as
//! `POST /intelmq/events` and the `[intelmq.tcp]` intake do for every event they take.
//!
//! Properties: flattening is deterministic; a flat event within its budget comes back as it was; every flat
//! entry is a value of the input found at its dotted key (re-nesting is consistent), and only values below
//! `extra` stay objects; the output has no more entries than the input has values; and its text is never more
//! than the budget (`flat_budget`, 4 times the record plus 4 KiB, issue 22's finding 1), which
//! `flat_size_within` counts the same way without building it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stixgate::envelope::intelmq::{flat_budget, flat_size_within, flatten_within};

fuzz_target!(|input: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Map<String, Value>>(input) else {
        return;
    };
    let budget = flat_budget(input.len());
    let counted = flat_size_within(&event, budget);
    let Ok(flat) = flatten_within(&event, budget) else {
        assert!(counted.is_err(), "counted within the budget, built past it");
        return;
    };
    assert_eq!(
        Ok(&flat),
        flatten_within(&event, budget).as_ref(),
        "flattening is not deterministic"
    );
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
    assert!(
        text.len() <= budget,
        "{} bytes, more than the budget of {budget}",
        text.len()
    );
    let counted = counted.expect("built within the budget, counted past it");
    assert!(
        text.len() <= counted,
        "{} bytes built, {counted} counted",
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
