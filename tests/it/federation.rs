//! IEP04's exchange between instances over TAXII, with real `stixgate` processes on loopback: peer to peer,
//! through a hub, and through a remote that dies in the middle of a pull.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use stixgate::store::{SledStore, Store};

use crate::helpers::{BINARY, COLLECTION, ServerProcess, fixtures, run_cli};

/// `n` IntelMQ envelopes whose ids start with `prefix`, one JSON text each.
pub fn envelopes(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"meta": {{"version": 1, "uuid": {{"current": "{prefix}-{i}"}}, "type": "event", "format": "intelmq"}}, "payload": {{"classification.type": "scanner", "source.ip": "192.0.2.{}", "source.port": {}, "time.source": "2026-01-01T00:{:02}:{:02}+00:00"}}}}"#,
                i % 250 + 1,
                1024 + i,
                i / 60 % 60,
                i % 60
            )
        })
        .collect()
}

/// The draft fixtures, one JSON text each.
fn fixture_envelopes() -> Vec<String> {
    ["sinkhole", "misp-origin", "n6-blacklist"]
        .iter()
        .map(|name| {
            let text =
                std::fs::read_to_string(fixtures().join(format!("intelmq/{name}.draft.json")))
                    .unwrap();
            text.trim_end().to_owned()
        })
        .collect()
}

pub fn import(data: &Path, envelopes: &[String]) {
    let input = envelopes.join("\n");
    succeeds(&run_cli(&["import", "-"], data, input.as_bytes()));
}

pub fn succeeds(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// Runs `stixgate ARGS --data DATA` to the end.
pub fn stixgate(args: &[&str], data: &Path) -> Output {
    run_cli(args, data, b"")
}

pub fn collection_url(server: &ServerProcess) -> String {
    format!("{}/api/collections/{COLLECTION}/", server.address)
}

/// Every stored envelope, in storing order.
pub fn exported(data: &Path) -> Vec<String> {
    let output = stixgate(&["export"], data);
    succeeds(&output);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `data` holds each of `expected` once, byte for byte, and nothing else.
pub fn assert_each_once(data: &Path, expected: &[String]) {
    let mut have = exported(data);
    let mut want = expected.to_vec();
    have.sort();
    want.sort();
    want.dedup();
    assert_eq!(have.len(), want.len(), "how many envelopes are stored");
    assert_eq!(have, want);
}

/// The number in `N <what>` of a summary line such as `... 37 objects (37 new), 3 new envelopes ...`.
pub fn count(summary: &str, what: &str) -> usize {
    let at = summary
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {summary}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("no count before {what:?} in {summary}"))
}

#[test]
fn peer_to_peer_every_envelope_reaches_c_once_byte_identical() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut sent = fixture_envelopes();
    sent.extend(envelopes("p2p", 40));
    import(a.path(), &sent);

    // A sends to B.
    let server_b = ServerProcess::start(b.path());
    let pushed = succeeds(&stixgate(&["push", &collection_url(&server_b)], a.path()));
    assert_eq!(count(&pushed, "failures"), 0, "{pushed}");
    // A sends to C.
    let server_a = ServerProcess::start(a.path());
    let first = succeeds(&stixgate(&["pull", &collection_url(&server_a)], c.path()));
    assert_eq!(count(&first, "new envelopes"), sent.len(), "{first}");
    // B forwards to C what it has from A: nothing new arrives that way.
    let forwarded = succeeds(&stixgate(&["pull", &collection_url(&server_b)], c.path()));
    assert_eq!(count(&forwarded, "new envelopes"), 0, "{forwarded}");
    assert_eq!(count(&forwarded, "duplicates"), sent.len(), "{forwarded}");
    assert_eq!(count(&forwarded, "objects ("), count(&first, "objects ("));
    assert_eq!(
        count(&forwarded, "new)"),
        0,
        "every object was there already"
    );
    server_a.terminate();
    server_b.terminate();

    assert_each_once(c.path(), &sent);
    // Provenance names the peer each envelope came from first, and changes nothing in it.
    let store = SledStore::open(c.path()).unwrap();
    let provenance = stixgate::federation::read_provenance(&store, COLLECTION, "p2p-7")
        .unwrap()
        .expect("a pulled envelope has its provenance");
    assert!(
        provenance
            .peer
            .ends_with(&format!("/api/collections/{COLLECTION}/"))
    );
    assert_eq!(
        store
            .envelope(COLLECTION, "p2p-7")
            .unwrap()
            .unwrap()
            .version,
        0
    );
}

#[test]
fn through_a_hub_each_envelope_reaches_c_once() {
    let (a, b, c, h) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let from_a = envelopes("hub-a", 30);
    // B has envelopes of its own, and some of A's: they must arrive once.
    let mut from_b = envelopes("hub-b", 20);
    from_b.extend_from_slice(&from_a[..10]);
    import(a.path(), &from_a);
    import(b.path(), &from_b);

    let hub = ServerProcess::start(h.path());
    let url = collection_url(&hub);
    succeeds(&stixgate(&["push", &url], a.path()));
    succeeds(&stixgate(&["push", &url], b.path()));
    let again = succeeds(&stixgate(&["push", &url], a.path()));
    assert_eq!(
        count(&again, "objects sent"),
        0,
        "a push resumes from its checkpoint: {again}"
    );
    // C pulls from the hub's discovery URL.
    let pulled = succeeds(&stixgate(
        &["pull", &format!("{}/taxii2/", hub.address)],
        c.path(),
    ));
    assert_eq!(count(&pulled, "new envelopes"), 50, "{pulled}");
    hub.terminate();

    let mut all = from_a.clone();
    all.extend(from_b);
    assert_each_once(c.path(), &all);
}

/// Starts `stixgate pull URL --page-size 5 ARGS...` in the background.
fn start_pull(url: &str, data: &Path, args: &[&str]) -> std::process::Child {
    Command::new(BINARY)
        .args(["pull", url, "--page-size", "5", "--data"])
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stixgate starts")
}

fn signal(process: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &process.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIG{name} reaches the pull");
}

/// Waits until `server` has answered `pages` requests for objects: the pull is under way.
fn wait_for_pages(server: &ServerProcess, pages: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log_count("/objects/") < pages {
        assert!(Instant::now() < deadline, "the pull never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A remote with 300 envelopes (over 1000 objects), and a full pull of it for reference: what it serves.
fn loaded_remote(remote: &Path) -> (Vec<String>, usize) {
    let sent = envelopes("fault", 300);
    import(remote, &sent);
    let reference = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(remote);
    let full = succeeds(&stixgate(
        &["pull", &collection_url(&server)],
        reference.path(),
    ));
    server.terminate();
    (sent, count(&full, "objects ("))
}

#[test]
fn a_pull_rides_out_a_remote_killed_and_restarted_under_it() {
    let (remote, local) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sent, total) = loaded_remote(remote.path());
    let server = ServerProcess::start(remote.path());
    let (url, port) = (collection_url(&server), server.port());
    let mut pull = start_pull(&url, local.path(), &[]);
    wait_for_pages(&server, 5);
    // Frozen while the remote dies, so that it cannot finish first on a busy machine (it then failed to meet
    // the dead remote at all); thawed, its next request finds no one listening.
    signal(&pull, "STOP");
    assert!(
        pull.try_wait().unwrap().is_none(),
        "the pull finished within 5 pages"
    );
    server.kill();
    signal(&pull, "CONT");
    std::thread::sleep(Duration::from_millis(500));
    let listen = format!("127.0.0.1:{port}");
    let server = ServerProcess::start_with(remote.path(), &["--listen", &listen]);
    let output = pull.wait_with_output().unwrap();
    server.terminate();
    let summary = succeeds(&output);
    assert!(
        summary.contains("retrying"),
        "the pull met the dead remote: {summary}"
    );
    assert_eq!(
        count(&summary, "objects ("),
        total,
        "nothing downloaded twice: {summary}"
    );
    assert_each_once(local.path(), &sent);
}

#[test]
fn a_pull_that_gives_up_resumes_from_its_checkpoint() {
    let (remote, local) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sent, total) = loaded_remote(remote.path());
    let server = ServerProcess::start(remote.path());
    let (url, port) = (collection_url(&server), server.port());
    let pull = start_pull(&url, local.path(), &["--retries", "0"]);
    wait_for_pages(&server, 5);
    signal(&pull, "STOP");
    server.kill();
    signal(&pull, "CONT");
    let output = pull.wait_with_output().unwrap();
    let interrupted = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{interrupted}");
    assert!(interrupted.contains("error: "), "{interrupted}");
    let before = count(&interrupted, "objects (");
    assert!(
        before > 0 && before < total,
        "killed in the middle: {interrupted}"
    );

    let listen = format!("127.0.0.1:{port}");
    let server = ServerProcess::start_with(remote.path(), &["--listen", &listen]);
    let resumed = succeeds(&stixgate(&["pull", &url], local.path()));
    server.terminate();
    assert_eq!(
        before + count(&resumed, "objects ("),
        total,
        "the second pull starts where the first stopped: {resumed}"
    );
    assert_each_once(local.path(), &sent);
    // Every object once: a version stored twice would be a second date_added for the same bytes.
    let store = SledStore::open(local.path()).unwrap();
    let mut versions = BTreeMap::new();
    for object in store.added_after(COLLECTION, None, None) {
        let object = object.unwrap();
        *versions.entry((object.id, object.version)).or_insert(0) += 1;
    }
    assert_eq!(versions.len(), total);
    assert!(versions.values().all(|&n| n == 1));
}

/// A port that was free a moment ago, for servers that must know each other's address before they start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `stixgate serve` on `port` with a `[[peer]]` that pulls from `peer_port`, with `schedule` (its `interval` and
/// any other keys, one a line).
pub fn serve_pulling_from(
    data: &Path,
    port: u16,
    peer: &str,
    peer_port: u16,
    schedule: &str,
) -> ServerProcess {
    let peer = Peer {
        name: peer,
        port: peer_port,
        direction: "pull",
        schedule,
    };
    serve_with_peers(data, port, &[peer])
}

/// A `[[peer]]` entry of a test server: another test server.
pub struct Peer<'a> {
    pub name: &'a str,
    pub port: u16,
    /// `pull`, `push` or `both`.
    pub direction: &'a str,
    /// Its `interval` and any other keys, one a line.
    pub schedule: &'a str,
}

/// `stixgate serve` on `port`, with the [`OPERATOR`] and `peers` in `data/stixgate.toml`.
pub fn serve_with_peers(data: &Path, port: u16, peers: &[Peer]) -> ServerProcess {
    let mut text = format!(
        "[[users]]\nname = \"{OPERATOR}\"\npassword = \"{}\"\nadmin = true\n",
        stixgate::secret::hash_password(OPERATOR)
    );
    for peer in peers {
        text.push_str(&format!(
            "\n[[peer]]\nname = \"{}\"\nurl = \"http://127.0.0.1:{}/api/collections/{COLLECTION}/\"\n\
             direction = \"{}\"\n{}",
            peer.name, peer.port, peer.direction, peer.schedule
        ));
    }
    let config = data.join("stixgate.toml");
    std::fs::write(&config, text).unwrap();
    let listen = format!("127.0.0.1:{port}");
    ServerProcess::start_with(
        data,
        &["--listen", &listen, "--config", config.to_str().unwrap()],
    )
}

/// The admin user of the servers that pull, whose password is its name: `/peers` is for admins.
pub const OPERATOR: &str = "operator";

/// GETs `path` of a server as JSON, as its admin.
pub fn get_json(
    runtime: &tokio::runtime::Runtime,
    server: &ServerProcess,
    path: &str,
) -> serde_json::Value {
    runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{}{path}", server.address))
            .header("Accept", crate::helpers::TAXII)
            .basic_auth(OPERATOR, Some(OPERATOR))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Waits until the server's one peer has had `runs` runs, all successful.
fn wait_for_runs(
    runtime: &tokio::runtime::Runtime,
    server: &ServerProcess,
    runs: u64,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let peer = get_json(runtime, server, "/peers")["peers"][0].clone();
        assert_eq!(peer["failed_runs"], 0, "{peer}");
        if peer["runs"].as_u64().unwrap() >= runs {
            return peer;
        }
        assert!(Instant::now() < deadline, "the peer does not run: {peer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ids of every object version the server serves.
pub fn served_objects(runtime: &tokio::runtime::Runtime, server: &ServerProcess) -> Vec<String> {
    let path = format!("/api/collections/{COLLECTION}/objects/?limit=10000&match[version]=all");
    let page = get_json(runtime, server, &path);
    assert_eq!(page["more"], false);
    let mut ids: Vec<String> = page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["id"], o["modified"]))
        .collect();
    ids.sort();
    ids
}

#[test]
fn peers_that_pull_from_each_other_settle_with_one_copy_each() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from_a = envelopes("loop-a", 20);
    let mut from_b = envelopes("loop-b", 15);
    from_b.extend_from_slice(&from_a[..5]);
    import(a.path(), &from_a);
    import(b.path(), &from_b);
    let (port_a, port_b) = (free_port(), free_port());
    let server_a = serve_pulling_from(a.path(), port_a, "b", port_b, "interval = 1\n");
    let server_b = serve_pulling_from(b.path(), port_b, "a", port_a, "interval = 1\n");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // Two runs each: by the second, each has seen everything the other had at the start.
    wait_for_runs(&runtime, &server_a, 2);
    wait_for_runs(&runtime, &server_b, 2);
    let settled = (
        served_objects(&runtime, &server_a),
        served_objects(&runtime, &server_b),
    );
    assert_eq!(settled.0, settled.1, "both serve the same objects");
    let runs = |s| wait_for_runs(&runtime, s, 0)["runs"].as_u64().unwrap();
    let (runs_a, runs_b) = (runs(&server_a), runs(&server_b));
    // Three more runs each bring nothing new: what went round came back as duplicates.
    wait_for_runs(&runtime, &server_a, runs_a + 3);
    let peer_b = wait_for_runs(&runtime, &server_b, runs_b + 3);
    assert_eq!(served_objects(&runtime, &server_a), settled.0, "no growth");
    assert_eq!(served_objects(&runtime, &server_b), settled.1, "no growth");
    assert!(peer_b["last_success"].is_string(), "{peer_b}");
    assert!(peer_b["lag_seconds"].as_f64().unwrap() >= 0.0, "{peer_b}");
    assert_eq!(peer_b["envelopes_new"], 20 - 5, "{peer_b}");
    let metrics = runtime.block_on(async {
        reqwest::get(format!("{}/metrics", server_a.address))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("stixgate_peer_envelopes_new_total{peer=\"b\"} 15"),
        "{metrics}"
    );
    server_a.terminate();
    server_b.terminate();

    let mut all = from_a.clone();
    all.extend(from_b);
    assert_each_once(a.path(), &all);
    assert_each_once(b.path(), &all);
}

#[test]
fn pull_and_push_hand_their_job_to_the_server_that_holds_the_data_directory() {
    let (remote, held, third) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let sent = envelopes("handover", 10);
    import(remote.path(), &sent);
    let remote_server = ServerProcess::start(remote.path());
    let server = ServerProcess::start(held.path());
    let pulled = succeeds(&stixgate(
        &["pull", &collection_url(&remote_server)],
        held.path(),
    ));
    assert!(pulled.contains("the job runs there"), "{pulled}");
    assert_eq!(count(&pulled, "new envelopes"), 10, "{pulled}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let served = runtime.block_on(async {
        let url = format!("{}/envelopes/handover-3", server.address);
        client.get(url).send().await.unwrap().text().await.unwrap()
    });
    assert_eq!(served, sent[3], "the running server stored it");

    let third_server = ServerProcess::start(third.path());
    let pushed = succeeds(&stixgate(
        &["push", &collection_url(&third_server)],
        held.path(),
    ));
    assert_eq!(
        count(&pushed, "objects sent"),
        count(&pulled, "objects ("),
        "{pushed}"
    );

    // Only the holder of the data directory's token may hand jobs over.
    let admin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(held.path().join("admin.json")).unwrap()).unwrap();
    let jobs = format!("{}/admin/jobs", admin["url"].as_str().unwrap());
    // The token is someone to authenticate as, so a request without it is asked for it: 401, as a wrong
    // token is.
    for (token, expected) in [
        (None, reqwest::StatusCode::UNAUTHORIZED),
        (Some("not-the-token"), reqwest::StatusCode::UNAUTHORIZED),
    ] {
        let status = runtime.block_on(async {
            let mut request = client.post(&jobs).body("{}");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        });
        assert_eq!(status, expected, "{token:?}");
    }
    drop(client);
    server.terminate();
    remote_server.terminate();
    third_server.terminate();
    assert!(
        !held.path().join("admin.json").exists(),
        "a server that stops removes its admin file"
    );
}
