//! Bounded work per request (issue 22): what a request stores, what it is answered and what the server
//! holds in memory for it stay within a fixed multiple of its body, or the request is refused.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use stixgate::envelope::intelmq::flat_budget;
use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape};
use stixgate::store::{DuplicatePolicy, SledStore, Store, WriteOp};

use crate::helpers::{COLLECTION, ServerProcess, TAXII, TestApp, spawn_app, spawn_app_with};

/// The payload of issue 22's finding 1: a 16 KiB key over 1,500 sub-keys, about 30 KB, which flattens to
/// about 24.6 MB (the key is copied into each sub-key).
pub(crate) fn amplifying_payload() -> Map<String, Value> {
    let inner: Map<String, Value> = (0..1500).map(|i| (format!("a{i}"), json!(0))).collect();
    let mut event = Map::new();
    event.insert("feed.name".into(), json!("x"));
    event.insert("k".repeat(16_384), Value::Object(inner));
    event
}

fn amplifying_envelope(id: &str) -> Value {
    json!({"meta": {"uuid": {"current": id}}, "payload": amplifying_payload()})
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", app.address);
    app.client.get(url).send().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    let url = format!("{}{path}", app.address);
    app.client.post(url).body(body).send().await.unwrap()
}

async fn feed(app: &TestApp) -> (StatusCode, String) {
    let response = get(app, "/intelmq/feed").await;
    (response.status(), response.text().await.unwrap())
}

async fn metrics(app: &TestApp) -> String {
    get(app, "/metrics").await.text().await.unwrap()
}

/// The status, media type and JSON of an answer, and its length.
async fn answer(response: reqwest::Response) -> (StatusCode, String, Value, usize) {
    let status = response.status();
    let media_type = response
        .headers()
        .get("Content-Type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, media_type, json, bytes.len())
}

#[tokio::test]
async fn a_hierarchical_event_that_flattens_past_its_budget_is_refused_and_nothing_stored() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&amplifying_payload()).unwrap();
    assert!(body.len() < 40_000, "the body is small: {}", body.len());
    let response = post(&app, "/intelmq/events", body.clone()).await;
    let (status, media_type, error, length) = answer(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        media_type.starts_with("application/taxii+json"),
        "{media_type}"
    );
    let description = error["description"].as_str().unwrap();
    assert!(description.contains("flattened"), "{description}");
    assert!(length < 1000, "the refusal is short: {length} bytes");
    assert_eq!(feed(&app).await, (StatusCode::OK, String::new()));
    assert!(
        metrics(&app)
            .await
            .contains("stixgate_envelopes_stored_total 0")
    );

    // IntelMQ's own hierarchical output still flattens, and what is served stays within its budget.
    let hierarchical = json!({"source": {"ip": "192.0.2.1", "geolocation": {"cc": "AT"}}, "classification": {"type": "scanner"}, "feed": {"name": "x"}});
    let body = serde_json::to_vec(&hierarchical).unwrap();
    let response = post(&app, "/intelmq/events", body.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, lines) = feed(&app).await;
    assert_eq!(status, StatusCode::OK);
    let line: Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(line["source.geolocation.cc"], "AT", "{line}");
    assert!(lines.len() <= flat_budget(body.len()), "{lines}");
    app.stop().await;
}

#[tokio::test]
async fn an_envelope_whose_payload_would_flatten_past_its_budget_is_refused_at_intake() {
    let app = spawn_app().await;
    let record = amplifying_envelope("nested-1").to_string();
    let (status, answer) = app.post_envelopes("", record).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"], 1, "{answer}");
    let message = answer["records"][0]["message"].as_str().unwrap();
    assert!(message.contains("flattened"), "{message}");
    assert_eq!(app.get_envelope("nested-1").await.0, StatusCode::NOT_FOUND);
    // A nested payload within its budget is stored as before.
    let small = json!({"meta": {"uuid": {"current": "nested-2"}}, "payload": {"feed": {"name": "x"}, "source.ip": "192.0.2.1"}});
    let (status, answer) = app.post_envelopes("", small.to_string()).await;
    assert_eq!((status, &answer["stored"]), (StatusCode::OK, &json!(1)));
    app.stop().await;
}

#[tokio::test]
async fn a_carrier_whose_envelope_would_flatten_past_its_budget_gives_no_envelope() {
    let app = spawn_app().await;
    let envelope = parse(&amplifying_envelope("carried-nested-1"));
    let tables = stixgate::mapping::Tables::embedded();
    let carrier = stixgate::mapping::map_envelope(&envelope, &tables, None).carrier;
    let status = app.add_objects(COLLECTION, &[carrier]).await;
    assert_eq!(status["failure_count"], 1, "{status}");
    let message = status["failures"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("no valid envelope") && message.contains("flattened"),
        "{message}"
    );
    let (code, _) = app.get_envelope("carried-nested-1").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// An envelope parsed as the store takes it, with no look at its flat size.
fn parse(envelope: &Value) -> Envelope {
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    };
    Envelope::parse(envelope.to_string().as_bytes(), &rules).unwrap()
}

/// Stores `envelope` in the default collection of the store in `data`, as an older version stored it
/// (nothing checks its flat size on this way in).
fn store_directly(data: &std::path::Path, envelope: &Value) {
    let envelope = parse(envelope);
    let store = SledStore::open(data).unwrap();
    store
        .apply(vec![WriteOp::PutEnvelope {
            envelope,
            collection: COLLECTION.into(),
            policy: DuplicatePolicy::KeepFirst,
            objects: Vec::new(),
        }])
        .unwrap();
    store.flush().unwrap();
}

#[tokio::test]
async fn a_stored_envelope_past_its_budget_is_left_out_of_feeds_and_streams_and_counted() {
    let data = tempfile::tempdir().unwrap();
    store_directly(data.path(), &amplifying_envelope("stored-nested-1"));
    let path = data.path().to_owned();
    let app = spawn_app_with(|s| s.data = path).await;
    let event = br#"{"source.ip": "192.0.2.9", "classification.type": "scanner"}"#;
    let response = post(&app, "/intelmq/events", &event[..]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let (status, lines) = feed(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines.lines().count(), 1, "{} bytes", lines.len());
    assert!(lines.contains("192.0.2.9"));
    assert!(lines.len() < 1000, "{} bytes", lines.len());
    assert!(
        metrics(&app)
            .await
            .contains("stixgate_intelmq_events_skipped_total 1")
    );

    let mut stream = get(&app, "/intelmq/stream").await;
    assert_eq!(stream.status(), StatusCode::OK);
    let first = stream.chunk().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first);
    assert_eq!(first.lines().count(), 1, "{} bytes", first.len());
    assert!(first.contains("192.0.2.9"));
    drop(stream);
    assert!(
        metrics(&app)
            .await
            .contains("stixgate_intelmq_events_skipped_total 2")
    );
    app.stop().await;
}

#[tokio::test]
async fn many_bad_lines_get_counts_not_an_answer_many_times_the_body() {
    let app = spawn_app().await;
    let body = "x\n".repeat(256 * 1024);
    let response = post(&app, "/envelopes", body.clone()).await;
    let (status, _, answer, length) = answer(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["errors"], 256 * 1024);
    assert_eq!(answer["records"].as_array().unwrap().len(), 100);
    assert_eq!(answer["errors_not_listed"], 256 * 1024 - 100);
    assert!(length < body.len() / 10, "{length} bytes answered");

    // A good record among them is stored and reported, wherever it is.
    let good = json!({"meta": {"uuid": {"current": "among-bad-1"}}, "payload": {"source.ip": "192.0.2.1"}});
    let body = format!("{}{good}\n", "x\n".repeat(1000));
    let (status, answer) = app.post_envelopes("", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&answer["stored"], &answer["errors"]),
        (&json!(1), &json!(1000))
    );
    let records = answer["records"].as_array().unwrap();
    assert_eq!(records.len(), 101);
    assert_eq!(records[100]["id"], "among-bad-1");
    app.stop().await;
}

#[tokio::test]
async fn a_taxii_status_lists_the_first_failures_and_counts_them_all() {
    let app = spawn_app().await;
    let objects = vec![json!({}); 65_000];
    let body = serde_json::to_vec(&json!({ "objects": objects })).unwrap();
    let response = app
        .taxii(
            reqwest::Method::POST,
            &format!("/api/collections/{COLLECTION}/objects/"),
        )
        .header("Content-Type", TAXII)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, _, resource, length) = answer(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resource}");
    assert_eq!(
        (
            &resource["total_count"],
            &resource["success_count"],
            &resource["failure_count"],
            &resource["pending_count"]
        ),
        (&json!(65_000), &json!(0), &json!(65_000), &json!(0))
    );
    assert_eq!(resource["failures"].as_array().unwrap().len(), 100);
    assert!(length < body.len(), "{length} bytes answered");
    let id = resource["id"].as_str().unwrap();
    let response = app
        .taxii(reqwest::Method::GET, &format!("/api/status/{id}/"))
        .send()
        .await
        .unwrap();
    let (status, _, stored, length) = answer(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, resource);
    assert!(length < body.len(), "{length} bytes stored");
    app.stop().await;
}

/// A raw deflate stream of `mebibytes` MiB of zeros, about 1 KiB for each: one fully flushed block of
/// 1 MiB, repeated (a full flush resets the compressor, so each copy stands alone), then a final block.
fn deflated_zeros(mebibytes: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut compress = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 20);
    compress
        .compress_vec(&zeros, &mut block, FlushCompress::Full)
        .unwrap();
    assert_eq!(compress.total_in(), 1 << 20, "the whole MiB went in");
    let mut last = Vec::with_capacity(64);
    Compress::new(Compression::best(), false)
        .compress_vec(&[], &mut last, FlushCompress::Finish)
        .unwrap();
    let mut stream = block.repeat(mebibytes);
    stream.extend_from_slice(&last);
    stream
}

/// The peak resident memory of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[tokio::test]
async fn a_small_gzip_body_that_inflates_far_past_the_preview_limit_is_refused_without_inflating_it()
 {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let client = reqwest::Client::new();
    // The body: a gzip member whose deflate stream gives 200 MiB of zeros, in under the preview's 256 KiB.
    let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    body.extend_from_slice(&deflated_zeros(200));
    body.write_all(&[0; 8]).unwrap();
    assert!(body.len() < 256 * 1024, "{} bytes", body.len());

    let form = client
        .get(format!("{}/ui/preview", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let before = peak_kib(server.child.id());
    let response = client
        .post(format!("{}/ui/preview", server.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, media_type, error, _) = answer(response).await;
    let grown = peak_kib(server.child.id()).saturating_sub(before);
    assert!(grown < 32 * 1024, "the peak memory grew by {grown} KiB");
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        media_type.starts_with("application/taxii+json"),
        "{media_type}"
    );
    assert_eq!(error["error_code"], "too-large", "{error}");
    server.terminate();
}
