//! Paging: `next` cursors and the `added_after` fallback never skip nor repeat an object, also across a
//! restart and a changed `limit`.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use stixgate::config::CollectionSettings;

use crate::helpers::{TestApp, indicator, spawn_app, spawn_app_with};

const OBJECTS: &str = "/api/collections/intelmq/objects/";
const TOTAL: u32 = 250;

async fn load(app: &TestApp) {
    let objects: Vec<Value> = (0..TOTAL)
        .map(|n| indicator(n, "2020-01-01T00:00:00.000Z"))
        .collect();
    for batch in objects.chunks(100) {
        assert_eq!(
            app.add_objects("intelmq", batch).await["success_count"],
            batch.len()
        );
    }
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = app.taxii(Method::GET, path).send().await.unwrap();
    let status = response.status();
    let last = response
        .headers()
        .get("x-taxii-date-added-last")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, last, response.json().await.unwrap())
}

fn object_ids(envelope: &Value) -> Vec<String> {
    envelope["objects"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Follows `next` with the given limits (the last one repeats) and gives every id seen, in order.
async fn follow_next(app: &TestApp, base: &str, limits: &[usize]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for round in 0.. {
        let limit = limits[round.min(limits.len() - 1)];
        let cursor = next
            .as_ref()
            .map(|n| format!("&next={n}"))
            .unwrap_or_default();
        let (status, _, envelope) = page(app, &format!("{base}?limit={limit}{cursor}")).await;
        assert_eq!(status, StatusCode::OK);
        let ids = object_ids(&envelope);
        assert!(ids.len() <= limit);
        seen.extend(ids);
        if envelope["more"] == false {
            assert!(envelope.get("next").is_none());
            break;
        }
        next = Some(
            envelope["next"]
                .as_str()
                .expect("more: true always comes with next")
                .to_owned(),
        );
    }
    seen
}

fn assert_each_once(ids: &[String]) {
    assert_eq!(ids.len(), TOTAL as usize);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), TOTAL as usize);
}

#[tokio::test]
async fn next_cursors_cover_everything_once_even_when_the_limit_changes() {
    let app = spawn_app().await;
    load(&app).await;
    let ids = follow_next(&app, OBJECTS, &[100]).await;
    assert_each_once(&ids);
    assert_eq!(follow_next(&app, OBJECTS, &[100, 7, 61, 1000]).await, ids);
    let manifest = follow_next(&app, "/api/collections/intelmq/manifest/", &[33]).await;
    assert_eq!(manifest, ids);
    app.stop().await;
}

#[tokio::test]
async fn added_after_the_last_date_header_covers_everything_once() {
    let app = spawn_app().await;
    load(&app).await;
    let mut seen = Vec::new();
    let mut added_after: Option<String> = None;
    loop {
        let query = added_after
            .as_ref()
            .map(|a| format!("&added_after={a}"))
            .unwrap_or_default();
        let (_, last, envelope) = page(&app, &format!("{OBJECTS}?limit=64{query}")).await;
        seen.extend(object_ids(&envelope));
        if envelope["more"] == false {
            break;
        }
        added_after = last;
    }
    assert_each_once(&seen);
    app.stop().await;
}

#[tokio::test]
async fn cursors_survive_a_restart() {
    let app = spawn_app().await;
    load(&app).await;
    let (_, _, first) = page(&app, &format!("{OBJECTS}?limit=100")).await;
    let next = first["next"].as_str().unwrap().to_owned();
    let data = app.stop().await;
    let app = spawn_app_with(|s| s.data = data.path().to_owned()).await;
    let (status, _, second) = page(&app, &format!("{OBJECTS}?limit=100&next={next}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut ids = object_ids(&first);
    ids.extend(object_ids(&second));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);
    app.stop().await;
    drop(data);
}

#[tokio::test]
async fn a_cursor_does_not_move_to_another_collection_and_pages_are_capped() {
    let app = spawn_app_with(|s| {
        let mut other: CollectionSettings = s.api_roots[0].collections[0].clone();
        other.id = "0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".into();
        other.alias = Some("other".into());
        s.api_roots[0].collections.push(other);
        s.taxii.max_page_size = 50;
        s.taxii.default_page_size = 20;
    })
    .await;
    load(&app).await;
    let (_, _, capped) = page(&app, &format!("{OBJECTS}?limit=1000")).await;
    assert_eq!(object_ids(&capped).len(), 50);
    let (_, _, default) = page(&app, OBJECTS).await;
    assert_eq!(object_ids(&default).len(), 20);
    let next = default["next"].as_str().unwrap();
    let (status, _, error) = page(
        &app,
        &format!("/api/collections/other/objects/?next={next}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["description"].as_str().unwrap().contains("next"),
        "{error}"
    );
    app.stop().await;
}
