//! What a hostile client tried (issue 22's low findings), each refused or bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use stixgate::config::{AddressBlock, UserSettings};
use stixgate::secret::hash_password;

use crate::helpers::{
    COLLECTION, TAXII, TestApp, collection, indicator, run_cli, spawn_app, spawn_app_with, user,
};

/// A second collection, for a second API root.
const ELSEWHERE: &str = "55555555-5555-4555-8555-555555555555";

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
/// of it. (Credentials are checked where users exist: without them, they are ignored.)
#[tokio::test]
async fn a_refused_authorization_header_is_not_repeated() {
    let app = spawn_app_with(|settings| settings.users = vec![user("alice")]).await;
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

/// An API root is shown (title, description, collections) only to whom it holds a collection: a user with
/// no right there, or with rights only in another root, gets the 404 of a root that does not exist.
#[tokio::test]
async fn an_api_root_is_shown_only_to_callers_who_see_a_collection_in_it() {
    let app = spawn_app_with(|settings| {
        let user = |name: &str| UserSettings {
            name: name.into(),
            password: Some(hash_password(&format!("{name}-pw"))),
            tokens: Vec::new(),
            admin: name == "admin",
        };
        settings.users = vec![user("alice"), user("bob"), user("admin")];
        settings.intake.collection = COLLECTION.into();
        settings.api_roots[0].title = "first root title".into();
        settings.api_roots[0].collections = vec![collection(COLLECTION, &["alice"], &[], false)];
        let mut other = settings.api_roots[0].clone();
        other.path = "other".into();
        other.title = "other root title".into();
        other.collections = vec![collection(ELSEWHERE, &["bob"], &[], false)];
        settings.api_roots.push(other);
    })
    .await;
    let cases = [
        ("alice", "/api/", StatusCode::OK),
        ("alice", "/api/collections/", StatusCode::OK),
        ("alice", "/other/", StatusCode::NOT_FOUND),
        ("alice", "/other/collections/", StatusCode::NOT_FOUND),
        ("bob", "/other/", StatusCode::OK),
        ("bob", "/api/", StatusCode::NOT_FOUND),
        ("admin", "/api/", StatusCode::NOT_FOUND),
        ("admin", "/other/collections/", StatusCode::NOT_FOUND),
    ];
    for (user, path, expected) in cases {
        let response = app
            .taxii(Method::GET, path)
            .basic_auth(user, Some(format!("{user}-pw")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{user} {path}");
        let body = response.text().await.unwrap();
        if expected == StatusCode::NOT_FOUND {
            assert!(!body.contains("root title"), "{user} {path}: {body}");
            assert!(
                !body.contains(ELSEWHERE) && !body.contains(COLLECTION),
                "{body}"
            );
        }
    }
    let anonymous = app.taxii(Method::GET, "/other/").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// RFC 9112 §6.1: a request with both `Content-Length` and `Transfer-Encoding` is refused, and the server
/// closes the connection after answering, so that nothing after it on the connection is served.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let app = spawn_app().await;
    let (answer, _) = raw_exchange(
        &app,
        b"POST /envelopes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\
          Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
          GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // The request behind it on the connection is never served.
    assert!(!answer.contains("200 OK"), "{answer}");
    app.stop().await;
}

/// A TAXII object with a key twice (here its TLP marking, AMBER then WHITE) would be read differently by
/// different readers: it is refused, at any depth, with the key named, and nothing is stored.
#[tokio::test]
async fn a_taxii_object_with_a_repeated_key_is_refused_naming_it() {
    let app = spawn_app().await;
    let amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
    let white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
    let object = |n: u32, duplicate: &str| {
        let text = indicator(n, "2020-01-01T00:00:00.000Z").to_string();
        format!("{},{duplicate}}}", &text[..text.len() - 1])
    };
    let cases = [
        (
            object(
                1,
                &format!(r#""object_marking_refs":["{amber}"],"object_marking_refs":["{white}"]"#),
            ),
            r#"duplicate key "object_marking_refs" in the top-level object"#,
        ),
        (
            object(2, r#""extensions":{"x":{"a":1,"a":2}}"#),
            r#"duplicate key "a" in `extensions.x`"#,
        ),
    ];
    let objects = format!("/api/collections/{COLLECTION}/objects/");
    for (text, expected) in cases {
        let response = app
            .taxii(Method::POST, &objects)
            .header("Content-Type", TAXII)
            .body(format!(r#"{{"objects":[{text}]}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let status: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status["failure_count"], 1, "{status}");
        let message = status["failures"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let listing = app.taxii_json(&objects).await;
    assert!(listing.get("objects").is_none(), "{listing}");
    app.stop().await;
}

/// The operator page's URLs follow `Forwarded` and `X-Forwarded-Host` only from a trusted proxy: from
/// anyone else they name the request's own `Host`.
#[tokio::test]
async fn proxy_headers_change_the_operator_pages_urls_only_from_trusted_proxies() {
    async fn front_page(app: &TestApp, headers: &[(&str, &str)]) -> String {
        let mut request = app.client.get(format!("{}/", app.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }
    let forged: [&[(&str, &str)]; 2] = [
        &[("Forwarded", "host=evil.example;proto=https")],
        &[
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
        ],
    ];
    let app = spawn_app().await;
    let own = format!("{}/api/collections/{COLLECTION}/", app.address);
    for headers in forged {
        let page = front_page(&app, headers).await;
        assert!(!page.contains("evil.example"), "{headers:?}");
        assert!(page.contains(&own), "{headers:?}: {page}");
    }
    app.stop().await;
    let behind_proxy = spawn_app_with(|settings| {
        settings.trusted_proxies = vec![AddressBlock::try_from("127.0.0.1/32".to_owned()).unwrap()];
    })
    .await;
    for headers in forged {
        let page = front_page(&behind_proxy, headers).await;
        assert!(
            page.contains(&format!(
                "https://evil.example/api/collections/{COLLECTION}/"
            )),
            "{headers:?}: {page}"
        );
    }
    behind_proxy.stop().await;
}

/// A writer that stops sending mid-body is answered 408 and its connection closed after `body_timeout`
/// (here 2 s), instead of keeping the connection as long as it likes.
#[tokio::test]
async fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let app = spawn_app_with(|settings| settings.body_timeout = 2).await;
    let (answer, waited) = raw_exchange(
        &app,
        b"POST /envelopes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n\
          {\"meta\": {\"uuid\": \"stalled\"}, ",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    app.stop().await;
}

/// Sends `request` as raw bytes on a new connection and reads until the server closes it, with how long
/// that took. A read that times out (after 60 s, far past any timeout of these tests) fails the test: the
/// server kept the connection open.
pub(crate) async fn raw_exchange(app: &TestApp, request: &'static [u8]) -> (String, Duration) {
    let address = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let started = std::time::Instant::now();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        let waited = started.elapsed();
        assert!(read.is_ok(), "the connection stayed open for {waited:?}");
        (String::from_utf8_lossy(&answer).into_owned(), waited)
    })
    .await
    .unwrap()
}
