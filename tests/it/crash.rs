//! A server killed with SIGKILL at a random moment keeps every envelope it acknowledged, and shows nothing
//! half-written, also while applied groups wait for their flush (the writer's pipeline, `src/store/writer/`). After every kill, the text log also gets the tail that a kill between the text write and the index
//! flush leaves (see `src/store/text_log/mod.rs`): a whole record no index entry names, then a record cut off.
//! A server killed after acknowledging a TAXII POST, before its envelope maker ran, makes the envelopes of the
//! posted objects when it starts again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::helpers::{ServerProcess, TAXII, run_cli, wait_for_envelope};

const ROUNDS: usize = 4;
const WRITERS: usize = 4;

fn envelope(round: usize, writer: usize, n: usize) -> String {
    format!(
        r#"{{"meta": {{"uuid": {{"current": "crash-{round}-{writer}-{n}"}}}}, "payload": {{"source.ip": "192.0.2.{}", "extra.pad": "{}"}}}}"#,
        n % 250 + 1,
        "p".repeat(n % 97)
    )
}

/// A kill delay between 100 and 600 ms that differs from run to run.
fn random_delay() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(100 + u64::from(nanos % 500))
}

/// Appends to the last text segment a whole record (written, never indexed) and a torn one.
fn append_unindexed_texts(data: &Path) {
    let texts = data.join("texts");
    let last = std::fs::read_dir(&texts)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "seg"))
        .max()
        .expect("the server wrote a text segment");
    let text = envelope(99, 99, 99);
    let mut tail = (text.len() as u32).to_be_bytes().to_vec();
    tail.extend_from_slice(&crc32fast::hash(text.as_bytes()).to_be_bytes());
    tail.extend_from_slice(text.as_bytes());
    tail.extend_from_slice(&[0, 0, 0, 200, 1, 2, 3, 4]);
    tail.extend_from_slice(&text.as_bytes()[..50]);
    let mut file = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    file.write_all(&tail).unwrap();
}

#[test]
fn acknowledged_envelopes_survive_sigkill() {
    acknowledged_envelopes_survive_sigkills(&[]);
}

/// The writer applies the next groups (their texts written and fsynced, their batches applied) while a flush
/// runs; held back here, so that most kills fall between the text write of a later group and the flush of an
/// earlier one.
#[test]
fn acknowledged_envelopes_survive_sigkill_while_earlier_groups_wait_for_their_flush() {
    acknowledged_envelopes_survive_sigkills(&[("WRITER_TEST_FLUSH_DELAY_MS", "40")]);
}

fn acknowledged_envelopes_survive_sigkills(env: &[(&str, &str)]) {
    let data = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sent: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let acknowledged: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    for round in 0..ROUNDS {
        let server = ServerProcess::start_with_env(data.path(), &["--listen", "127.0.0.1:0"], env);
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (address, sent, acknowledged) =
                    (server.address.clone(), sent.clone(), acknowledged.clone());
                runtime.spawn(async move {
                    let client = reqwest::Client::new();
                    for n in 0.. {
                        let id = format!("crash-{round}-{writer}-{n}");
                        let body = envelope(round, writer, n);
                        sent.lock().unwrap().insert(id.clone(), body.clone());
                        let Ok(response) = client
                            .post(format!("{address}/envelopes"))
                            .body(body)
                            .send()
                            .await
                        else {
                            break;
                        };
                        let Ok(answer) = response.json::<Value>().await else {
                            break;
                        };
                        assert_eq!(answer["stored"], 1, "{answer}");
                        acknowledged.lock().unwrap().insert(id);
                    }
                })
            })
            .collect();
        // The delay counts from the round's first acknowledgement: a busy machine may take a while to start.
        let acknowledged_before = acknowledged.lock().unwrap().len();
        let started = std::time::Instant::now();
        while acknowledged.lock().unwrap().len() == acknowledged_before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no write acknowledged"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(random_delay());
        server.kill();
        append_unindexed_texts(data.path());
        for writer in writers {
            runtime.block_on(writer).unwrap();
        }
    }
    let exported = run_cli(&["export"], data.path(), b"");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let sent = sent.lock().unwrap();
    let mut seen = BTreeSet::new();
    for line in String::from_utf8(exported.stdout).unwrap().lines() {
        let value: Value = serde_json::from_str(line).expect("nothing half-written");
        let id = value["meta"]["uuid"]["current"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            sent.get(&id).map(String::as_str),
            Some(line),
            "stored bytes differ for {id}"
        );
        assert!(seen.insert(id), "stored twice");
    }
    let acknowledged = acknowledged.lock().unwrap();
    assert!(
        acknowledged.len() >= ROUNDS,
        "the test wrote too little to mean anything"
    );
    let lost: Vec<_> = acknowledged.difference(&seen).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

fn foreign_indicator(n: usize) -> Value {
    serde_json::json!({"type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-02-03T04:05:06.000Z", "modified": "2024-02-03T04:05:06.000Z",
        "pattern_type": "stix", "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", n % 250),
        "valid_from": "2024-02-03T04:05:06Z"})
}

#[tokio::test]
async fn envelopes_of_acknowledged_objects_are_made_after_a_sigkill() {
    const POSTS: usize = 3;
    const PER_POST: usize = 200;
    let data = tempfile::tempdir().unwrap();
    let held_back = ServerProcess::start_with_env(
        data.path(),
        &["--listen", "127.0.0.1:0"],
        &[("ENVELOPE_MAKER_TEST_DELAY_MS", "600000")],
    );
    let client = reqwest::Client::new();
    for post in 0..POSTS {
        let objects: Vec<Value> = (post * PER_POST..(post + 1) * PER_POST)
            .map(foreign_indicator)
            .collect();
        let status: Value = client
            .post(format!(
                "{}/api/collections/intelmq/objects/",
                held_back.address
            ))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .json(&serde_json::json!({ "objects": objects }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["success_count"], PER_POST, "{status}");
    }
    let first = foreign_indicator(0)["id"].as_str().unwrap().to_owned();
    let before = client
        .get(format!("{}/envelopes/{first}", held_back.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.status(),
        reqwest::StatusCode::NOT_FOUND,
        "the maker ran before the kill: the test proves nothing"
    );
    held_back.kill();

    let server = ServerProcess::start(data.path());
    for n in 0..POSTS * PER_POST {
        let id = foreign_indicator(n)["id"].as_str().unwrap().to_owned();
        let made: Value =
            serde_json::from_slice(&wait_for_envelope(&client, &server.address, &id).await)
                .unwrap();
        assert_eq!(
            made["payload"]["source.ip"],
            format!("198.51.100.{}", n % 250)
        );
    }
    server.kill();
}
