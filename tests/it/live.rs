//! Live peers (issue 15): a stixgate that follows another's collection through the `x-stixgate-wait` extension
//! of Get Objects, with real `stixgate serve` processes on loopback. Every peer here would poll only once an
//! hour, so only the live follow can bring an envelope within the deadlines below.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::runtime::Runtime;

use crate::federation::{
    Peer, assert_each_once, collection_url, envelopes, free_port, get_json, serve_pulling_from,
    serve_with_peers, served_objects,
};
use crate::helpers::{ServerProcess, TAXII};

/// A live peer's schedule: its interval is an hour, so polling cannot explain an arrival within a test.
const LIVE: &str = "interval = 3600\nmode = \"live\"\n";

/// Far longer than an envelope needs to cross loopback on a loaded machine, far shorter than the interval.
const ARRIVES_WITHIN: Duration = Duration::from_secs(20);

/// POSTs one envelope to `/envelopes`.
pub fn post(runtime: &Runtime, server: &ServerProcess, envelope: &str) {
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/envelopes", server.address))
            .body(envelope.to_owned())
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success(), "{status}");
}

/// Waits until `server` serves the envelope `id`, and gives its bytes and how long that took.
pub fn arrival(runtime: &Runtime, server: &ServerProcess, id: &str) -> (String, Duration) {
    let (client, started) = (reqwest::Client::new(), Instant::now());
    let url = format!("{}/envelopes/{id}", server.address);
    loop {
        let response = runtime.block_on(async { client.get(&url).send().await.unwrap() });
        if response.status() == StatusCode::OK {
            let text = runtime.block_on(response.text()).unwrap();
            return (text, started.elapsed());
        }
        assert!(
            started.elapsed() < ARRIVES_WITHIN,
            "{id} did not reach {} within {ARRIVES_WITHIN:?}",
            server.address
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The id of one of `federation::envelopes`.
pub fn id_of(envelope: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(envelope).unwrap();
    value["meta"]["uuid"]["current"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `p`-th percentile (0 to 100) of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: usize) -> f64 {
    let at = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1000.0
}

/// POSTs each envelope to `from` and waits until `to` serves it byte for byte, then prints how long that took.
fn cross_one_by_one(
    runtime: &Runtime,
    from: &ServerProcess,
    to: &ServerProcess,
    sent: &[String],
    what: &str,
) {
    let mut latencies = Vec::new();
    for envelope in sent {
        post(runtime, from, envelope);
        let (text, latency) = arrival(runtime, to, &id_of(envelope));
        assert_eq!(&text, envelope, "byte for byte");
        latencies.push(latency);
    }
    latencies.sort();
    println!(
        "{what}, POST on A to readable on B, {} envelopes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        percentile(&latencies, 100)
    );
}

fn serve_following(data: &Path, port: u16, peer: &str, peer_port: u16) -> ServerProcess {
    serve_pulling_from(data, port, peer, peer_port, LIVE)
}

#[test]
fn b_follows_a_live_well_within_its_polling_interval() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = Runtime::new().unwrap();
    let server_a = ServerProcess::start(a.path());
    let sent = envelopes("live", 21);
    // The first envelope is there before B starts: B's first run brings it, and every later run waits at A.
    post(&runtime, &server_a, &sent[0]);
    let server_b = serve_following(b.path(), free_port(), "a", server_a.port());
    assert_eq!(arrival(&runtime, &server_b, &id_of(&sent[0])).0, sent[0]);

    cross_one_by_one(&runtime, &server_a, &server_b, &sent[1..], "live follow");
    let peer = get_json(&runtime, &server_b, "/peers")["peers"][0].clone();
    assert_eq!(peer["mode"], "live", "{peer}");
    assert_eq!(peer["live_remote"], true, "{peer}");
    assert_eq!(peer["failed_runs"], 0, "{peer}");
    assert_eq!(peer["envelopes_new"], sent.len(), "{peer}");
    server_b.terminate();
    server_a.terminate();
    assert_each_once(b.path(), &sent);
}

#[test]
fn a_live_push_sends_each_envelope_as_it_is_stored() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = Runtime::new().unwrap();
    let server_b = serve_with_peers(b.path(), free_port(), &[]);
    let sent = envelopes("pushed", 21);
    // The first envelope is there before A starts: A's first run sends it, and every later run is woken by
    // what A stores.
    let a_data = a.path().to_owned();
    let importer = ServerProcess::start(&a_data);
    post(&runtime, &importer, &sent[0]);
    importer.terminate();
    let to_b = Peer {
        name: "b",
        port: server_b.port(),
        direction: "push",
        schedule: LIVE,
    };
    let server_a = serve_with_peers(&a_data, free_port(), &[to_b]);
    assert_eq!(arrival(&runtime, &server_b, &id_of(&sent[0])).0, sent[0]);

    cross_one_by_one(&runtime, &server_a, &server_b, &sent[1..], "live push");
    let peer = get_json(&runtime, &server_a, "/peers")["peers"][0].clone();
    assert_eq!(peer["mode"], "live", "{peer}");
    assert_eq!(peer["direction"], "push", "{peer}");
    assert_eq!(peer["failed_runs"], 0, "{peer}");
    assert_eq!(
        peer["live_remote"],
        serde_json::Value::Null,
        "a push has no remote to follow"
    );
    assert!(
        peer["objects_pushed"].as_u64().unwrap() >= sent.len() as u64,
        "{peer}"
    );
    assert_eq!(
        served_objects(&runtime, &server_b),
        served_objects(&runtime, &server_a)
    );
    server_a.terminate();
    server_b.terminate();
    assert_each_once(b.path(), &sent);
}

#[test]
fn a_follower_is_not_answered_in_a_loop_while_its_remote_drains() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = Runtime::new().unwrap();
    let server_a = ServerProcess::start(a.path());
    let sent = envelopes("drain", 1);
    post(&runtime, &server_a, &sent[0]);
    let server_b = serve_following(b.path(), free_port(), "a", server_a.port());
    arrival(&runtime, &server_b, &id_of(&sent[0]));
    // B waits at A now; A's stop answers that wait, and B must not get its next one answered over the same
    // connection while A drains (once the answer came at once, B would ask again at once, until the drain's end).
    let log = std::sync::Arc::clone(&server_a.log);
    assert!(server_a.terminate().success());
    let lines = log.lock().unwrap();
    let stop = lines
        .iter()
        .position(|line| line.contains("shutting down"))
        .expect("A logs its stop");
    let during_drain = lines[stop..]
        .iter()
        .filter(|line| line.contains("/objects/"))
        .count();
    // The wait itself, and perhaps a few that raced the listener's close; answered in a loop, it was thousands.
    assert!(
        during_drain <= 10,
        "A answered {during_drain} requests for objects while it drained:\n{}",
        lines[stop..].join("\n")
    );
    drop(lines);
    server_b.terminate();
}

/// Waits until the server's one peer has counted `duplicates` envelopes that came back.
fn wait_for_duplicates(runtime: &Runtime, server: &ServerProcess, duplicates: u64) {
    let deadline = Instant::now() + ARRIVES_WITHIN;
    loop {
        let peer = get_json(runtime, server, "/peers")["peers"][0].clone();
        if peer["duplicates"].as_u64().unwrap() >= duplicates {
            return;
        }
        assert!(Instant::now() < deadline, "nothing came back: {peer}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_chain_of_live_peers_carries_each_envelope_once() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let [a, b, c] = &dirs;
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    // A and B follow each other, C follows B.
    let server_a = serve_following(a.path(), port_a, "b", port_b);
    let server_b = serve_following(b.path(), port_b, "a", port_a);
    let server_c = serve_following(c.path(), port_c, "b", port_b);
    let runtime = Runtime::new().unwrap();
    let sent = envelopes("chain", 2);
    let (x, y) = (id_of(&sent[0]), id_of(&sent[1]));

    // A to B to C, byte for byte under its id.
    post(&runtime, &server_a, &sent[0]);
    assert_eq!(arrival(&runtime, &server_c, &x).0, sent[0]);
    // B's own envelope reaches A and C, and goes back to B from A.
    post(&runtime, &server_b, &sent[1]);
    assert_eq!(arrival(&runtime, &server_a, &y).0, sent[1]);
    assert_eq!(arrival(&runtime, &server_c, &y).0, sent[1]);
    // Each echo has come round: A's envelope back from B, B's back from A.
    wait_for_duplicates(&runtime, &server_a, 1);
    wait_for_duplicates(&runtime, &server_b, 1);

    let objects = served_objects(&runtime, &server_a);
    let mut once = objects.clone();
    once.dedup();
    assert_eq!(once, objects, "each object version once");
    assert_eq!(served_objects(&runtime, &server_b), objects);
    assert_eq!(served_objects(&runtime, &server_c), objects);
    for server in [server_c, server_b, server_a] {
        server.terminate();
    }
    for dir in &dirs {
        assert_each_once(dir.path(), &sent);
    }
}

/// GETs the objects of the server's collection with `query`, and gives the status, the live header and the body.
fn get_objects(
    runtime: &Runtime,
    server: &ServerProcess,
    query: &str,
) -> (StatusCode, bool, serde_json::Value) {
    let url = format!("{}objects/?{query}", collection_url(server));
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap();
        let (status, live) = (
            response.status(),
            response.headers().contains_key("X-Stixgate-Live"),
        );
        (status, live, response.json().await.unwrap())
    })
}

#[test]
fn the_wait_is_opt_in_bounded_and_ends_when_the_server_stops() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let runtime = Runtime::new().unwrap();
    // A standard request on an empty collection is answered as before, and announces the extension.
    let (status, live, page) = get_objects(&runtime, &server, "limit=5");
    assert_eq!((status, live), (StatusCode::OK, true));
    assert_eq!(page, serde_json::json!({"more": false}));
    let (status, _, page) = get_objects(&runtime, &server, "x-stixgate-wait=soon");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    // A wait that nothing ends answers the same empty page at its end.
    let (status, _, page) = get_objects(&runtime, &server, "x-stixgate-wait=1");
    assert_eq!(
        (status, page),
        (StatusCode::OK, serde_json::json!({"more": false}))
    );

    // A request waiting a minute is answered, not cut off, when the server stops.
    let address = server.address.clone();
    let waiting = std::thread::spawn(move || {
        let runtime = Runtime::new().unwrap();
        let started = Instant::now();
        let url = format!(
            "{address}/api/collections/{}/objects/",
            crate::helpers::COLLECTION
        );
        let answer = runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(format!("{url}?x-stixgate-wait=60"))
                .header("Accept", TAXII)
                .send()
                .await?;
            response.json::<serde_json::Value>().await
        });
        (answer.map_err(|e| e.to_string()), started.elapsed())
    });
    // Time for the request to reach the server; arriving after the stop would fail the test, not pass it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.terminate().success());
    let (answer, waited) = waiting.join().unwrap();
    println!("a waiting request ended {waited:?} after it was sent, at the server's stop");
    assert_eq!(answer, Ok(serde_json::json!({"more": false})));
}
