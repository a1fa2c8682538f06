//! The text log's compaction as a server runs it: deleted objects' space comes back after a restart, and what
//! stays is served as it was.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use stixgate::config::PostedEnvelopes;

use crate::helpers::{COLLECTION, TestApp, indicator, spawn_app_with};

/// Indicators of about 2 KB, so that a 1 MiB segment holds about 500.
fn large_indicator(n: u32) -> Value {
    let mut object = indicator(n, "2024-01-01T00:00:00.000Z");
    object["description"] = Value::String(format!("{n} ").repeat(400));
    object
}

async fn start(data: Option<&Path>) -> TestApp {
    let data = data.map(Path::to_owned);
    spawn_app_with(move |settings| {
        settings.store.segment_mb = 1;
        settings.taxii.envelopes_from_posts = PostedEnvelopes::None;
        if let Some(data) = data {
            settings.data = data;
        }
    })
    .await
}

/// Every object of the collection, in order, each as served.
async fn all_objects(app: &TestApp) -> Vec<Value> {
    let mut objects = Vec::new();
    let mut next = String::new();
    loop {
        let page = app
            .taxii_json(&format!(
                "/api/collections/{COLLECTION}/objects/?limit=500{next}"
            ))
            .await;
        objects.extend(page["objects"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(token) => next = format!("&next={token}"),
            None => return objects,
        }
    }
}

fn segments(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("texts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_restart_compacts_the_segments_that_deletes_emptied_and_serves_the_rest_unchanged() {
    let app = start(None).await;
    for batch in 0..3 {
        let objects: Vec<Value> = (batch * 500..batch * 500 + 500)
            .map(large_indicator)
            .collect();
        app.add_objects(COLLECTION, &objects).await;
    }
    for n in 0..450 {
        let id = indicator(n, "")["id"].as_str().unwrap().to_owned();
        let deleted = app
            .taxii(
                Method::DELETE,
                &format!("/api/collections/{COLLECTION}/objects/{id}/"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::OK, "{id}");
    }
    let kept = all_objects(&app).await;
    assert_eq!(kept.len(), 1050);
    let data = app.stop().await;
    let before = segments(data.path());
    assert!(before.contains(&"00000000.seg".to_owned()), "{before:?}");

    // The job compacts once at start.
    let app = start(Some(data.path())).await;
    let waited = Instant::now();
    while segments(data.path()).contains(&"00000000.seg".to_owned()) {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "segment 0 was never compacted: {:?}",
            segments(data.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(all_objects(&app).await, kept);
    app.stop().await;
    let app = start(Some(data.path())).await;
    assert_eq!(all_objects(&app).await, kept);
    app.stop().await;
}
