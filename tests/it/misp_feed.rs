//! The MISP feed: events grouped per feed and day, index files consistent with them, stable timestamps,
//! conditional GETs and read rights.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fixtures, spawn_app, spawn_app_with};

const FEED: &str = "/misp/intelmq";

async fn get(app: &TestApp, file: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{FEED}/{file}", app.address))
        .send()
        .await
        .expect("the server answers")
}

async fn get_json(app: &TestApp, file: &str) -> Value {
    let response = get(app, file).await;
    assert_eq!(response.status(), StatusCode::OK, "{file}");
    response.json().await.expect("JSON")
}

async fn post_fixture(app: &TestApp, name: &str) {
    let body = std::fs::read(fixtures().join("intelmq").join(name)).expect("a fixture");
    let (status, answer) = app.post_envelopes("", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn events_index_files_and_timestamps_agree() {
    let app = spawn_app().await;
    for name in ["sinkhole.event.json", "n6-blacklist.event.json"] {
        post_fixture(&app, name).await;
    }
    let manifest = get_json(&app, "manifest.json").await;
    let manifest = manifest.as_object().expect("an object");
    assert_eq!(manifest.len(), 2, "one event per feed and day");
    let mut attributes = 0;
    for (uuid, entry) in manifest {
        let event = get_json(&app, &format!("{uuid}.json")).await["Event"].clone();
        assert_eq!(event["uuid"], json!(uuid));
        for key in ["info", "date", "Orgc", "Tag"] {
            assert_eq!(entry[key], event[key], "{key}");
        }
        assert_eq!(json!(entry["timestamp"].to_string()), event["timestamp"]);
        attributes += event["Attribute"].as_array().expect("attributes").len();
        for object in event["Object"].as_array().expect("objects") {
            attributes += object["Attribute"]
                .as_array()
                .expect("object attributes")
                .len();
        }
    }
    let blacklist = manifest
        .values()
        .find(|e| e["date"] == "2024-07-12")
        .expect("the n6 event, on its time.source day");
    assert!(
        blacklist["info"]
            .as_str()
            .expect("info")
            .contains("n6 blacklist")
    );
    let hashes = get(&app, "hashes.csv").await.text().await.expect("text");
    assert_eq!(
        hashes.lines().count(),
        attributes,
        "one line per attribute, in objects too"
    );

    // A third feed's envelope leaves the other events, and their timestamps, as they were.
    post_fixture(&app, "misp-origin.event.json").await;
    let after = get_json(&app, "manifest.json").await;
    assert_eq!(after.as_object().expect("an object").len(), 3);
    for (uuid, entry) in manifest {
        assert_eq!(after[uuid]["timestamp"], entry["timestamp"], "{uuid}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unchanged_file_is_not_sent_again() {
    let app = spawn_app().await;
    post_fixture(&app, "sinkhole.event.json").await;
    let first = get(&app, "manifest.json").await;
    let etag = first.headers()["etag"].to_str().expect("ASCII").to_owned();
    let manifest_unless = |etag: String| {
        app.client
            .get(format!("{}{FEED}/manifest.json", app.address))
            .header("If-None-Match", etag)
            .send()
    };
    let again = manifest_unless(etag.clone())
        .await
        .expect("the server answers");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    post_fixture(&app, "n6-blacklist.event.json").await;
    let changed = manifest_unless(etag).await.expect("the server answers");
    assert_eq!(changed.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn unknown_files_and_unreadable_collections_are_refused() {
    let app = spawn_app_with(|settings| {
        settings.api_roots[0].collections[0].anonymous_read = false;
    })
    .await;
    assert_eq!(
        get(&app, "manifest.json").await.status(),
        StatusCode::FORBIDDEN
    );
    app.stop().await;
    let app = spawn_app().await;
    let unknown = format!("{}.json", uuid::Uuid::nil());
    assert_eq!(get(&app, &unknown).await.status(), StatusCode::NOT_FOUND);
    let response = app
        .client
        .get(format!("{}/misp/nope/manifest.json", app.address))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn manifest_timestamps(app: &TestApp) -> std::collections::BTreeMap<String, u64> {
    get_json(app, "manifest.json")
        .await
        .as_object()
        .expect("an object")
        .iter()
        .map(|(uuid, entry)| (uuid.clone(), entry["timestamp"].as_u64().expect("seconds")))
        .collect()
}

#[tokio::test]
async fn the_state_survives_a_restart_and_a_new_grouping_rebuilds_it_with_later_timestamps() {
    let app = spawn_app().await;
    for name in ["sinkhole.event.json", "n6-blacklist.event.json"] {
        post_fixture(&app, name).await;
    }
    let before = manifest_timestamps(&app).await;
    let data = app.stop().await;

    let app = spawn_app_with(|s| s.data = data.path().to_owned()).await;
    assert_eq!(manifest_timestamps(&app).await, before, "nothing moved");
    app.stop().await;

    let app = spawn_app_with(|s| {
        s.data = data.path().to_owned();
        s.misp.group_by = stixgate::misp::GroupBy::Day;
    })
    .await;
    let after = manifest_timestamps(&app).await;
    assert_eq!(after.len(), 2, "the two envelopes are of different days");
    assert!(
        after.keys().all(|uuid| !before.contains_key(uuid)),
        "day events have their own UUIDs"
    );
    let newest_before = before.values().max().expect("events");
    assert!(
        after.values().all(|t| t > newest_before),
        "MISP fetches every rebuilt event again"
    );
    app.stop().await;
    drop(data);
}

#[tokio::test]
async fn a_new_version_of_an_envelope_replaces_the_old_one_in_its_event() {
    let app = spawn_app_with(|s| {
        s.intake.duplicate_policy = stixgate::store::DuplicatePolicy::NewVersion;
    })
    .await;
    let text = std::fs::read_to_string(fixtures().join("intelmq/n6-blacklist.decided.json"))
        .expect("a fixture");
    let mut envelope: Value = serde_json::from_str(&text).expect("JSON");
    let (status, answer) = app.post_envelopes("", text.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let before = manifest_timestamps(&app).await;
    envelope["payload"]["source.ip"] = json!("192.0.2.200");
    let (status, answer) = app
        .post_envelopes("", envelope.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let after = manifest_timestamps(&app).await;
    let (uuid, timestamp) = after.iter().next().expect("one event");
    assert_eq!(after.len(), 1);
    assert!(*timestamp > before[uuid]);
    let event = get_json(&app, &format!("{uuid}.json")).await;
    let values: Vec<&str> = event["Event"]["Attribute"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter(|a| a["type"] == "ip-src")
        .map(|a| a["value"].as_str().expect("text"))
        .collect();
    assert_eq!(values, ["192.0.2.200"], "only the newest version counts");
    let hashes = get(&app, "hashes.csv").await.text().await.expect("text");
    assert_eq!(
        hashes.lines().count(),
        3,
        "ip-src, hostname and AS of one version"
    );
    app.stop().await;
}

/// An IntelMQ event of feed `chunks` on one day, with one address.
fn addressed(n: usize, address: &str) -> String {
    json!({"meta": {"uuid": {"current": format!("chunked-{n}")}},
        "payload": {"feed.name": "chunks", "time.source": "2024-02-03T04:05:06+00:00", "source.ip": address}})
    .to_string()
}

fn newer_address(n: usize) -> String {
    format!("192.0.2.{}", n % 250)
}

#[tokio::test]
async fn an_event_of_many_envelopes_keeps_their_order_when_newer_versions_replace_some() {
    let app = spawn_app_with(|s| {
        s.intake.duplicate_policy = stixgate::store::DuplicatePolicy::NewVersion;
    })
    .await;
    let address = |n: usize| format!("10.0.{}.{}", n / 250, n % 250);
    let first: Vec<String> = (0..600).map(|n| addressed(n, &address(n))).collect();
    let (status, answer) = app.post_envelopes("", first.join("\n").into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    manifest_timestamps(&app).await;
    // Members of the first and of the second chunk the feed wrote.
    let replaced = [10, 300];
    let newer: Vec<String> = replaced
        .iter()
        .map(|n| addressed(*n, &newer_address(*n)))
        .collect();
    let (status, answer) = app.post_envelopes("", newer.join("\n").into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    assert_eq!(
        manifest_timestamps(&app).await.len(),
        1,
        "one feed on one day"
    );
    let values = attribute_values(&app).await;
    let mut expected: Vec<String> = (0..600)
        .filter(|n| !replaced.contains(n))
        .map(address)
        .collect();
    expected.extend(replaced.iter().map(|n| newer_address(*n)));
    assert_eq!(
        values, expected,
        "in order of storage, the newest versions only"
    );
    let hashes = get(&app, "hashes.csv").await.text().await.expect("text");
    assert_eq!(hashes.lines().count(), 600, "one line per attribute");
    app.stop().await;
}

/// The attribute values of the feed's first event, in the event's order.
async fn attribute_values(app: &TestApp) -> Vec<String> {
    let events = manifest_timestamps(app).await;
    let uuid = events.keys().next().expect("one event");
    let event = get_json(app, &format!("{uuid}.json")).await;
    event["Event"]["Attribute"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| a["value"].as_str().expect("text").to_owned())
        .collect()
}

/// A newer version a whole batch (2,000 envelopes) after the older one replaces it too: the maintainer makes the
/// batch while the one before is being written, and reads the older one's chunk only once that write is done.
#[tokio::test]
async fn a_newer_version_a_batch_after_the_older_one_replaces_it() {
    let app = spawn_app_with(|s| {
        s.intake.duplicate_policy = stixgate::store::DuplicatePolicy::NewVersion;
    })
    .await;
    let address = |n: usize| format!("10.{}.{}.{}", n / 62_500, n / 250 % 250, n % 250);
    let mut records: Vec<String> = (0..2_000).map(|n| addressed(n, &address(n))).collect();
    records.push(addressed(5, &newer_address(5)));
    let (status, answer) = app
        .post_envelopes("", records.join("\n").into_bytes())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Time for the background maintainer (every second) to take both batches in one go.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let values = attribute_values(&app).await;
    let mut expected: Vec<String> = (0..2_000).filter(|n| *n != 5).map(address).collect();
    expected.push(newer_address(5));
    assert_eq!(
        values, expected,
        "the newest version only, in order of storage"
    );
    let hashes = get(&app, "hashes.csv").await.text().await.expect("text");
    assert_eq!(hashes.lines().count(), 2_000, "one line per attribute");
    app.stop().await;
}
