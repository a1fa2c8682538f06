//! The URLs the operator page offers for copying work when pasted into the client they are meant for
//! (issue 24): MISP's feed URL as MISP builds its files' URLs from it, IntelMQ's feed URL polled again and
//! again, and `GET /envelopes/{id}` answering an unknown id 404 to an anonymous reader where users exist.

use reqwest::StatusCode;
use serde_json::{Value, json};
use stixgate::config::{Settings, UserSettings};
use stixgate::secret::hash_password;

use crate::helpers::{
    COLLECTION, TestApp, collection, encode_segment, fixtures, spawn_app, spawn_app_with,
};

/// The URL the operator page shows under `label`, as a user copies it from the field.
async fn copied_url(app: &TestApp, label: &str) -> String {
    let page = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = page
        .split("<label class=\"url\">")
        .find(|field| field.starts_with(&format!("<span>{label}</span>")))
        .unwrap_or_else(|| panic!("the page shows a {label} URL: {page}"));
    let value = field
        .split("value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the field has a value");
    value.replace("&amp;", "&")
}

async fn post_fixtures(app: &TestApp) {
    for name in ["sinkhole.event.json", "n6-blacklist.event.json"] {
        let body = std::fs::read(fixtures().join("intelmq").join(name)).unwrap();
        let (status, answer) = app.post_envelopes("", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

async fn fetch(app: &TestApp, url: &str) -> (StatusCode, String) {
    let response = app.client.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_misp_feed_url_fetches_the_manifest_as_misp_builds_it_and_with_a_final_slash_too() {
    let app = spawn_app().await;
    post_fixtures(&app).await;
    let url = copied_url(&app, "MISP feed").await;
    assert!(!url.ends_with('/'), "MISP appends '/manifest.json': {url}");
    // MISP's Feed model: `$feed['Feed']['url'] . '/manifest.json'`, and each event as `'/' . $uuid . '.json'`.
    let (status, manifest) = fetch(&app, &format!("{url}/manifest.json")).await;
    assert_eq!(status, StatusCode::OK, "{manifest}");
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    let events: Vec<&String> = manifest.as_object().unwrap().keys().collect();
    assert_eq!(events.len(), 2, "{manifest}");
    let (status, event) = fetch(&app, &format!("{url}/{}.json", events[0])).await;
    assert_eq!(status, StatusCode::OK, "{event}");

    // A URL pasted with its final `/` (as the page once showed it) gets the same files.
    let slashed = format!("{url}/");
    let files = [
        "manifest.json".to_owned(),
        "hashes.csv".to_owned(),
        format!("{}.json", events[1]),
    ];
    for file in &files {
        let single = fetch(&app, &format!("{url}/{file}")).await;
        let double = fetch(&app, &format!("{slashed}/{file}")).await;
        assert_eq!(single.0, StatusCode::OK, "{file}: {}", single.1);
        assert_eq!(double, single, "{slashed}/{file}");
    }
    let (status, _) = fetch(&app, &format!("{slashed}/no-such-file.json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_intelmq_feed_url_polled_twice_returns_the_events_once() {
    let app = spawn_app().await;
    post_fixtures(&app).await;
    let url = copied_url(&app, "IntelMQ feed").await;
    assert!(url.contains("consumer="), "{url}");
    let (status, first) = fetch(&app, &url).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first.lines().count(), 2, "{first}");
    let (status, second) = fetch(&app, &url).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second, "", "the second poll brings nothing new");
    let body = std::fs::read(fixtures().join("intelmq/sinkhole.draft.json")).unwrap();
    let (status, answer) = app.post_envelopes("", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, third) = fetch(&app, &url).await;
    assert_eq!(third.lines().count(), 1, "only the new event: {third}");
    app.stop().await;
}

const AMBER: &str = "77777777-7777-4777-8777-777777777777";

/// The worked example's B: users exist (an admin), and the default collection allows anonymous reads; a
/// second collection, `amber`, only its own reader may read.
fn users_and_an_anonymous_collection(settings: &mut Settings) {
    let user = |name: &str, admin| UserSettings {
        name: name.into(),
        password: Some(hash_password(&format!("{name}-pw"))),
        tokens: Vec::new(),
        admin,
    };
    settings.users = vec![user("ops", true), user("amber-rw", false)];
    let mut amber = collection(AMBER, &["amber-rw"], &["amber-rw"], false);
    amber.alias = Some("amber".into());
    settings.api_roots[0].collections.push(amber);
}

/// `GET /envelopes/{id}` without credentials: the status and the description of the answer.
async fn anonymous_get(app: &TestApp, id: &str) -> (StatusCode, String) {
    let url = format!("{}/envelopes/{}", app.address, encode_segment(id));
    let (status, body) = fetch(app, &url).await;
    let description = serde_json::from_str::<Value>(&body)
        .map(|error| error["description"].as_str().unwrap_or_default().to_owned())
        .unwrap_or(body);
    (status, description)
}

#[tokio::test]
async fn an_anonymous_reader_gets_404_for_an_unknown_id_and_for_one_it_cannot_read_where_users_exist()
 {
    let app = spawn_app_with(users_and_an_anonymous_collection).await;
    let unknown = "cert-at:intelmq:3f2b8c1e-7d4a-4e9b-a6c5-0d1e2f3a4b5c";
    let (status, description) = anonymous_get(&app, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{description}");

    let hidden = "only-in-amber";
    let response = app
        .client
        .post(format!("{}/envelopes?collection=amber", app.address))
        .basic_auth("amber-rw", Some("amber-rw-pw"))
        .body(json!({"meta": {"uuid": hidden}, "payload": {"source.ip": "192.0.2.1"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, description) = anonymous_get(&app, hidden).await;
    let (unknown_status, unknown_description) = anonymous_get(&app, "only-in-nowhere").await;
    assert_eq!(status, unknown_status, "{description}");
    assert_eq!(
        description.replace(hidden, "ID"),
        unknown_description.replace("only-in-nowhere", "ID"),
        "an id held only where the caller cannot read answers as an unknown one"
    );
    // Stored in the readable collection, it is found.
    let body = std::fs::read(fixtures().join("intelmq/sinkhole.draft.json")).unwrap();
    let (status, answer) = app
        .post_envelopes(&format!("?collection={COLLECTION}"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, text) = anonymous_get(&app, unknown).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    app.stop().await;
}

/// The `sh` blocks of a page of the book.
fn sh_blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(page))
        .expect("the book's page");
    text.split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `script` with sh in `dir`, the server of the book's examples replaced by `app`: its standard output.
async fn run_pasted(app: &TestApp, script: &str, dir: &std::path::Path) -> String {
    let script = script.replace("http://127.0.0.1:8080", &app.address);
    let dir = dir.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-e", "-c", &script])
            .current_dir(dir)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_sending_envelopes_commands_give_back_the_envelope_without_the_files_final_newline() {
    let app = spawn_app().await;
    let [commands] = <[String; 1]>::try_from(sh_blocks("docs/src/guide/sending-envelopes.md"))
        .expect("the page's one sh block");
    let output = run_pasted(&app, &commands, env!("CARGO_MANIFEST_DIR").as_ref()).await;
    let file = std::fs::read_to_string(fixtures().join("intelmq/sinkhole.draft.json")).unwrap();
    let envelope = file.strip_suffix('\n').expect("the fixture ends its line");
    assert!(output.ends_with(envelope), "{output}");
    assert!(
        !output.ends_with(&file),
        "the final newline is no part of the envelope"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_gzip_example_of_the_envelopes_api_posts_every_draft() {
    let app = spawn_app().await;
    let gzip = sh_blocks("docs/src/reference/envelopes-api.md")
        .into_iter()
        .find(|block| block.contains("gzip"))
        .expect("the page's gzip example");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(fixtures(), dir.path().join("fixtures")).unwrap();
    let answer: Value = serde_json::from_str(&run_pasted(&app, &gzip, dir.path()).await).unwrap();
    let drafts = std::fs::read_dir(fixtures().join("intelmq"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".draft.json")
        })
        .count();
    assert!(drafts > 1);
    assert_eq!(answer["stored"], drafts, "{answer}");
    app.stop().await;
}
