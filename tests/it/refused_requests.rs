//! Whole requests refused with a clear answer: STIX sent to the envelope routes, form uploads, content
//! encodings; encoded bodies that are fine are decoded. Nothing from a refused request is stored.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{COLLECTION, TAXII, TestApp, indicator, spawn_app, spawn_app_with};

const GOOD: &str = r#"{"meta": {"uuid": "good-1"}, "payload": {"source.ip": "192.0.2.9"}}"#;
const OBJECTS: &str = "/api/collections/6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c/objects/";

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app.client.post(format!("{}{path}", app.address)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.expect("a JSON answer"))
}

/// Whether the intake collection holds no object at all.
async fn nothing_stored(app: &TestApp) -> bool {
    let response = app.taxii(Method::GET, OBJECTS).send().await.unwrap();
    response.json::<Value>().await.unwrap() == json!({"more": false})
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn stix_bundles_and_taxii_envelopes_are_sent_to_the_collections_objects_endpoint() {
    let app = spawn_app().await;
    let object = indicator(1, "2020-01-01T00:00:00.000Z");
    let bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": [object]});
    let stix = [
        ("a STIX bundle", bundle.to_string()),
        ("a TAXII envelope", json!({"objects": [object]}).to_string()),
        (
            "a TAXII envelope",
            json!({"more": false, "next": "abc"}).to_string(),
        ),
        // With a good envelope before it: the whole request is refused, not the one record.
        ("a STIX bundle", format!("{GOOD}\n{bundle}\n")),
    ];
    for path in [
        "/envelopes",
        "/intelmq/events",
        "/envelopes?collection=intelmq",
    ] {
        for (kind, body) in &stix {
            if path == "/intelmq/events" && body.contains('\n') {
                continue;
            }
            let (status, answer) = post(&app, path, &[], body.clone().into_bytes()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
            let description = answer["description"].as_str().unwrap();
            assert!(
                description.contains(kind) && description.contains(OBJECTS),
                "{path} {body}: {description}"
            );
        }
    }
    assert!(nothing_stored(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn form_uploads_get_415_saying_to_send_the_file_as_the_body() {
    let app = spawn_app().await;
    let form = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.json\"\r\n\
         Content-Type: application/json\r\n\r\n{GOOD}\r\n--XyZ--\r\n"
    );
    for path in ["/envelopes", "/intelmq/events"] {
        let headers = [("Content-Type", "multipart/form-data; boundary=XyZ")];
        let (status, answer) = post(&app, path, &headers, form.clone().into_bytes()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path}: {answer}"
        );
        let description = answer["description"].as_str().unwrap();
        assert!(
            description.contains("multipart/form-data") && description.contains("--data-binary"),
            "{description}"
        );
    }
    assert!(nothing_stored(&app).await);
    app.stop().await;
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded_on_every_route() {
    let app = spawn_app().await;
    let gzipped = [("Content-Encoding", "gzip")];
    let (status, answer) = post(&app, "/envelopes", &gzipped, gzip(GOOD.as_bytes())).await;
    assert_eq!(
        (status, &answer["stored"]),
        (StatusCode::OK, &json!(1)),
        "{answer}"
    );
    let event = br#"{"source.ip": "192.0.2.10", "classification.type": "scanner"}"#;
    let deflated = [("Content-Encoding", "Deflate")];
    let (status, answer) = post(&app, "/intelmq/events", &deflated, deflate(event)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let envelope = json!({"objects": [indicator(2, "2020-01-01T00:00:00.000Z")]});
    let headers = [
        ("Content-Encoding", "gzip"),
        ("Content-Type", TAXII),
        ("Accept", TAXII),
    ];
    let path = format!("/api/collections/{COLLECTION}/objects/");
    let (status, answer) = post(&app, &path, &headers, gzip(envelope.to_string().as_bytes())).await;
    assert_eq!(
        (status, &answer["success_count"]),
        (StatusCode::ACCEPTED, &json!(1)),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_size_limit_counts_decoded_bytes_and_other_encodings_get_415() {
    let app = spawn_app_with(|s| s.max_content_length = 2000).await;
    let padding = " ".repeat(1_000_000);
    let bomb = gzip(format!("{GOOD}{padding}").as_bytes());
    assert!(bomb.len() < 2000);
    let (status, answer) = post(&app, "/envelopes", &[("Content-Encoding", "gzip")], bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    for encoding in ["br", "gzip, gzip", "compress"] {
        let headers = [("Content-Encoding", encoding)];
        let (status, answer) = post(&app, "/envelopes", &headers, GOOD.into()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
        let description = answer["description"].as_str().unwrap();
        assert!(description.contains(encoding), "{description}");
    }
    let mut broken = gzip(GOOD.as_bytes());
    broken.truncate(broken.len() - 12);
    let (status, answer) = post(&app, "/envelopes", &[("Content-Encoding", "gzip")], broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["description"].as_str().unwrap().contains("gzip"),
        "{answer}"
    );
    assert!(nothing_stored(&app).await);
    app.stop().await;
}
