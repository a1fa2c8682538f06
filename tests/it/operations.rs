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

#[tokio::test]
async fn tls_serves_taxii_over_https_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let tls = stixgate::config::TlsSettings { cert, key };
    let app = crate::helpers::spawn_app_with(|s| s.tls = Some(tls)).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap()])
        .resolve("localhost", ([127, 0, 0, 1], port.parse().unwrap()).into())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/taxii2/"))
        .header("Accept", crate::helpers::TAXII)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/taxii2/"))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP must not be served"
    );
    app.stop().await;
}

#[test]
fn a_missing_certificate_stops_the_start_with_its_name() {
    let mut settings = stixgate::config::Settings::load(None).unwrap();
    let data = tempfile::tempdir().unwrap();
    settings.data = data.path().to_owned();
    settings.listen = "127.0.0.1:0".into();
    settings.tls = Some(stixgate::config::TlsSettings {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error =
        runtime.block_on(async { stixgate::app::Application::build(settings).err().unwrap() });
    assert!(
        error.to_string().contains("/nonexistent/cert.pem"),
        "{error}"
    );
}
