//! The envelope of an indicator, written from its members, against the same envelope built as maps the way
//! the mapping was first written: the bytes must be the same, since stored envelopes are compared by them.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Operator, Unmapped, address_field, envelope_of, field_for, simple_pattern, unmap};
use crate::envelope::{Envelope, RecordError};
use crate::mapping::CARRIER_EXTENSION_ID;

/// The mapping of an indicator through `Value` maps.
fn by_maps(text: &[u8]) -> Result<Unmapped, RecordError> {
    let object: Map<String, Value> = match serde_json::from_slice(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(RecordError::NotAnObject),
        Err(e) => return Err(RecordError::InvalidJson(e.to_string())),
    };
    let ours = object
        .get("extensions")
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key(CARRIER_EXTENSION_ID));
    if object.get("type").and_then(Value::as_str) != Some("indicator") || ours {
        return Ok(Unmapped::Skipped);
    }
    let mut payload = Map::new();
    if let Some(comparison) = object
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(simple_pattern)
    {
        let network = comparison.operator == Operator::IsSubset;
        if let Some(field) = address_field(&comparison.object_type, &comparison.value, "source")
            .map(|f| if network { "source.network" } else { f })
            .or_else(|| field_for(&comparison.object_type))
        {
            payload.insert(field.into(), json!(comparison.value));
        }
    }
    if let Some(description) = object.get("description").and_then(Value::as_str) {
        payload.insert("event_description.text".into(), json!(description));
    }
    envelope_of(&object, payload, text)
}

fn same_as_maps(text: &str) {
    let typed = unmap(text.as_bytes(), &[]);
    assert_eq!(typed, by_maps(text.as_bytes()), "{text}");
    if let Ok(Unmapped::Foreign(envelope)) = typed {
        assert_eq!(Envelope::reparse(envelope.text().to_vec()), Ok(envelope));
    }
}

#[test]
fn members_that_are_no_strings_count_as_absent_and_the_last_repeated_key_counts() {
    let id = r#""id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f""#;
    for members in [
        r#""pattern":"[ipv4-addr:value = '198.51.100.7']","valid_from":"2020-01-02T03:04:05Z""#,
        r#""pattern":"[url:value = 'http://x/it\\'s \"q\" \u00e9 \ud83d\ude00']","description":"a\nb\u0007\\"#,
        r#""description":5,"description":"later","valid_from":1.5e300,"first_observed":"2021-02-03T04:05:06.1234567+02:00""#,
        r#""description":"first","description":null,"created":"not a time","pattern":["x"]"#,
        r#""pattern":"[ipv4-addr:value ISSUBSET '198.51.100.0/24']","valid_from":{"a":[1,2,{"b":null}]},"created":"2020-01-01T00:00:00Z""#,
        r#""pattern":"[domain-name:value = 'a.example'] AND [x:y = 'z']","extensions":{"x":{}},"extensions":[1]"#,
        r#""extensions":{"extension-definition--74b974cf-0d12-40eb-b740-1173aa718f62":{}},"extensions":{"other":1}"#,
        r#""\u0064escription":"escaped key","type":"indicator""#,
        r#""nested":{"id":"not this one","type":"nor this"},"pattern":"[email-addr:value = 'a@b.example']""#,
    ] {
        same_as_maps(&format!(
            r#"{{"type":"indicator","spec_version":"2.1",{id},{members}}}"#
        ));
        same_as_maps(&format!(
            r#"{{"type":"indicator",{members},{id}, "type": "indicator" }}"#
        ));
    }
}

#[test]
fn what_gives_no_indicator_envelope_fails_or_is_skipped_as_with_maps() {
    for text in [
        r#"{"type":"indicator","pattern":"[ipv4-addr:value = '1.2.3.4']"}"#,
        r#"{"type":"indicator","id":7}"#,
        r#"{"type":"indicator","id":"a\u0001b"}"#,
        r#"{"type":"indicator","id":""}"#,
        r#"{"type":"indicator","id":"x","extensions":{"extension-definition--74b974cf-0d12-40eb-b740-1173aa718f62":1}}"#,
        r#"{"type":"indicator","type":"identity","id":"x"}"#,
        r#"{"type":"identity","type":"indicator","id":"x"}"#,
        r#"{"type":5,"id":"x"}"#,
        r#"{"id":"x"}"#,
        r#"[1]"#,
        r#""indicator""#,
        r#"{"type":"indicator","id":"x""#,
        r#"{"type":"indicator","id":"x"} x"#,
        r#"{"type":"indicator","id":"x","y":"\ud800"}"#,
    ] {
        same_as_maps(text);
    }
    same_as_maps(&format!(
        r#"{{"type":"indicator","id":"{}"}}"#,
        "i".repeat(257)
    ));
}

/// Members drawn from a few keys, repeated or not, with values of every kind.
fn member() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "type",
        "id",
        "pattern",
        "description",
        "valid_from",
        "first_observed",
        "created",
        "extensions",
        "x",
    ]);
    let value = prop::sample::select(vec![
        r#""indicator""#,
        r#""indicator--0b8e8c6a-3e1f-4d2b-9a7c-5f6e7d8c9b0a""#,
        r#""[ipv4-addr:value = '192.0.2.1']""#,
        r#""[ipv6-addr:value = '2001:db8::/32']""#,
        r#""[url:value = 'http://e.example/\u00e9']""#,
        r#""2020-01-02T03:04:05.5Z""#,
        r#""text \"quoted\" \\ \t""#,
        r#"{"extension-definition--74b974cf-0d12-40eb-b740-1173aa718f62":{"a":1}}"#,
        r#"{"k":"v"}"#,
        r#"[1,"2",null]"#,
        "12345678901234567890123",
        "-0.5e-3",
        "true",
        "null",
    ]);
    (key, value).prop_map(|(key, value)| format!(r#""{key}":{value}"#))
}

proptest! {
    #[test]
    fn any_indicator_gives_the_bytes_the_maps_give(members in prop::collection::vec(member(), 0..12)) {
        let text = format!(r#"{{"type":"indicator",{}}}"#, members.join(","));
        let text = text.replace(",}", "}");
        prop_assert_eq!(unmap(text.as_bytes(), &[]), by_maps(text.as_bytes()));
    }
}
