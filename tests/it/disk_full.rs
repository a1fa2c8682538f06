//! A full disk: the real server with its data directory on a small tmpfs filled by its own writers, and its log
//! (standard error redirected to a file) on a second tmpfs filled to the last byte. Writes are refused with 507,
//! nothing acknowledged is lost, reads, `/healthz` and `/metrics` keep answering although no log line can be
//! written, and once space is freed writes resume by themselves, without a restart.
//!
//! The data disk is not filled to its last byte from outside while the server runs: sled keeps the error of a
//! write that found no space until it is opened again (see `store/sled_store/room.rs`), so that case still
//! needs a restart, and is left to issue #26. This test mounts a tmpfs, so it
//! runs as root (as CI does); anywhere else it fails, saying so.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::federation::free_port;
use crate::helpers::{ServerProcess, run_cli};

const WRITERS: usize = 4;
const LINES_PER_POST: usize = 20;
/// Space left free for the writers to fill: most of the tmpfs is taken by a filler at once, so that the test
/// writes only a few MiB of envelopes before the disk is full.
const LEFT_FOR_WRITERS: u64 = 14 << 20;
/// How long writes may take to resume after space is freed. The writer tries again after at most a second;
/// this bound is for a machine busy with builds.
const RESUME_PATIENCE: Duration = Duration::from_secs(60);

/// A tmpfs mounted on a temporary directory, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "this test mounts a tmpfs and must run as root, as CI does: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server process that is still exiting may hold files on it.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `stixgate serve` with standard error appended to `log`, a file on the tmpfs.
fn start_logging_to(data: &Path, log: &Path) -> ServerProcess {
    let port = free_port();
    let log_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("the log file opens");
    let child = Command::new(crate::helpers::BINARY)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("stixgate starts");
    ServerProcess {
        address: format!("http://127.0.0.1:{port}"),
        child,
        log: Arc::default(),
    }
}

async fn wait_until_healthy(client: &reqwest::Client, address: &str, log: &Path) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{address}/healthz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn envelope(id: &str) -> String {
    format!(
        r#"{{"meta": {{"uuid": {{"current": "{id}"}}}}, "payload": {{"source.ip": "192.0.2.7", "extra.pad": "{}"}}}}"#,
        "p".repeat(3000)
    )
}

/// Fills the file system of `dir` to the last byte with a file named `name`, and returns its path.
fn fill(dir: &Path, name: &str, at_most: Option<u64>) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = File::create(&path).expect("a filler file");
    let block = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    while at_most.is_none_or(|most| written < most) {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
            Err(error) => panic!("filling {}: {error}", path.display()),
        }
    }
    // Whatever still fits, byte by byte at the end, so that nothing at all is left.
    if at_most.is_none() {
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
    }
    path
}

fn free_bytes(dir: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|line| line.trim().parse().ok())
        .expect("df prints the free bytes")
}

/// Posts one batch; returns the status and, for a 200, the ids it stored.
async fn post(
    client: &reqwest::Client,
    address: &str,
    lines: &[(String, String)],
) -> (StatusCode, Value) {
    let body: Vec<&str> = lines.iter().map(|(_, text)| text.as_str()).collect();
    let response = client
        .post(format!("{address}/envelopes"))
        .body(body.join("\n"))
        .send()
        .await
        .expect("the server answers a write");
    let status = response.status();
    let answer = response.json::<Value>().await.expect("a JSON answer");
    (status, answer)
}

/// Asserts that a refused write is a 507 TAXII error that names the full disk.
fn assert_refused_for_the_full_disk(status: StatusCode, answer: &Value) {
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{answer}");
    assert_eq!(answer["error_code"], "disk-full", "{answer}");
    assert_eq!(answer["http_status"], "507", "{answer}");
    assert!(
        answer["description"]
            .as_str()
            .is_some_and(|d| d.contains("no space left on the device")),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_resumes_by_itself_once_space_is_freed() {
    let tmpfs = Tmpfs::mount("48m");
    let log_tmpfs = Tmpfs::mount("1m");
    let data = tmpfs.path().join("data");
    let log = log_tmpfs.path().join("stixgate.log");
    let server = start_logging_to(&data, &log);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    wait_until_healthy(&client, &server.address, &log).await;

    let room = free_bytes(tmpfs.path());
    let filler = fill(
        tmpfs.path(),
        "filler",
        Some(room.saturating_sub(LEFT_FOR_WRITERS)),
    );

    // Writers until writes are refused; every envelope a 200 answer stored is acknowledged.
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let refusals: Arc<Mutex<Vec<(StatusCode, Value)>>> = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (client, address) = (client.clone(), server.address.clone());
            let (acknowledged, refusals) = (acknowledged.clone(), refusals.clone());
            tokio::spawn(async move {
                for batch in 0.. {
                    let lines: Vec<(String, String)> = (0..LINES_PER_POST)
                        .map(|n| {
                            let id = format!("full-{writer}-{batch}-{n}");
                            let text = envelope(&id);
                            (id, text)
                        })
                        .collect();
                    let (status, answer) = post(&client, &address, &lines).await;
                    if status != StatusCode::OK {
                        refusals.lock().unwrap().push((status, answer));
                        return;
                    }
                    assert_eq!(answer["stored"], LINES_PER_POST, "{answer}");
                    acknowledged.lock().unwrap().extend(lines);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for (status, answer) in refusals.lock().unwrap().iter() {
        assert_refused_for_the_full_disk(*status, answer);
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "the writers stored too little ({}) to mean anything",
        acknowledged.len()
    );

    // Now the log's disk is full to the last byte: no log line can be written either.
    let last_byte = fill(log_tmpfs.path(), "last-byte", None);
    assert_eq!(free_bytes(log_tmpfs.path()), 0);
    let (first_id, first_text) = acknowledged.iter().next().unwrap();
    for _ in 0..3 {
        let health = client
            .get(format!("{}/healthz", server.address))
            .send()
            .await
            .expect("/healthz answers on a full disk");
        assert_eq!(health.status(), StatusCode::OK);
        let read = client
            .get(format!("{}/envelopes/{first_id}", server.address))
            .send()
            .await
            .expect("a read answers on a full disk");
        assert_eq!(read.status(), StatusCode::OK);
        assert_eq!(read.text().await.unwrap(), *first_text);
        let late = vec![("full-late".to_owned(), envelope("full-late"))];
        let (status, answer) = post(&client, &server.address, &late).await;
        assert_refused_for_the_full_disk(status, &answer);
    }
    let metrics = client
        .get(format!("{}/metrics", server.address))
        .send()
        .await
        .expect("/metrics answers on a full disk")
        .text()
        .await
        .unwrap();
    let dropped: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("stixgate_log_lines_dropped_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("/metrics counts dropped log lines");
    assert!(
        dropped > 0,
        "the log on the full disk should have failed to write"
    );

    // Space is freed: writes resume by themselves.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&last_byte).unwrap();
    let freed = Instant::now();
    let mut resumed = BTreeMap::new();
    for attempt in 0.. {
        let id = format!("full-after-{attempt}");
        let lines = vec![(id.clone(), envelope(&id))];
        let (status, answer) = post(&client, &server.address, &lines).await;
        if status == StatusCode::OK {
            assert_eq!(answer["stored"], 1, "{answer}");
            resumed.extend(lines);
            break;
        }
        assert_refused_for_the_full_disk(status, &answer);
        assert!(
            freed.elapsed() < RESUME_PATIENCE,
            "writes did not resume after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..20 {
        let id = format!("full-resumed-{n}");
        let lines = vec![(id.clone(), envelope(&id))];
        let (status, answer) = post(&client, &server.address, &lines).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        resumed.extend(lines);
    }

    // Every acknowledged envelope reads back, then again after a restart, byte for byte.
    for (id, text) in acknowledged.iter().chain(&resumed) {
        let read = client
            .get(format!("{}/envelopes/{id}", server.address))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK, "{id} was acknowledged");
        assert_eq!(read.text().await.unwrap(), *text, "{id}");
    }
    assert!(server.terminate().success());
    let exported = run_cli(&["export"], &data, b"");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let mut stored = BTreeMap::new();
    for line in String::from_utf8(exported.stdout).unwrap().lines() {
        let value: Value = serde_json::from_str(line).expect("nothing half-written");
        let id = value["meta"]["uuid"]["current"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(stored.insert(id, line.to_owned()).is_none(), "stored twice");
    }
    for (id, text) in acknowledged.iter().chain(&resumed) {
        assert_eq!(stored.get(id), Some(text), "{id} was acknowledged");
    }
}
