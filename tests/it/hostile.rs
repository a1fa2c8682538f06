//! What a hostile client tried (issue 22's low findings), each refused or bounded.

use std::os::unix::fs::PermissionsExt;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{COLLECTION, TAXII, TestApp, indicator, run_cli, spawn_app};

/// A backup holds the cursor secret and TLP:AMBER data: only its owner may read the file, even where a
/// file of the same name was there before.
#[test]
fn a_backup_file_is_readable_by_its_owner_only() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("stixgate.backup");
    let stale = out.path().join("stixgate.backup.partial");
    std::fs::write(&stale, b"left by a backup that broke off").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run_cli(&["backup", path.to_str().unwrap()], data.path(), b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

/// An `Authorization` value without a scheme is most likely a bare token or password: the 401 repeats none
/// of it.
#[tokio::test]
async fn a_refused_authorization_header_is_not_repeated() {
    let app = spawn_app().await;
    let secret = "s3cr3t".repeat(3_000);
    for value in [
        secret.clone(),
        format!("{secret} more"),
        format!("Digest {secret}"),
    ] {
        let response = app
            .taxii(Method::GET, "/taxii2/")
            .header("Authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = response.text().await.unwrap();
        assert!(!body.contains("s3cr3t"), "{body}");
        assert!(body.contains("neither Basic nor Bearer"), "{body}");
    }
    app.stop().await;
}

/// Every value from the request that an answer repeats is cut to 200 characters, wherever it was: the
/// query, the path, a header, the body, or the objects a status reports on.
#[tokio::test]
async fn echoed_values_are_cut_to_200_characters() {
    let app = spawn_app().await;
    let long = "q".repeat(7_000);
    let objects = format!("/api/collections/{COLLECTION}/objects/");
    let mut answers = Vec::new();
    for query in [
        format!("added_after={long}"),
        format!("limit={long}"),
        format!("match[id]={long}"),
        format!("match[id]=indicator--{long}"),
        format!("match[type]={long}"),
        format!("match[type]=indicator,{long},{long}"),
        format!("match[version]={long}"),
        format!("match[spec_version]={long}"),
        format!("{0}=1&{0}=2", &long[..3_000]),
    ] {
        answers.push(get(&app, &format!("{objects}?{query}"), &[]).await);
    }
    answers.push(get(&app, &format!("{objects}indicator--{long}/"), &[]).await);
    answers.push(get(&app, &format!("/api/status/{long}/"), &[]).await);
    answers.push(get(&app, &format!("/envelopes/{long}"), &[]).await);
    answers.push(get(&app, &format!("/intelmq/feed?collection={long}"), &[]).await);
    answers.push(get(&app, &format!("/intelmq/feed?id_key={long}"), &[]).await);
    answers.push(get(&app, &format!("/api/collections/?wait={long}"), &[]).await);
    answers.push(get(&app, &format!("/{long}"), &[]).await);
    answers.push(get(&app, &objects, &[("Accept", &long)]).await);
    for (name, value) in [
        ("Content-Type", long.clone()),
        ("Content-Encoding", long.clone()),
        ("Content-Type", format!("multipart/{long}")),
    ] {
        let response = app
            .taxii(Method::POST, &objects)
            .header(name, value)
            .body("{}")
            .send()
            .await
            .unwrap();
        answers.push(response.text().await.unwrap());
    }
    for record in [
        format!(r#"{{"meta": {{"uuid": "a"}}, "payload": {{"{long}": 1}}}}"#),
        format!(
            r#"{{"meta": {{"uuid": "b"}}, "payload": {{"x.y": 1, "x.y": 2, "__type": "{long}"}}}}"#
        ),
        format!(r#"{{"meta": {{"uuid": "c"}}, "payload": {{"__type": "{long}"}}}}"#),
        format!(
            r#"{{"meta": {{"uuid": "d"}}, "payload": {{"extra.{long}": 1, "extra.{long}": 2}}}}"#
        ),
        format!(r#"{{"meta": {{"uuid": "e"}}, "payload": ["{long}"]}}"#),
        format!(r#"{{"{long}": 1}}"#),
    ] {
        let (_, answer) = app.post_envelopes("", record).await;
        answers.push(answer.to_string());
    }
    let object = |key: &str, value: &str| {
        let mut object = indicator(1, "2020-01-01T00:00:00.000Z");
        object[key] = json!(value);
        object
    };
    for object in [
        object("id", &format!("indicator--{long}")),
        object("type", &long),
        object("created", &long),
        object("modified", &long),
        object("spec_version", &long),
    ] {
        let response = app
            .taxii(Method::POST, &objects)
            .header("Content-Type", TAXII)
            .json(&json!({ "objects": [object] }))
            .send()
            .await
            .unwrap();
        answers.push(response.text().await.unwrap());
    }
    let response = app
        .taxii(Method::POST, &objects)
        .header("Content-Type", TAXII)
        .json(&json!({ "objects": long }))
        .send()
        .await
        .unwrap();
    answers.push(response.text().await.unwrap());
    let whole: Vec<String> = answers
        .iter()
        .filter(|answer| answer.split(|c| c != 'q').any(|run| run.len() > 200))
        .map(|answer| answer.replace(&"q".repeat(200), "…"))
        .collect();
    assert!(whole.is_empty(), "repeated whole:\n{}", whole.join("\n"));
    app.stop().await;
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = app.taxii(Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().text().await.unwrap()
}
