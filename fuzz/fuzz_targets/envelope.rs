//! Envelope and NDJSON parsing (`src/envelope/`): what `POST /envelopes` and `POST /intelmq/events` read.
//!
//! Properties: records are slices of the input, non-empty, with a line inside it; parsing is deterministic
//! (content-derived ids); an envelope is kept byte for byte and its id is the one its text names; a bare event
//! is wrapped into an envelope whose payload is the event and whose id is its content id; whatever was
//! accepted reads back the same from its text (`reparse`, `stored_with_payload`, and as a record again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape, split_records};

fuzz_target!(|input: &[u8]| {
    let Ok(records) = split_records(input) else {
        return;
    };
    let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    let input_range = input.as_ptr_range();
    for record in &records {
        assert!(!record.bytes.is_empty(), "an empty record");
        let range = record.bytes.as_ptr_range();
        assert!(
            input_range.start <= range.start && range.end <= input_range.end,
            "a record outside its input"
        );
        assert!(
            (1..=lines).contains(&record.line),
            "line {} of {lines}",
            record.line
        );
        for shape in [Shape::Draft, Shape::Decided] {
            check_record(record.bytes, shape);
        }
    }
});

fn check_record(record: &[u8], bare_shape: Shape) {
    let rules = IntakeRules {
        minting: Minting::Hash,
        bare_shape,
    };
    let parsed = Envelope::parse(record, &rules);
    assert_eq!(
        parsed,
        Envelope::parse(record, &rules),
        "parsing is not deterministic"
    );
    let Ok(envelope) = parsed else {
        return;
    };
    let top: Map<String, Value> =
        serde_json::from_slice(record).expect("an accepted record is a JSON object");
    let is_envelope = top.contains_key("meta") || top.contains_key("payload");
    if is_envelope {
        assert_eq!(envelope.text(), record, "an envelope is not kept verbatim");
        let named = match &top["meta"]["uuid"] {
            Value::String(id) => id,
            uuid => uuid["current"].as_str().expect("a draft id is a string"),
        };
        assert_eq!(
            envelope.id().as_str(),
            named,
            "the id is not the one the text names"
        );
    } else {
        assert_eq!(envelope.shape(), bare_shape);
        assert_eq!(
            envelope.payload(),
            top,
            "a wrapped event's payload is not the event"
        );
        assert_eq!(
            envelope.id().as_str(),
            Minting::content_id(&top).to_string(),
            "a bare event's id is not its content id"
        );
    }
    let text = envelope.text().to_vec();
    let reparsed = Envelope::reparse(text.clone()).expect("an accepted envelope reparses");
    assert_eq!(reparsed, envelope, "reparse reads another envelope");
    let again = Envelope::parse(&text, &rules).expect("an accepted envelope parses as a record");
    assert_eq!(again, envelope, "the envelope read as a record differs");
    let (stored, payload) =
        Envelope::stored_with_payload(text).expect("an accepted envelope reads as stored");
    assert_eq!(stored, envelope);
    assert_eq!(payload, envelope.payload());
}
