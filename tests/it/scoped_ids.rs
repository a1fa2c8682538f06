//! Collections that leak nothing (issue 22, findings 3 and 10): an envelope id is unique within its collection,
//! so that a writer of `pub` learns nothing of what `amber` holds and changes nothing there, `GET /envelopes/{id}`
//! looks only where the caller may read, and IntelMQ feed positions count one collection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use stixgate::config::{Settings, UserSettings};
use stixgate::secret::hash_password;
use stixgate::store::{DuplicatePolicy, Store};

use crate::helpers::{
    COLLECTION as DEFAULT, TestApp, collection, encode_segment, run_cli, spawn_app_with,
};

const PUB: &str = "66666666-6666-4666-8666-666666666666";
const AMBER: &str = "77777777-7777-4777-8777-777777777777";

/// `pub` and `amber` (aliases of those names), each with a reader and a writer; `both` reads both.
fn configure(settings: &mut Settings, policy: DuplicatePolicy) {
    let user = |name: &str| UserSettings {
        name: name.into(),
        password: Some(hash_password(&format!("{name}-pw"))),
        tokens: Vec::new(),
        admin: false,
    };
    settings.users = [
        "pub-reader",
        "pub-writer",
        "amber-reader",
        "amber-writer",
        "both",
    ]
    .map(user)
    .to_vec();
    let mut public = collection(PUB, &["pub-reader", "both"], &["pub-writer"], false);
    public.alias = Some("pub".into());
    let mut amber = collection(AMBER, &["amber-reader", "both"], &["amber-writer"], false);
    amber.alias = Some("amber".into());
    settings.api_roots[0].collections = vec![public, amber];
    settings.intake.collection = PUB.into();
    settings.intake.duplicate_policy = policy;
}

async fn app(policy: DuplicatePolicy) -> TestApp {
    spawn_app_with(|settings| configure(settings, policy)).await
}

fn envelope(id: &str, payload: Value) -> String {
    json!({"meta": {"uuid": id}, "payload": payload}).to_string()
}

/// Posts `body` to `path` (`/envelopes` or `/intelmq/events`) of `collection` as `user`; the answer's JSON.
async fn post(app: &TestApp, user: &str, path: &str, collection: &str, body: String) -> Value {
    let response = app
        .client
        .post(format!("{}{path}?collection={collection}", app.address))
        .basic_auth(user, Some(format!("{user}-pw")))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{user} posts to {collection}"
    );
    response.json().await.unwrap()
}

/// `GET /envelopes/{id}` (with `query`) as `user`: the status and the body.
async fn get(app: &TestApp, user: &str, id: &str, query: &str) -> (StatusCode, Vec<u8>) {
    let response = app
        .client
        .get(format!(
            "{}/envelopes/{}{query}",
            app.address,
            encode_segment(id)
        ))
        .basic_auth(user, Some(format!("{user}-pw")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_same_id_in_pub_and_amber_is_two_envelopes_each_read_by_its_own_readers() {
    let app = app(DuplicatePolicy::KeepFirst).await;
    let amber_text = envelope("shared", json!({"source.ip": "192.0.2.1", "tlp": "amber"}));
    let pub_text = envelope("shared", json!({"source.ip": "198.51.100.1"}));
    let answer = post(
        &app,
        "amber-writer",
        "/envelopes",
        "amber",
        amber_text.clone(),
    )
    .await;
    assert_eq!(answer["stored"], 1);
    let answer = post(&app, "pub-writer", "/envelopes", "pub", pub_text.clone()).await;
    assert_eq!(answer["records"][0]["status"], "stored", "{answer}");
    assert!(answer["records"][0].get("message").is_none(), "{answer}");

    let read = get(&app, "pub-reader", "shared", "").await;
    assert_eq!(read, (StatusCode::OK, pub_text.clone().into_bytes()));
    let read = get(&app, "amber-reader", "shared", "").await;
    assert_eq!(read, (StatusCode::OK, amber_text.clone().into_bytes()));
    // A reader of both is told where the two are, and picks one by id or alias.
    let (status, body) = get(&app, "both", "shared", "").await;
    assert_eq!(status, StatusCode::MULTIPLE_CHOICES);
    let places: Value = serde_json::from_slice(&body).unwrap();
    let mut collections: Vec<&str> = places["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    collections.sort_unstable();
    assert_eq!(collections, [PUB, AMBER]);
    let read = get(&app, "both", "shared", "?collection=amber").await;
    assert_eq!(read, (StatusCode::OK, amber_text.into_bytes()));
    let read = get(&app, "both", "shared", &format!("?collection={PUB}")).await;
    assert_eq!(read, (StatusCode::OK, pub_text.into_bytes()));
    app.stop().await;
}

#[tokio::test]
async fn a_pub_writer_posting_ambers_id_or_event_is_told_stored_and_amber_is_unchanged() {
    let app = app(DuplicatePolicy::KeepFirst).await;
    let amber_text = envelope("amber-1", json!({"source.ip": "192.0.2.7"}));
    post(
        &app,
        "amber-writer",
        "/envelopes",
        "amber",
        amber_text.clone(),
    )
    .await;
    // amber's exact envelope, and another envelope with amber's id: neither is a duplicate in pub.
    let answer = post(&app, "pub-writer", "/envelopes", "pub", amber_text.clone()).await;
    assert_eq!(answer["records"][0]["status"], "stored", "{answer}");
    let other = envelope("amber-1", json!({"source.ip": "203.0.113.7"}));
    let answer = post(&app, "pub-writer", "/envelopes", "pub", other.clone()).await;
    assert_eq!(
        answer["records"][0]["status"], "duplicate",
        "pub's own first one"
    );
    // The exact IntelMQ event amber holds (its id is its content's hash).
    let event = json!({"classification.type": "scanner", "source.ip": "192.0.2.8"}).to_string();
    let answer = post(
        &app,
        "amber-writer",
        "/intelmq/events",
        "amber",
        event.clone(),
    )
    .await;
    assert_eq!(answer["status"], "stored", "{answer}");
    let answer = post(&app, "pub-writer", "/intelmq/events", "pub", event).await;
    assert_eq!(answer["status"], "stored", "{answer}");

    let read = get(&app, "amber-reader", "amber-1", "").await;
    assert_eq!(read, (StatusCode::OK, amber_text.into_bytes()));
    app.stop().await;
}

#[tokio::test]
async fn new_versions_in_pub_never_change_what_ambers_reader_gets() {
    let app = app(DuplicatePolicy::NewVersion).await;
    let amber_text = envelope("versioned", json!({"source.ip": "192.0.2.9"}));
    post(
        &app,
        "amber-writer",
        "/envelopes",
        "amber",
        amber_text.clone(),
    )
    .await;
    for n in 1..=3 {
        let text = envelope("versioned", json!({"source.ip": format!("198.51.100.{n}")}));
        let answer = post(&app, "pub-writer", "/envelopes", "pub", text).await;
        assert_eq!(answer["records"][0]["status"], "stored", "{answer}");
    }
    let read = get(&app, "amber-reader", "versioned", "").await;
    assert_eq!(read, (StatusCode::OK, amber_text.into_bytes()));
    let (status, body) = get(&app, "pub-reader", "versioned", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("198.51.100.3"));
    app.stop().await;
}

#[tokio::test]
async fn an_id_only_amber_holds_answers_a_pub_reader_exactly_as_an_unknown_id() {
    let app = app(DuplicatePolicy::KeepFirst).await;
    let held = "held-by-amber";
    let unknown = "held-by-stone";
    post(
        &app,
        "amber-writer",
        "/envelopes",
        "amber",
        envelope(held, json!({})),
    )
    .await;
    // The same length, so that the bodies compare byte for byte once the id is swapped.
    assert_eq!(held.len(), unknown.len());
    for (user, query) in [
        ("pub-reader", ""),
        ("pub-writer", ""),
        ("amber-writer", ""),
        ("pub-reader", "?collection=pub"),
        ("pub-reader", "?collection=amber"),
    ] {
        let (held_status, held_body) = get(&app, user, held, query).await;
        let (unknown_status, unknown_body) = get(&app, user, unknown, query).await;
        assert_eq!(held_status, unknown_status, "{user} {query}");
        assert!(
            held_status.is_client_error(),
            "{user} {query}: {held_status}"
        );
        let swapped = String::from_utf8(held_body).unwrap().replace(held, unknown);
        assert_eq!(
            swapped,
            String::from_utf8(unknown_body).unwrap(),
            "{user} {query}"
        );
    }
    let (status, _) = get(&app, "pub-reader", held, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, "amber-reader", held, "").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

/// The position a feed cursor names: its first eight bytes.
fn position(cursor: &str) -> u64 {
    let token = URL_SAFE_NO_PAD.decode(cursor).unwrap();
    u64::from_be_bytes(token[..8].try_into().unwrap())
}

/// One page of pub's feed as its reader, after `cursor`: the events and the next cursor.
async fn pub_feed(app: &TestApp, cursor: Option<&str>) -> (usize, String) {
    let query = cursor.map_or_else(String::new, |c| format!("&cursor={c}"));
    let response = app
        .client
        .get(format!(
            "{}/intelmq/feed?collection=pub{query}",
            app.address
        ))
        .basic_auth("pub-reader", Some("pub-reader-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let next = response.headers()["X-Stixgate-Cursor"]
        .to_str()
        .unwrap()
        .to_owned();
    let lines = response.text().await.unwrap().lines().count();
    (lines, next)
}

#[tokio::test]
async fn a_pub_feed_cursor_counts_pub_alone_and_never_moves_for_amber() {
    let app = app(DuplicatePolicy::KeepFirst).await;
    let event = |ip: &str| json!({"classification.type": "scanner", "source.ip": ip}).to_string();
    for ip in ["198.51.100.1", "198.51.100.2"] {
        post(&app, "pub-writer", "/intelmq/events", "pub", event(ip)).await;
    }
    let (lines, cursor) = pub_feed(&app, None).await;
    assert_eq!((lines, position(&cursor)), (2, 1));
    for n in 1..=5 {
        post(
            &app,
            "amber-writer",
            "/intelmq/events",
            "amber",
            event(&format!("192.0.2.{n}")),
        )
        .await;
    }
    // Nothing new in pub: the cursor stays where it was.
    let (lines, after_amber) = pub_feed(&app, Some(&cursor)).await;
    assert_eq!((lines, after_amber.as_str()), (0, cursor.as_str()));
    // pub's next event takes pub's next position, with no gap for amber's five.
    post(
        &app,
        "pub-writer",
        "/intelmq/events",
        "pub",
        event("198.51.100.3"),
    )
    .await;
    let (lines, next) = pub_feed(&app, Some(&cursor)).await;
    assert_eq!((lines, position(&next)), (1, 2));
    app.stop().await;
}

/// The (id, version, position, collection) of each envelope record of a backup, in its order.
fn envelope_records(backup: &[u8]) -> Vec<(String, u64, u64, String)> {
    let text = std::str::from_utf8(backup).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["kind"] == "envelope")
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap().to_owned();
            let number = |key: &str| r[key].as_u64().unwrap();
            (
                text("id"),
                number("version"),
                number("position"),
                text("collection"),
            )
        })
        .collect()
}

/// A backup of an earlier stixgate numbered envelopes across collections (here the default configuration's
/// collection, which `import` stores into, and amber), and could hold an id's versions in two
/// collections; a backup of this one may hold the same id in two collections. Both restore whole, with their
/// positions, and each collection's next envelope follows its own last and, for a backup of positions across
/// collections, the backup's last.
#[test]
fn backups_with_positions_across_collections_and_one_id_in_two_restore_whole() {
    let record = |id: &str, version: u32, position: u64, collection: &str| {
        json!({"kind": "envelope", "id": id, "version": version, "position": position,
               "collection": collection, "received": 1_795_803_091_605_259u64 + position,
               "text": envelope(id, json!({"n": position}))})
        .to_string()
    };
    let envelopes = [
        record("x", 0, 0, DEFAULT),
        record("a", 0, 1, AMBER),
        // The earlier stixgate stored x's next version in amber.
        record("x", 1, 2, AMBER),
        record("p", 0, 3, DEFAULT),
        // Only per-collection ids allow these two.
        record("y", 0, 4, DEFAULT),
        record("y", 0, 5, AMBER),
    ];
    let mut lines = vec![json!({"format": "stixgate-backup", "version": 1}).to_string()];
    lines.extend(envelopes.iter().cloned());
    lines.push(json!({"kind": "end", "records": envelopes.len()}).to_string());
    let data = tempfile::tempdir().unwrap();
    let target = data.path().join("restored");
    let output = run_cli(&["restore", "-"], &target, lines.join("\n").as_bytes());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let imported = envelope("q", json!({"source.ip": "198.51.100.9"}));
    let output = run_cli(
        &["import", "--collection", DEFAULT, "-"],
        &target,
        imported.as_bytes(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run_cli(&["backup"], &target, b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = |id: &str, version, position, collection: &str| {
        (id.to_owned(), version, position, collection.to_owned())
    };
    assert_eq!(
        envelope_records(&output.stdout),
        [
            record("x", 0, 0, DEFAULT),
            record("p", 0, 3, DEFAULT),
            record("y", 0, 4, DEFAULT),
            // After the backup's last position: a cursor handed out before may name any collection's position.
            record("q", 0, 6, DEFAULT),
            record("a", 0, 1, AMBER),
            record("x", 1, 2, AMBER),
            record("y", 0, 5, AMBER),
        ]
    );
}

/// A pull stores the remote's envelope ids in the local target collection: the same remote pulled into two local
/// collections gives each its own envelopes (none is a duplicate of the other's), each with its provenance.
#[test]
fn a_remote_pulled_into_two_local_collections_gives_each_its_own_envelopes() {
    let remote = tempfile::tempdir().unwrap();
    let sent = crate::federation::envelopes("pulled", 3);
    crate::federation::import(remote.path(), &sent);
    let server = crate::helpers::ServerProcess::start(remote.path());
    let url = crate::federation::collection_url(&server);
    let local = tempfile::tempdir().unwrap();
    let config = local.path().join("stixgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n\
             [[api_roots.collections]]\nid = \"{DEFAULT}\"\nalias = \"intelmq\"\ntitle = \"c\"\n\
             [[api_roots.collections]]\nid = \"{AMBER}\"\nalias = \"amber\"\ntitle = \"a\"\n"
        ),
    )
    .unwrap();
    let data = local.path().join("data");
    let config = config.to_str().unwrap();
    for into in ["intelmq", "amber"] {
        let pulled = run_cli(
            &["pull", "--config", config, "--into", into, &url],
            &data,
            b"",
        );
        let summary = crate::federation::succeeds(&pulled);
        assert_eq!(
            crate::federation::count(&summary, "new envelopes"),
            3,
            "{summary}"
        );
    }
    server.terminate();
    let store = stixgate::store::SledStore::open(&data).unwrap();
    for collection in [DEFAULT, AMBER] {
        for (n, text) in sent.iter().enumerate() {
            let id = format!("pulled-{n}");
            let stored = store.envelope(collection, &id).unwrap().expect("pulled");
            assert_eq!(
                (stored.version, stored.text),
                (0, text.clone().into_bytes())
            );
            let provenance =
                stixgate::federation::read_provenance(&store, collection, &id).unwrap();
            assert!(provenance.is_some(), "{collection} {id}");
        }
    }
}
