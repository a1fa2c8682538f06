//! While no users are configured (the embedded default), credentials are ignored and the request is
//! anonymous, as clients that always send some (MISP's TAXII push, OpenCTI's connector, cytaxii2) need; the
//! server says so once. Where users exist, credentials are checked as ever.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{COLLECTION, ServerProcess, TAXII, indicator, spawn_app_with, user};

const WARNING: &str = "credentials are ignored";

/// The JSON lines of the server's log, once `count` request lines are there (each request is logged once it
/// is answered, after any warning it caused).
fn log_after_requests(server: &ServerProcess, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines: Vec<Value> = server
            .log_lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let requests = lines.iter().filter(|l| l["message"] == "request").count();
        if requests >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn without_users_credentials_are_ignored_and_that_is_logged_once() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with_env(
        data.path(),
        &["--listen", "127.0.0.1:0"],
        &[("STIXGATE_LOG_FORMAT", "json")],
    );
    let client = reqwest::Client::new();
    let objects = format!("{}/api/collections/{COLLECTION}/objects/", server.address);
    let posted = client
        .post(&objects)
        .basic_auth("misp", Some("whatever MISP was given"))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .json(&json!({"objects": [indicator(1, "2020-01-01T00:00:00.000Z")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        StatusCode::ACCEPTED,
        "a write with credentials"
    );
    let requests = [
        client.get(&objects).basic_auth("opencti", Some("pw")),
        client.get(&objects).bearer_auth("a token nobody issued"),
        client
            .get(format!("{}/taxii2/", server.address))
            .basic_auth("cytaxii2", Some("pw")),
    ];
    for request in requests {
        let response = request.header("Accept", TAXII).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "a read with credentials");
    }
    // The admin endpoint still knows its operator token, and only it.
    let admin: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("admin.json")).unwrap()).unwrap();
    let jobs = format!("{}/admin/jobs", admin["url"].as_str().unwrap());
    let forged = client
        .post(&jobs)
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let token = admin["token"].as_str().unwrap();
    let operator = client
        .post(&jobs)
        .bearer_auth(token)
        .body("not a job")
        .send()
        .await
        .unwrap();
    assert_eq!(
        operator.status(),
        StatusCode::BAD_REQUEST,
        "the job, not the caller, is refused"
    );

    let lines = log_after_requests(&server, 6);
    server.kill();
    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(WARNING)))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert_eq!(warnings[0]["level"], "WARN");
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 6, "{requests:#?}");
    for line in &requests[..4] {
        assert_eq!(line["user"], "-", "served as anonymous: {line}");
    }
    assert_eq!(requests[5]["user"], ":operator");
}

#[tokio::test]
async fn where_users_exist_a_wrong_password_is_still_refused() {
    let app = spawn_app_with(|settings| settings.users = vec![user("alice")]).await;
    // The default collection allows anonymous reads and writes; wrong credentials are refused all the same.
    let objects = format!("/api/collections/{COLLECTION}/objects/");
    for password in ["wrong", "alice-pw"] {
        let response = app
            .taxii(Method::GET, &objects)
            .basic_auth("alice", Some(password))
            .send()
            .await
            .unwrap();
        let expected = if password == "wrong" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status(), expected, "{password}");
    }
    let anonymous = app.taxii(Method::GET, &objects).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    app.stop().await;
}
