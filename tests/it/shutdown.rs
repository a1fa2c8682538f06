//! Stopping: SIGTERM ends the real binary within seconds whatever its clients are doing, and a log that cannot
//! be written (a full disk, a closed pipe, a reader that stopped reading) never stops it serving or stopping.

use std::fs::File;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{BINARY, ServerProcess, TAXII, fixtures};

/// A stop that takes longer than this is a hang, not a slow machine: with nothing in flight that needs
/// `shutdown_timeout`, a stop takes milliseconds.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// Start and stop cycles of the real binary, each with one of [`Pattern`]'s client behaviours.
const CYCLES: usize = 200;

/// What the clients are doing when SIGTERM comes, after the suite's own habits.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// SIGTERM as soon as the server listens, while its background jobs start.
    JobsStarting,
    /// A POST and two GETs on connections of their own, like the interop tests.
    Requests,
    /// A keep-alive connection left open and idle.
    KeepAlive,
    /// A Get Objects waiting for new objects (`x-stixgate-wait`), like a live follower.
    LiveFollower,
    /// An IntelMQ stream being read.
    StreamReader,
}

const PATTERNS: [Pattern; 5] = [
    Pattern::JobsStarting,
    Pattern::Requests,
    Pattern::KeepAlive,
    Pattern::LiveFollower,
    Pattern::StreamReader,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_within_seconds_whatever_its_clients_do() {
    let envelope =
        std::fs::read(fixtures().join("intelmq/sinkhole.draft.json")).expect("the fixture");
    for cycle in 0..CYCLES {
        let pattern = PATTERNS[cycle % PATTERNS.len()];
        let data = tempfile::tempdir().expect("a temporary directory");
        let server = ServerProcess::start(data.path());
        let base = server.address.clone();
        let held = use_the_server(pattern, &base, &envelope).await;
        let started = Instant::now();
        let (took, log) = tokio::task::spawn_blocking(move || {
            let mut server = server;
            let status = stop_within(&mut server.child, STOP_BOUND);
            (status.map(|_| started.elapsed()), server.log_lines())
        })
        .await
        .expect("the stop is watched");
        if took.is_none() {
            let tail = log[log.len().saturating_sub(30)..].join("\n");
            panic!(
                "cycle {cycle} ({pattern:?}): no exit within {STOP_BOUND:?} of SIGTERM; its log:\n{tail}"
            );
        }
        drop(held);
    }
}

/// What a pattern keeps open until the server has stopped.
struct Held {
    _client: reqwest::Client,
    _in_flight: Option<tokio::task::JoinHandle<()>>,
}

async fn use_the_server(pattern: Pattern, base: &str, envelope: &[u8]) -> Held {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let objects = format!("{base}/api/collections/intelmq/objects/");
    let mut in_flight = None;
    match pattern {
        Pattern::JobsStarting => {}
        Pattern::Requests | Pattern::KeepAlive => {
            // A client of its own per request closes its connection, as `requests.post` does; the
            // keep-alive pattern keeps its one client, and so its connection, open.
            let fresh = || match pattern {
                Pattern::KeepAlive => client.clone(),
                _ => reqwest::Client::new(),
            };
            let posted = fresh()
                .post(format!("{base}/envelopes"))
                .body(envelope.to_vec())
                .send()
                .await
                .expect("the POST is answered");
            assert_eq!(posted.status(), StatusCode::OK);
            for _ in 0..2 {
                let page = fresh()
                    .get(format!("{objects}?limit=10"))
                    .header("Accept", TAXII)
                    .send()
                    .await
                    .expect("the GET is answered");
                assert_eq!(page.status(), StatusCode::OK);
                page.bytes().await.expect("the page is read");
            }
        }
        Pattern::LiveFollower => {
            let waiting = client
                .get(format!("{objects}?added_after=2099-01-01T00:00:00Z"))
                .header("Accept", TAXII)
                .header("x-stixgate-wait", "30");
            in_flight = Some(tokio::spawn(async move {
                let _ = waiting.send().await;
            }));
        }
        Pattern::StreamReader => {
            let stream = client
                .get(format!("{base}/intelmq/stream"))
                .send()
                .await
                .expect("the stream starts");
            assert_eq!(stream.status(), StatusCode::OK);
            in_flight = Some(tokio::spawn(async move {
                let mut stream = stream;
                while let Ok(Some(_)) = stream.chunk().await {}
            }));
        }
    }
    if in_flight.is_some() {
        // Let the request reach its handler before the stop.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Held {
        _client: client,
        _in_flight: in_flight,
    }
}

/// Sends SIGTERM and waits for the exit for `bound` at most; `None` (after SIGKILL) if it did not come.
fn stop_within(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Where the server's standard error goes, each a way for log writes to fail or block.
#[derive(Debug, Clone, Copy)]
enum BrokenLog {
    /// `/dev/full`: every write fails with "no space left on device", as on a full disk.
    FullDisk,
    /// A pipe whose reader has gone: every write fails with a broken pipe.
    ClosedPipe,
    /// A pipe that nobody reads: it fills, and then a write waits for ever.
    UnreadPipe,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_written_never_stops_serving_or_stopping() {
    for broken in [
        BrokenLog::FullDisk,
        BrokenLog::ClosedPipe,
        BrokenLog::UnreadPipe,
    ] {
        let data = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let stderr = match broken {
            BrokenLog::FullDisk => Stdio::from(
                File::options()
                    .write(true)
                    .open("/dev/full")
                    .expect("/dev/full opens"),
            ),
            BrokenLog::ClosedPipe | BrokenLog::UnreadPipe => Stdio::piped(),
        };
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("stixgate starts");
        // Kept unread for the unread pipe; dropped at once for the closed one.
        let unread = match broken {
            BrokenLog::UnreadPipe => child.stderr.take(),
            _ => {
                drop(child.stderr.take());
                None
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        wait_until_listening(port, broken).await;
        // Every request logs a line: far more than a pipe holds (64 KiB) and than the log's queue takes.
        let requests = match broken {
            BrokenLog::UnreadPipe => 10_000,
            _ => 300,
        };
        for n in 0..requests {
            let answer = client.get(format!("{base}/healthz")).send().await;
            match answer {
                Ok(answer) if answer.status() == StatusCode::OK => {}
                other => panic!("{broken:?}: request {n} was not answered: {other:?}"),
            }
        }
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .and_then(|answer| answer.error_for_status())
            .unwrap_or_else(|error| panic!("{broken:?}: /metrics was not answered: {error}"));
        let metrics = metrics.text().await.expect("the metrics");
        let dropped = metrics
            .lines()
            .find_map(|line| line.strip_prefix("stixgate_log_lines_dropped_total "))
            .and_then(|count| count.parse::<u64>().ok())
            .expect("the metrics count dropped log lines");
        assert!(dropped > 0, "{broken:?}: no dropped line counted");
        drop(client);
        let status = tokio::task::spawn_blocking(move || stop_within(&mut child, STOP_BOUND))
            .await
            .expect("the stop is watched");
        assert!(
            status.is_some(),
            "{broken:?}: no exit within {STOP_BOUND:?} of SIGTERM"
        );
        drop(unread);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

async fn wait_until_listening(port: u16, broken: BrokenLog) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{broken:?}: the server did not start listening on port {port}");
}
