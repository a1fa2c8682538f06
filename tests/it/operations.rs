//! Operations: Prometheus metrics.

use reqwest::Method;

use crate::helpers::{indicator, spawn_app};

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_stored_objects() {
    let app = spawn_app().await;
    app.add_objects(
        "intelmq",
        &[
            indicator(1, "2020-01-01T00:00:00.000Z"),
            indicator(2, "2020-01-01T00:00:00.000Z"),
        ],
    )
    .await;
    for _ in 0..3 {
        app.taxii(
            Method::GET,
            "/api/collections/intelmq/objects/indicator--00000000-0000-4000-8000-000000000001/",
        )
        .send()
        .await
        .unwrap();
    }
    app.post_envelopes("", r#"{"meta": {"uuid": "m-1"}, "payload": {}}"#)
        .await;
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"stixgate_http_requests_total{route="/api/collections/{collection}/objects/{object}/",status="200"} 3"#,
        r#"stixgate_http_requests_total{route="/api/collections/{collection}/objects/",status="202"} 1"#,
        "stixgate_objects_stored_total 2",
        "stixgate_envelopes_stored_total 1",
        r#"stixgate_http_request_duration_seconds_count{route="/envelopes"} 1"#,
        "# TYPE stixgate_store_size_bytes gauge",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    app.stop().await;
}
