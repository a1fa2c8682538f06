use super::*;

fn rules() -> IntakeRules {
    IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    }
}

fn parse(text: &str) -> Result<Envelope, RecordError> {
    Envelope::parse(text.as_bytes(), &rules())
}

#[test]
fn draft_shape_keeps_id_parent_and_exact_text() {
    let text = r#"{"meta": {"version": 1, "uuid": {"current": "cert_at:aaaa-bbbb", "parent": "cert_at:xxxx"}, "type": "event", "format": "intelmq", "x-note": 1}, "payload": {"source.ip": "10.0.0.1"}}"#;
    let envelope = parse(text).unwrap();
    assert_eq!(envelope.id().as_str(), "cert_at:aaaa-bbbb");
    assert_eq!(envelope.parent().unwrap().as_str(), "cert_at:xxxx");
    assert_eq!(envelope.shape(), Shape::Draft);
    assert_eq!(envelope.format(), Some("intelmq"));
    assert_eq!(envelope.kind(), Some("event"));
    assert_eq!(envelope.text(), text.as_bytes());
}

#[test]
fn decided_shape_reads_the_top_level_header() {
    let text = r#"{"format":"intelmq","version":1,"type":"report","meta":{"uuid":"72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b","uuid_org":"org","tags":[],"ail:x":1},"payload":{"raw":"eA=="}}"#;
    let envelope = parse(text).unwrap();
    assert_eq!(
        envelope.id().as_str(),
        "72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b"
    );
    assert_eq!(envelope.shape(), Shape::Decided);
    assert_eq!(envelope.kind(), Some("report"));
    assert_eq!(envelope.parent(), None);
}

#[test]
fn bare_events_are_wrapped_with_their_bytes_as_payload() {
    let event = r#"{"source.ip": "10.0.0.1", "__type": "Report"}"#;
    let envelope = parse(event).unwrap();
    assert_eq!(envelope.kind(), Some("report"));
    let text = std::str::from_utf8(envelope.text()).unwrap();
    assert!(text.ends_with(&format!(r#""payload":{event}}}"#)), "{text}");
    let again = Envelope::reparse(envelope.text().to_vec()).unwrap();
    assert_eq!(again, envelope);
    assert_eq!(envelope.payload()["source.ip"], "10.0.0.1");
}

#[test]
fn bare_events_wrap_into_the_decided_shape_when_configured() {
    let rules = IntakeRules {
        minting: Minting::Cycat {
            instance: "cert-at:intelmq".into(),
        },
        bare_shape: Shape::Decided,
    };
    let envelope = Envelope::parse(br#"{"feed.name": "x"}"#, &rules).unwrap();
    assert_eq!(envelope.shape(), Shape::Decided);
    assert!(envelope.id().as_str().starts_with("cert-at:intelmq:"));
    assert_eq!(
        Envelope::reparse(envelope.text().to_vec()).unwrap(),
        envelope
    );
}

#[test]
fn hash_minting_gives_the_same_id_for_a_resent_event() {
    let rules = IntakeRules {
        minting: Minting::Hash,
        bare_shape: Shape::Draft,
    };
    let first = Envelope::parse(
        br#"{"source.ip": "10.0.0.1", "time.observation": "2020-01-01T00:00:00+00:00"}"#,
        &rules,
    )
    .unwrap();
    let second = Envelope::parse(
        br#"{"time.observation": "2021-01-01T00:00:00+00:00", "source.ip": "10.0.0.1"}"#,
        &rules,
    )
    .unwrap();
    assert_eq!(first.id(), second.id());
}

#[test]
fn every_bad_input_names_its_field() {
    let long_id = "x".repeat(MAX_ID_CHARS + 1);
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid JSON"),
        (
            r#"{"a": 1, "a": 2}"#.into(),
            r#"duplicate key "a" in the top-level object"#,
        ),
        (r#"[1]"#.into(), "the record is not a JSON object"),
        (
            r#"{"meta": {"uuid": {"current": "a"}}}"#.into(),
            "field `payload` is missing",
        ),
        (
            r#"{"meta": {"uuid": {"current": "a"}}, "payload": []}"#.into(),
            "field `payload` must be a JSON object",
        ),
        (
            r#"{"meta": {"uuid": {}}, "payload": {}}"#.into(),
            "field `meta.uuid.current` is missing",
        ),
        (
            r#"{"meta": {"uuid": {"current": ""}}, "payload": {}}"#.into(),
            "field `meta.uuid.current` is empty",
        ),
        (
            r#"{"meta": {"uuid": ""}, "payload": {}}"#.into(),
            "field `meta.uuid` is empty",
        ),
        (
            r#"{"meta": {}, "payload": {}}"#.into(),
            "field `meta.uuid` is missing",
        ),
        (
            r#"{"meta": {"uuid": 5}, "payload": {}}"#.into(),
            "field `meta.uuid` must be an object",
        ),
        (
            format!(r#"{{"meta": {{"uuid": "{long_id}"}}, "payload": {{}}}}"#),
            "field `meta.uuid` is 257 characters long",
        ),
        (
            r#"{"meta": {"uuid": {"current": "a", "parent": 3}}, "payload": {}}"#.into(),
            "field `meta.uuid.parent` must be a string",
        ),
        (
            r#"{"meta": {"uuid": "a"}, "format": "intelmq", "payload": {"Source.IP": 1}}"#.into(),
            r#"payload key "Source.IP" breaks IntelMQ's key grammar"#,
        ),
        (
            r#"{"meta": {"uuid": "a"}, "payload": {"raw": "not base64!"}}"#.into(),
            "field `raw` is not valid base64",
        ),
        (
            r#"{"source..ip": "1"}"#.into(),
            r#"payload key "source..ip""#,
        ),
        (
            r#"{"raw": 5}"#.into(),
            "field `raw` must be a base64 string",
        ),
        (
            r#"{"__type": "Alert"}"#.into(),
            r#"field `__type` must be "Event" or "Report", not "Alert""#,
        ),
        (
            r#"{"meta": {"uuid": "a"}, "format": 1, "payload": {}}"#.into(),
            "field `format` must be a string",
        ),
    ];
    for (input, expected) in cases {
        let error = parse(&input).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{input}\n  gave: {error}\n  want: {expected}"
        );
    }
}

#[test]
fn other_formats_are_not_held_to_intelmq_keys() {
    let text = r#"{"format": "n6", "version": 1, "type": "event", "meta": {"uuid": "n6:1"}, "payload": {"Address": [], "raw": "??"}}"#;
    assert!(parse(text).is_ok());
}

#[test]
fn stix_content_is_told_apart_from_bare_events() {
    for (text, stix) in [
        (
            r#"{"type": "bundle", "id": "bundle--1", "objects": []}"#,
            StixContent::Bundle,
        ),
        (
            r#"{"objects": [], "source.ip": "10.0.0.1"}"#,
            StixContent::TaxiiEnvelope,
        ),
        (r#"{"more": false}"#, StixContent::TaxiiEnvelope),
        (r#"{"next": "2"}"#, StixContent::TaxiiEnvelope),
    ] {
        assert_eq!(parse(text), Err(RecordError::Stix(stix)), "{text}");
    }
    // An IntelMQ field beside `next` makes it an event, whatever else it holds.
    assert!(parse(r#"{"next": "2", "feed.name": "x"}"#).is_ok());
}

#[test]
fn a_bare_record_needs_an_intelmq_field_and_its_keys_are_named_briefly() {
    assert!(parse(r#"{"extra.anything": 1}"#).is_ok());
    assert!(parse(r#"{"raw": "eA==", "__type": "Report"}"#).is_ok());
    assert_eq!(
        parse("{}").unwrap_err().to_string(),
        "the record has no IntelMQ field: the object is empty; a bare event needs at least one IntelMQ 3.5 \
         field such as \"source.ip\" or an \"extra.\" key"
    );
    let long = "k".repeat(100);
    let text = format!(r#"{{"{long}": 1, "b1": 2, "c1": 3, "d1": 4, "e1": 5, "f1": 6, "g1": 7}}"#);
    let message = parse(&text).unwrap_err().to_string();
    let cut = format!(
        r#""{}"…, "b1", "c1", "d1", "e1", and 2 more;"#,
        "k".repeat(40)
    );
    assert!(message.contains(&cut), "{message}");
}
