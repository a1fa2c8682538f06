//! `stixgate backup` and `restore`: a store with every kind of record, backed up while served and while
//! stopped, restored, and compared through the API; and `export` of pretty-printed envelopes.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stixgate::config::{CollectionSettings, Settings};
use stixgate::store::{DuplicatePolicy, Engine, SslMode};

use crate::helpers::{
    COLLECTION, TestApp, encode_segment, indicator, run_cli, run_cli_with_env, spawn_app_with,
};
use crate::pg_cluster::Cluster;

const OTHER: &str = "0b7e3d2c-5a4f-4e6d-8c9b-1a2b3c4d5e6f";
const CONSUMER: &str = "backup-test";

/// New versions for a known id, and a second collection.
fn configure(settings: &mut Settings) {
    settings.intake.duplicate_policy = DuplicatePolicy::NewVersion;
    let mut other: CollectionSettings = settings.api_roots[0].collections[0].clone();
    other.id = OTHER.into();
    other.alias = Some("other".into());
    settings.api_roots[0].collections.push(other);
}

/// What the tests know of the store they built.
struct Built {
    envelope_ids: Vec<String>,
    status_ids: Vec<String>,
    /// A `next` cursor handed out before the backup.
    next: String,
}

fn envelope(id: &str, payload: Value) -> String {
    json!({"meta": {"uuid": id}, "payload": payload}).to_string()
}

async fn build(app: &TestApp) -> Built {
    let long = "l".repeat(250);
    let envelope_ids = [
        "plain",
        "with space",
        "quo\"te's",
        long.as_str(),
        "ünïcødé-идентификатор-標識",
        "versioned",
    ]
    .map(str::to_owned)
    .to_vec();
    let pretty = "{\n  \"meta\": {\"uuid\": \"plain\"},\n  \"payload\": {\n    \"source.ip\": \"192.0.2.1\",\n    \"comment\": \"two  spaces, a tab\\t and ünïcødé\"\n  }\n}\n";
    let mut bodies = vec![pretty.to_owned()];
    for (n, id) in envelope_ids[1..].iter().enumerate() {
        bodies.push(envelope(
            id,
            json!({"source.ip": format!("198.51.100.{n}"), "comment": "ç \u{2028} \"q\" \\ ✓"}),
        ));
    }
    for n in 1..3 {
        bodies.push(envelope(
            "versioned",
            json!({"source.ip": format!("203.0.113.{n}")}),
        ));
    }
    for body in bodies {
        let (status, answer) = app.post_envelopes("", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let mut status_ids = Vec::new();
    for (collection, objects) in [
        (
            COLLECTION,
            vec![
                indicator(1, "2021-01-01T00:00:00.000Z"),
                indicator(2, "2021-01-01T00:00:00.000Z"),
                indicator(3, "2021-01-01T00:00:00.000Z"),
            ],
        ),
        (COLLECTION, vec![indicator(1, "2022-02-02T00:00:00.000Z")]),
        (
            OTHER,
            vec![
                indicator(4, "2021-01-01T00:00:00.000Z"),
                indicator(4, "2023-03-03T00:00:00.123Z"),
            ],
        ),
    ] {
        let status = app.add_objects(collection, &objects).await;
        status_ids.push(status["id"].as_str().expect("a status id").to_owned());
    }
    let deleted = app
        .taxii(
            Method::DELETE,
            &format!(
                "/api/collections/{COLLECTION}/objects/{}/",
                indicator(3, "")["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    // The consumer reads to the end, so that reading again neither moves its cursor nor gives anything,
    // unless its note is lost; first the envelope maker makes what the POSTs above give.
    settled_backup(app.data.path()).await;
    assert!(!read_as_consumer(app).await.is_empty());
    let page = app
        .taxii_json(&format!(
            "/api/collections/{COLLECTION}/objects/?limit=2&match[version]=all"
        ))
        .await;
    let next = page["next"].as_str().expect("a next cursor").to_owned();
    Built {
        envelope_ids,
        status_ids,
        next,
    }
}

/// The IntelMQ feed from where the consumer's note says it stopped.
async fn read_as_consumer(app: &TestApp) -> String {
    let path = format!("/intelmq/feed?consumer={CONSUMER}&limit=1000");
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// Everything a client can see of the store, in a form two servers can be compared by.
#[derive(Debug, PartialEq)]
struct Seen {
    envelopes: Vec<(StatusCode, String)>,
    /// Per collection, every page of objects and of the manifest with `match[version]=all`: the
    /// `X-TAXII-Date-Added-*` headers and the body without `next`.
    pages: Vec<(String, String, String, Value)>,
    statuses: Vec<Value>,
    after_old_cursor: Value,
    consumer_again: String,
    misp_manifest: Value,
}

async fn seen(app: &TestApp, built: &Built) -> Seen {
    let mut envelopes = Vec::new();
    for id in &built.envelope_ids {
        let (status, bytes) = app.get_envelope(id).await;
        envelopes.push((status, String::from_utf8(bytes).unwrap()));
    }
    let mut pages = Vec::new();
    let collections = app.taxii_json("/api/collections/").await;
    for collection in collections["collections"].as_array().unwrap() {
        let id = collection["id"].as_str().unwrap();
        for endpoint in ["objects", "manifest"] {
            let mut next: Option<String> = None;
            loop {
                let cursor = next.map(|n| format!("&next={}", encode_segment(&n)));
                let path = format!(
                    "/api/collections/{id}/{endpoint}/?limit=2&match[version]=all{}",
                    cursor.unwrap_or_default()
                );
                let response = app.taxii(Method::GET, &path).send().await.unwrap();
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let dates = (
                    header("X-TAXII-Date-Added-First"),
                    header("X-TAXII-Date-Added-Last"),
                );
                let mut body: Value = response.json().await.unwrap();
                next = body
                    .as_object_mut()
                    .and_then(|b| b.remove("next"))
                    .and_then(|n| n.as_str().map(str::to_owned));
                pages.push((path.replace(&next_part(&path), ""), dates.0, dates.1, body));
                if next.is_none() {
                    break;
                }
            }
        }
    }
    let mut statuses = Vec::new();
    for id in &built.status_ids {
        statuses.push(app.taxii_json(&format!("/api/status/{id}/")).await);
    }
    let after_old_cursor = app
        .taxii_json(&format!(
            "/api/collections/{COLLECTION}/objects/?limit=2&match[version]=all&next={}",
            encode_segment(&built.next)
        ))
        .await;
    let consumer_again = read_as_consumer(app).await;
    let mut misp_manifest: Value = app
        .client
        .get(format!("{}/misp/intelmq/manifest.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An event's timestamp moves a second per batch of the feed's maintainer that changed it, and how envelopes
    // fall into batches depends on timing: a restored feed is made again, so its timestamps are not compared.
    for event in misp_manifest.as_object_mut().unwrap().values_mut() {
        assert!(event.get("timestamp").is_some(), "{event}");
        event.as_object_mut().unwrap().remove("timestamp");
    }
    Seen {
        envelopes,
        pages,
        statuses,
        after_old_cursor,
        consumer_again,
        misp_manifest,
    }
}

/// The `&next=...` of a page's path: cursors are compared by what they lead to, not by their text.
fn next_part(path: &str) -> String {
    path.find("&next=")
        .map_or_else(String::new, |at| path[at..].to_owned())
}

/// `backup` of a data directory that an in-process server just let go of: sled's background threads hold its
/// lock a little longer (sled #1289), and a `backup` meanwhile would look for a server that is gone.
async fn backup_when_unlocked(data: &Path) -> std::process::Output {
    for _ in 0..100 {
        let output = run_cli(&["backup", "-"], data, b"");
        if !String::from_utf8_lossy(&output.stderr).contains("in use by another process") {
            return output;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the data directory stayed locked");
}

/// A backup through the running server once the store has settled: the envelope maker makes the envelopes
/// of posted objects after the POSTs were answered, so the store may still change for a moment. Two backups
/// in a row that hold the same records show it has caught up; the later one is given back.
async fn settled_backup(data: &Path) -> std::process::Output {
    let take = || {
        let data = data.to_owned();
        tokio::task::spawn_blocking(move || run_cli(&["backup"], &data, b""))
    };
    let mut previous = take().await.unwrap();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let next = take().await.unwrap();
        succeeded(&next);
        if records(&next.stdout) == records(&previous.stdout) {
            return next;
        }
        previous = next;
    }
    panic!("the store did not settle: the envelope maker kept changing it");
}

/// A backup without its first line, which holds the time it was taken.
fn records(backup: &[u8]) -> &[u8] {
    let start = backup.iter().position(|&b| b == b'\n').unwrap() + 1;
    &backup[start..]
}

fn succeeded(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

fn export(data: &Path) -> Vec<u8> {
    let output = run_cli(&["export"], data, b"");
    succeeded(&output);
    output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_or_stopped_restores_everything() {
    let app = spawn_app_with(configure).await;
    let built = build(&app).await;
    let served = settled_backup(app.data.path()).await;
    assert!(succeeded(&served).contains("read by the server"));
    // Only the holder of the data directory's token gets a backup.
    let admin: Value =
        serde_json::from_slice(&std::fs::read(app.data.path().join("admin.json")).unwrap())
            .unwrap();
    let url = format!("{}/admin/backup", admin["url"].as_str().unwrap());
    let refused = app.client.post(&url).bearer_auth("not-the-token").send();
    assert_eq!(refused.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let before = seen(&app, &built).await;
    assert!(before.envelopes[0].1.starts_with("{\n  \"meta\""));
    assert!(before.envelopes.iter().all(|(s, _)| *s == StatusCode::OK));
    assert_eq!(before.consumer_again, "", "the consumer read to the end");
    let objects = |seen: &Seen| -> usize {
        seen.pages
            .iter()
            .map(|(_, _, _, body)| body["objects"].as_array().map_or(0, Vec::len))
            .sum()
    };
    // Two versions of indicator 1, indicator 2 and two of indicator 4, with their carriers; indicator 3
    // was deleted.
    assert!(objects(&before) > 5, "{:?}", before.pages);
    assert!(!format!("{:?}", before.pages).contains("000000000003"));
    assert!(
        before
            .misp_manifest
            .as_object()
            .is_some_and(|m| !m.is_empty())
    );
    let data = app.stop().await;
    let stopped = backup_when_unlocked(data.path()).await;
    succeeded(&stopped);
    assert_eq!(records(&served.stdout), records(&stopped.stdout));
    let first = String::from_utf8(served.stdout.clone()).unwrap();
    assert!(first.starts_with(r#"{"format":"stixgate-backup","version":1,"#));
    assert!(
        first
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    let exported = export(data.path());
    restores_spliced_and_from_envelopes_first(&stopped.stdout, &exported);
    for backup in [served.stdout, stopped.stdout] {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("restored");
        let restored = run_cli(&["restore", "-"], &target, &backup);
        assert!(succeeded(&restored).contains("restored into"));
        assert_eq!(export(&target), exported);
        let again = spawn_app_with(|s| {
            configure(s);
            s.data = target.clone();
        })
        .await;
        assert_eq!(seen(&again, &built).await, before);
        again.stop().await;
    }
}

/// A backup of a sled data directory, restored into a PostgreSQL database, and back: a backup of the database holds the
/// same records (envelopes with their positions, objects with their date_added, statuses, notes, the cursor
/// secret), and a server on it answers as the one on sled did, `next` cursors from before included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_sled_restores_into_postgresql_with_the_same_records_and_pages() {
    let app = spawn_app_with(configure).await;
    let built = build(&app).await;
    settled_backup(app.data.path()).await;
    let before = seen(&app, &built).await;
    let data = app.stop().await;
    let from_sled = backup_when_unlocked(data.path()).await;
    succeeded(&from_sled);
    let url = Cluster::get().fresh_database();
    let postgres = [
        ("STIXGATE_STORE__ENGINE", "postgres"),
        ("STIXGATE_STORE__URL", url.as_str()),
        ("STIXGATE_STORE__SSLMODE", "disable"),
    ];
    let node = tempfile::tempdir().unwrap();
    let restore =
        |backup: &[u8]| run_cli_with_env(&["restore", "-"], node.path(), backup, &postgres);
    let restored = restore(&from_sled.stdout);
    assert!(succeeded(&restored).contains("restored into the PostgreSQL database"));
    let again = restore(&from_sled.stdout);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the database holds data already"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let from_postgres = run_cli_with_env(&["backup", "-"], node.path(), b"", &postgres);
    succeeded(&from_postgres);
    assert_eq!(
        String::from_utf8_lossy(records(&from_postgres.stdout)),
        String::from_utf8_lossy(records(&from_sled.stdout))
    );
    let served = spawn_app_with(|s| {
        configure(s);
        s.store.engine = Engine::Postgres;
        s.store.url = Some(url.clone());
        s.store.sslmode = SslMode::Disable;
    })
    .await;
    assert_eq!(seen(&served, &built).await, before);
    served.stop().await;
    // And back: the database's backup restored into a sled directory gives the same records again.
    let parent = tempfile::tempdir().unwrap();
    let back = parent.path().join("back");
    succeeded(&run_cli(&["restore", "-"], &back, &from_postgres.stdout));
    let from_back = backup_when_unlocked(&back).await;
    assert_eq!(records(&from_back.stdout), records(&from_sled.stdout));
}

/// Objects come before envelopes in a backup, so that a restore stores an envelope spliced onto the object text it
/// embeds, as the server did; a backup with the envelopes first (as earlier versions wrote) restores the same
/// records, only with the envelopes' texts whole.
fn restores_spliced_and_from_envelopes_first(backup: &[u8], exported: &[u8]) {
    let text = std::str::from_utf8(backup).unwrap();
    let kind = |line: &str| serde_json::from_str::<Value>(line).unwrap()["kind"].clone();
    let (first_object, first_envelope) = (
        text.lines().position(|l| kind(l) == "object").unwrap(),
        text.lines().position(|l| kind(l) == "envelope").unwrap(),
    );
    assert!(first_object < first_envelope);
    let (envelopes, others): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| kind(l) == "envelope");
    let mut reordered = vec![others[0], others[1]];
    reordered.extend(envelopes);
    reordered.extend(&others[2..]);
    let parent = tempfile::tempdir().unwrap();
    let texts = |backup: &[u8], name: &str| -> u64 {
        let target = parent.path().join(name);
        succeeded(&run_cli(&["restore", "-"], &target, backup));
        assert_eq!(export(&target), exported);
        let segments = std::fs::read_dir(target.join("texts")).unwrap();
        segments.map(|s| s.unwrap().metadata().unwrap().len()).sum()
    };
    let spliced = texts(backup, "spliced");
    let whole = texts(reordered.join("\n").as_bytes(), "envelopes-first");
    assert!(
        spliced < whole,
        "{spliced} bytes of texts, {whole} with envelopes first"
    );
}

#[test]
fn restore_refuses_a_directory_that_is_not_empty() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("keep.txt"), "mine").unwrap();
    let backup = small_backup();
    let output = run_cli(&["restore", "-"], data.path(), &backup);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(
        stderr.contains(&data.path().display().to_string()),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn a_bad_line_is_named_and_nothing_is_left_behind() {
    let backup = String::from_utf8(small_backup()).unwrap();
    let mut lines: Vec<&str> = backup.lines().collect();
    assert!(lines.len() > 4);
    lines[3] = r#"{"kind":"envelope","id":"cut"#;
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("restored");
    let output = run_cli(&["restore", "-"], &target, lines.join("\n").as_bytes());
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 4:"), "{stderr}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    // Valid JSON, but an id the store could not key.
    let nul = backup
        .lines()
        .find(|l| l.contains(r#""kind":"envelope""#))
        .unwrap()
        .replacen("small-", "small\\u0000", 1);
    lines[3] = &nul;
    let output = run_cli(&["restore", "-"], &target, lines.join("\n").as_bytes());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("line 4: the envelope id contains a control character"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    let whole: Vec<&str> = backup.lines().collect();
    let truncated = whole[..whole.len() - 1].join("\n");
    let output = run_cli(&["restore", "-"], &target, truncated.as_bytes());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("without its end record"), "{stderr}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

/// A backup of a store holding a few imported envelopes.
fn small_backup() -> Vec<u8> {
    let data = tempfile::tempdir().unwrap();
    let input = (0..5)
        .map(|n| envelope(&format!("small-{n}"), json!({"source.ip": "192.0.2.9"})) + "\n")
        .collect::<String>();
    succeeded(&run_cli(&["import", "-"], data.path(), input.as_bytes()));
    let output = run_cli(&["backup"], data.path(), b"");
    succeeded(&output);
    output.stdout
}

#[test]
fn export_writes_a_pretty_printed_envelope_as_one_line_that_import_takes_back() {
    let first = tempfile::tempdir().unwrap();
    let pretty = "{\n  \"meta\": {\n    \"uuid\": \"pretty 1\"\n  },\n  \"payload\": {\"source.ip\": \"192.0.2.7\", \"comment\": \"a  b\\n c\"}\n}";
    let compact = envelope("compact 1", json!({"source.ip": "192.0.2.8"}));
    let dir = tempfile::tempdir().unwrap();
    let (pretty_file, compact_file) = (dir.path().join("pretty.json"), dir.path().join("c.ndjson"));
    std::fs::write(&pretty_file, pretty).unwrap();
    std::fs::write(&compact_file, format!("{compact}\n")).unwrap();
    let files = [
        pretty_file.to_str().unwrap(),
        compact_file.to_str().unwrap(),
    ];
    succeeded(&run_cli(
        &[&["import"][..], &files].concat(),
        first.path(),
        b"",
    ));
    let exported = String::from_utf8(export(first.path())).unwrap();
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 2, "{exported}");
    let value: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(value, serde_json::from_str::<Value>(pretty).unwrap());
    assert_eq!(
        lines[0],
        r#"{"meta":{"uuid":"pretty 1"},"payload":{"source.ip":"192.0.2.7","comment":"a  b\n c"}}"#
    );
    assert_eq!(lines[1], compact);
    let second = tempfile::tempdir().unwrap();
    succeeded(&run_cli(
        &["import", "-"],
        second.path(),
        exported.as_bytes(),
    ));
    assert_eq!(String::from_utf8(export(second.path())).unwrap(), exported);
}

/// Envelope versions and carrier objects in a backup: each stored envelope has exactly one carrier, so the
/// two counts differ if the backup read the envelopes and the objects at different moments.
fn envelopes_and_carriers(backup: &[u8]) -> (usize, usize) {
    let (mut envelopes, mut carriers) = (0, 0);
    for line in String::from_utf8_lossy(backup).lines().skip(1) {
        let record: Value = serde_json::from_str(line).unwrap();
        match record["kind"].as_str() {
            Some("envelope") => envelopes += 1,
            Some("object") => {
                let object: Value = serde_json::from_str(record["text"].as_str().unwrap()).unwrap();
                if object["type"] == "iep04-envelope" {
                    carriers += 1;
                }
            }
            _ => {}
        }
    }
    (envelopes, carriers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_while_envelopes_arrive_is_one_moment_of_the_store() {
    let app = spawn_app_with(|_| {}).await;
    let batch: String = (0..400)
        .map(|n| envelope(&format!("first-{n}"), json!({"source.ip": "192.0.2.1"})) + "\n")
        .collect();
    assert_eq!(app.post_envelopes("", batch).await.0, StatusCode::OK);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let writing = {
        let (client, address) = (app.client.clone(), app.address.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !*stopped.borrow_and_update() {
                let body = envelope(&format!("during-{n}"), json!({"source.ip": "192.0.2.2"}));
                let posted = client.post(format!("{address}/envelopes")).body(body);
                assert!(posted.send().await.unwrap().status().is_success());
                n += 1;
            }
            n
        })
    };
    let data = app.data.path().to_owned();
    let backup = tokio::task::spawn_blocking(move || run_cli(&["backup"], &data, b""))
        .await
        .unwrap();
    stop.send(true).unwrap();
    let written_during = writing.await.unwrap();
    succeeded(&backup);
    let (envelopes, carriers) = envelopes_and_carriers(&backup.stdout);
    assert!(envelopes >= 400, "{envelopes}");
    assert_eq!(
        envelopes, carriers,
        "{written_during} envelopes came meanwhile"
    );
    app.stop().await;
}
