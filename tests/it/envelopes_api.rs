//! `POST /envelopes` and `GET /envelopes/{id}` with the fixtures.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixtures, spawn_app, spawn_app_with};

const NAMES: [&str; 3] = ["sinkhole", "misp-origin", "n6-blacklist"];

fn fixture(name: &str, kind: &str) -> Vec<u8> {
    let text = std::fs::read(fixtures().join(format!("intelmq/{name}.{kind}.json"))).unwrap();
    text.trim_ascii().to_vec()
}

#[tokio::test]
async fn health_check_answers() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn envelopes_of_both_shapes_come_back_byte_for_byte() {
    let app = spawn_app().await;
    for name in NAMES {
        for kind in ["draft", "decided"] {
            let text = fixture(name, kind);
            let (status, answer) = app.post_envelopes("", text.clone()).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["stored"], 1, "{answer}");
            let id = answer["records"][0]["id"].as_str().unwrap().to_owned();
            let (status, stored) = app.get_envelope(&id).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                String::from_utf8(stored).unwrap(),
                String::from_utf8(text).unwrap()
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn bare_events_are_wrapped_around_their_exact_bytes() {
    let app = spawn_app().await;
    for name in NAMES {
        let event = fixture(name, "event");
        let (status, answer) = app.post_envelopes("", event.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let id = answer["records"][0]["id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        let (_, stored) = app.get_envelope(id).await;
        let envelope: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(envelope["meta"]["uuid"]["current"], id);
        assert_eq!(envelope["meta"]["format"], "intelmq");
        assert_eq!(envelope["meta"]["type"], "event");
        let mut payload_text = b"\"payload\":".to_vec();
        payload_text.extend_from_slice(&event);
        payload_text.push(b'}');
        assert!(stored.ends_with(&payload_text));
    }
    app.stop().await;
}

#[tokio::test]
async fn resending_is_a_duplicate_and_other_content_under_a_known_id_is_not_stored() {
    let app = spawn_app().await;
    let first = r#"{"meta": {"uuid": "dup-1"}, "payload": {"source.ip": "192.0.2.1"}}"#;
    let other = r#"{"meta": {"uuid": "dup-1"}, "payload": {"source.ip": "192.0.2.2"}}"#;
    app.post_envelopes("", first).await;
    let (status, answer) = app.post_envelopes("", format!("{first}\n{other}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["duplicates"], 2, "{answer}");
    assert!(
        answer["records"][1]["message"]
            .as_str()
            .unwrap()
            .contains("other content")
    );
    assert_eq!(app.get_envelope("dup-1").await.1, first.as_bytes());
    app.stop().await;
}

#[tokio::test]
async fn the_new_version_policy_stores_other_content_as_the_next_version() {
    let app = spawn_app_with(|s| {
        s.intake.duplicate_policy = stixgate::store::DuplicatePolicy::NewVersion
    })
    .await;
    let first = r#"{"meta": {"uuid": "v-1"}, "payload": {"source.ip": "192.0.2.1"}}"#;
    let second = r#"{"meta": {"uuid": "v-1"}, "payload": {"source.ip": "192.0.2.2"}}"#;
    app.post_envelopes("", first).await;
    let (_, answer) = app.post_envelopes("", second).await;
    assert_eq!(answer["stored"], 1, "{answer}");
    assert_eq!(app.get_envelope("v-1").await.1, second.as_bytes());
    app.stop().await;
}

#[tokio::test]
async fn a_named_collection_must_exist() {
    let app = spawn_app().await;
    let envelope = r#"{"meta": {"uuid": "c-1"}, "payload": {}}"#;
    let (status, answer) = app.post_envelopes("?collection=intelmq", envelope).await;
    assert_eq!(
        (status, answer["stored"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, answer) = app.post_envelopes("?collection=nope", envelope).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        answer["description"].as_str().unwrap().contains("\"nope\""),
        "{answer}"
    );
    let (status, answer) = app.post_envelopes("?colection=intelmq", envelope).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["description"]
            .as_str()
            .unwrap()
            .contains("colection"),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_and_routes_get_taxii_errors() {
    let app = spawn_app().await;
    for path in ["/envelopes/no-such-id", "/no/such/route"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()["content-type"],
            "application/taxii+json;version=2.1"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["http_status"], "404");
        assert!(error["title"].is_string() && error["description"].is_string());
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_store_nothing() {
    let app = spawn_app_with(|s| s.max_content_length = 300).await;
    let mut big = String::from(r#"{"meta": {"uuid": "big-1"}, "payload": {"extra.pad": ""#);
    big.push_str(&"x".repeat(400));
    big.push_str("\"}}");
    let (status, answer) = app.post_envelopes("", big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["http_status"], "413");
    // Chunked, without Content-Length: the limit holds on the bytes actually read.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(50)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, _) = app.post_envelopes("", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.get_envelope("big-1").await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn strict_intelmq_values_refuse_what_intelmq_would_refuse_or_rewrite() {
    let app =
        spawn_app_with(|s| s.intake.intelmq_values = stixgate::ingest::IntelmqValues::Strict).await;
    for name in NAMES {
        let (status, answer) = app.post_envelopes("", fixture(name, "event")).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
    }
    let cases = [
        (
            r#"{"source.ip": "999.1.1.1"}"#,
            "field `source.ip` = \"999.1.1.1\": not an IP address",
        ),
        (
            r#"{"time.source": "2024-01-01T00:00:00Z"}"#,
            "IntelMQ would store \"2024-01-01T00:00:00+00:00\"",
        ),
        (
            r#"{"meta": {"uuid": "s-1"}, "payload": {"classification.type": "unknown"}}"#,
            "IntelMQ would store \"undetermined\"",
        ),
    ];
    for (record, expected) in cases {
        let (status, answer) = app.post_envelopes("", record).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{record}");
        let message = answer["records"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let lenient = spawn_app().await;
    let (status, _) = lenient.post_envelopes("", cases[0].0).await;
    assert_eq!(status, StatusCode::OK, "lenient by default");
    lenient.stop().await;
    app.stop().await;
}
