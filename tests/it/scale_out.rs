//! Several `stixgate serve` processes on one PostgreSQL database: what one node stores, every node serves, and
//! a reader that pages through the nodes in turn, with `next` from one node on another, sees every object
//! once, in `date_added` order, while all nodes take writes.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{BINARY, COLLECTION, ServerProcess, TAXII, indicator};
use crate::pg_cluster::Cluster;

const NODES: usize = 3;
const POSTS_PER_NODE: u32 = 8;
const OBJECTS_PER_POST: u32 = 15;

/// A node on the database at `url`, with a data directory of its own, connected without TLS.
fn node(url: &str, data: &Path) -> ServerProcess {
    node_with(url, data, &[("STIXGATE_STORE__SSLMODE", "disable")])
}

fn node_with(url: &str, data: &Path, env: &[(&str, &str)]) -> ServerProcess {
    node_with_args(url, data, &["--listen", "127.0.0.1:0"], env)
}

/// A node started with `args` (which say where it listens) and `env`, on the database at `url`.
pub(crate) fn node_with_args(
    url: &str,
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> ServerProcess {
    let mut env = env.to_vec();
    env.extend([
        ("STIXGATE_STORE__ENGINE", "postgres"),
        ("STIXGATE_STORE__URL", url),
        // Not what these tests are about, and it would slow them down.
        ("STIXGATE_TAXII__ENVELOPES_FROM_POSTS", "none"),
    ]);
    ServerProcess::start_with_env(data, args, &env)
}

/// Nodes on one new database, each with a data directory of its own (kept until the nodes are dropped).
fn nodes(count: usize) -> (String, Vec<TempDir>, Vec<ServerProcess>) {
    let url = Cluster::get().fresh_database();
    let dirs: Vec<TempDir> = (0..count).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = dirs.iter().map(|d| node(&url, d.path())).collect();
    (url, dirs, nodes)
}

pub(crate) fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

pub(crate) fn objects_url(address: &str) -> String {
    format!("{address}/api/collections/{COLLECTION}/objects/")
}

/// POSTs the indicators numbered `numbers` to the collection through the node at `address`.
pub(crate) async fn post_indicators(
    client: &reqwest::Client,
    address: &str,
    numbers: Range<u32>,
) -> reqwest::Result<reqwest::Response> {
    let objects: Vec<Value> = numbers
        .map(|n| indicator(n, "2020-01-01T00:00:00.000Z"))
        .collect();
    client
        .post(objects_url(address))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .json(&serde_json::json!({ "objects": objects }))
        .send()
        .await
}

/// POSTs the five indicators of post number `post` through the node at `address`; their ids once the node
/// acknowledged them, `None` when it did not answer 202.
pub(crate) async fn post_five(
    client: &reqwest::Client,
    address: &str,
    post: u32,
) -> Option<Vec<String>> {
    let first = post * 5;
    let response = post_indicators(client, address, first..first + 5)
        .await
        .ok()?;
    if response.status() != StatusCode::ACCEPTED {
        return None;
    }
    let status = response.json::<Value>().await.ok()?;
    assert_eq!(status["success_count"], 5, "{status}");
    let ids = (first..first + 5).map(|n| {
        indicator(n, "2020-01-01T00:00:00.000Z")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    Some(ids.collect())
}

/// A TAXII answer: its status, `X-TAXII-Date-Added-First` and `-Last`, and body.
struct Answer {
    status: StatusCode,
    first: Option<String>,
    last: Option<String>,
    body: Value,
}

impl Answer {
    fn ids(&self) -> Vec<String> {
        self.body["objects"]
            .as_array()
            .map(|objects| {
                objects
                    .iter()
                    .map(|o| o["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let response = client
        .get(url)
        .header("Accept", TAXII)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, first, last) = (
        response.status(),
        header("X-TAXII-Date-Added-First"),
        header("X-TAXII-Date-Added-Last"),
    );
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        first,
        last,
        body,
    }
}

/// Where a reader goes on from: a page's `next`, or the last `date_added` once there was no more.
enum From {
    Start,
    Next(String),
    AddedAfter(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_one_database_serve_every_object_once_in_order_while_all_take_writes() {
    let (_url, _dirs, nodes) = nodes(NODES);
    let addresses: Vec<String> = nodes.iter().map(|n| n.address.clone()).collect();
    let client = reqwest::Client::new();
    let writers: Vec<_> = addresses
        .iter()
        .enumerate()
        .map(|(n, address)| {
            let (client, address) = (client.clone(), address.clone());
            tokio::spawn(async move {
                for post in 0..POSTS_PER_NODE {
                    let first =
                        (u32::try_from(n).unwrap() * POSTS_PER_NODE + post) * OBJECTS_PER_POST;
                    let response =
                        post_indicators(&client, &address, first..first + OBJECTS_PER_POST)
                            .await
                            .unwrap();
                    assert_eq!(response.status(), StatusCode::ACCEPTED);
                    let status: Value = response.json().await.unwrap();
                    assert_eq!(status["success_count"], OBJECTS_PER_POST, "{status}");
                }
            })
        })
        .collect();

    let mut seen: Vec<String> = Vec::new();
    let mut last_of_previous_page: Option<String> = None;
    let mut from = From::Start;
    for turn in 0.. {
        let done = writers.iter().all(|w| w.is_finished());
        // Cursors and timestamps are URL-safe as servers give them.
        let cursor = match &from {
            From::Start => String::new(),
            From::Next(next) => format!("&next={next}"),
            From::AddedAfter(after) => format!("&added_after={after}"),
        };
        let url = format!("{}?limit=7{cursor}", objects_url(&addresses[turn % NODES]));
        let page = get(&client, &url).await;
        assert_eq!(page.status, StatusCode::OK);
        if let (Some(previous), Some(first)) = (&last_of_previous_page, &page.first) {
            assert!(previous < first, "pages overlap: {previous} then {first}");
        }
        let ids = page.ids();
        seen.extend(ids.iter().cloned());
        if page.last.is_some() {
            last_of_previous_page.clone_from(&page.last);
        }
        from = match (page.body["next"].as_str(), &last_of_previous_page) {
            (Some(next), _) => From::Next(next.to_owned()),
            (None, Some(last)) => From::AddedAfter(last.clone()),
            (None, None) => From::Start,
        };
        if done && ids.is_empty() && page.body["more"] != true {
            break;
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let total = NODES * usize::try_from(POSTS_PER_NODE * OBJECTS_PER_POST).unwrap();
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), distinct.len()),
        (total, total),
        "every object once"
    );
    // The order the reader saw is the collection's date_added order, as any node lists it.
    let manifest = format!(
        "{}/api/collections/{COLLECTION}/manifest/",
        addresses[NODES - 1]
    );
    assert_eq!(get(&client, &manifest).await.ids(), seen);
}

#[tokio::test]
async fn a_status_posted_through_one_node_is_read_through_another() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // The reading node connects over TLS and checks the database's certificate.
    let over_tls = cluster.url_as("tls_only", "localhost", database_of(&url));
    let ca = cluster.ca.to_str().unwrap();
    let nodes = [
        node_with(
            &over_tls,
            dirs[0].path(),
            &[
                ("STIXGATE_STORE__SSLMODE", "verify-full"),
                ("STIXGATE_STORE__CA", ca),
            ],
        ),
        // A password in the URL (the test cluster trusts without one) that no log line may show.
        node(
            &url.replace("stixgate@", "stixgate:node-password@"),
            dirs[1].path(),
        ),
    ];
    let client = reqwest::Client::new();
    let posted = post_indicators(&client, &nodes[1].address, 1..2)
        .await
        .unwrap();
    let status: Value = posted.json().await.unwrap();
    let id = status["id"].as_str().unwrap();
    let read = get(&client, &format!("{}/api/status/{id}/", nodes[0].address)).await;
    assert_eq!((read.status, read.body), (StatusCode::OK, status));
    for node in nodes {
        let log = node.log_lines().join("\n");
        assert!(log.contains("listening on"), "{log}");
        assert!(!log.contains("node-password"), "{log}");
    }
}

#[test]
fn a_node_that_cannot_reach_its_database_names_it_without_the_password() {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("STIXGATE_STORE__ENGINE", "postgres")
        .env(
            "STIXGATE_STORE__URL",
            "postgres://gate:db-password@127.0.0.1:1/stixgate",
        )
        .env("STIXGATE_STORE__SSLMODE", "disable")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to the PostgreSQL database 127.0.0.1:1/stixgate"),
        "{stderr}"
    );
    assert!(!stderr.contains("db-password"), "{stderr}");
}

/// A writer that holds its transaction open (a psql session here, with the collection's row locked and an
/// object written under the next date_added) makes the nodes' writers wait, so that nothing commits past it
/// and a reader's cursor never passes an object that commits later.
#[tokio::test]
async fn a_writer_held_inside_its_transaction_makes_no_reader_skip() {
    let (url, _dirs, nodes) = nodes(2);
    let client = reqwest::Client::new();
    let first = post_indicators(&client, &nodes[0].address, 1..2);
    assert_eq!(first.await.unwrap().status(), StatusCode::ACCEPTED);
    let slow = indicator(2, "2020-01-01T00:00:00.000Z").to_string();
    let mut session = Cluster::get().session(database_of(&url));
    session.run(
        &format!(
            "BEGIN; \
             SELECT last_added FROM collections WHERE id = '{COLLECTION}' FOR UPDATE; \
             INSERT INTO objects SELECT id, last_added + 1, 'indicator--00000000-0000-4000-8000-000000000002', \
                 'indicator', 1577836800000000, '2020-01-01T00:00:00.000Z', convert_to($json${slow}$json$, 'UTF8') \
               FROM collections WHERE id = '{COLLECTION}'; \
             UPDATE collections SET last_added = last_added + 1, objects = objects + 1 \
               WHERE id = '{COLLECTION}';"
        ),
        "held",
    );
    let fast = {
        let (client, address) = (client.clone(), nodes[1].address.clone());
        tokio::spawn(async move { post_indicators(&client, &address, 3..4).await })
    };
    let page = get(&client, &objects_url(&nodes[0].address)).await;
    assert_eq!(
        page.ids(),
        ["indicator--00000000-0000-4000-8000-000000000001"]
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!fast.is_finished(), "a POST went past the held lock");
    session.run("COMMIT;", "committed");
    assert_eq!(fast.await.unwrap().unwrap().status(), StatusCode::ACCEPTED);
    let after = format!(
        "{}?added_after={}",
        objects_url(&nodes[1].address),
        page.last.unwrap()
    );
    assert_eq!(
        get(&client, &after).await.ids(),
        [
            "indicator--00000000-0000-4000-8000-000000000002",
            "indicator--00000000-0000-4000-8000-000000000003"
        ]
    );
}

/// While its database refuses connections, a node answers 503 (TAXII clients and IntelMQ retry those), never
/// 500 or a wrong page; once the database is back, it answers again without a restart.
#[tokio::test]
async fn a_node_whose_database_goes_away_answers_503_and_recovers() {
    let (url, _dirs, nodes) = nodes(1);
    let (cluster, database) = (Cluster::get(), database_of(&url));
    let (client, address) = (reqwest::Client::new(), &nodes[0].address);
    let count = || async {
        let page = get(&client, &objects_url(address)).await;
        (page.status, page.ids().len())
    };
    let post = |n: u32| post_indicators(&client, address, n..n + 1);
    assert_eq!(post(1).await.unwrap().status(), StatusCode::ACCEPTED);
    cluster.sql(
        "postgres",
        &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false"),
    );
    cluster.sql(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ),
    );
    for _ in 0..3 {
        assert_eq!(count().await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            post(2).await.unwrap().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    cluster.sql(
        "postgres",
        &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"),
    );
    assert_eq!(count().await, (StatusCode::OK, 1));
    assert_eq!(post(2).await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(count().await, (StatusCode::OK, 2));
}

/// A node killed with SIGKILL while it takes writes loses nothing it acknowledged: another node serves every
/// object of every POST answered 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    let (_url, _dirs, mut nodes) = nodes(2);
    let survivor = nodes.pop().unwrap();
    let victim = nodes.pop().unwrap();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..4u32)
        .map(|writer| {
            let address = victim.address.clone();
            let acknowledged = Arc::clone(&acknowledged);
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for post in 0.. {
                    // Once the node is gone, the writer stops.
                    let Some(ids) = post_five(&client, &address, writer * 100_000 + post).await
                    else {
                        break;
                    };
                    acknowledged.lock().unwrap().extend(ids);
                }
            })
        })
        .collect();
    // Kill it once writes are under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writes never got going"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    victim.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let all = format!("{}?limit=10000", objects_url(&survivor.address));
    let stored: BTreeSet<String> = get(&reqwest::Client::new(), &all)
        .await
        .ids()
        .into_iter()
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
}

/// Two nodes whose listeners look at the collections only every ten minutes (within a test, only a
/// notification, or the look after the listener connects again, can tell them what another node stored), one
/// object stored through the first, and a live wait (`x-stixgate-wait`) on the first for what comes after it.
struct WaitOnFirstNode {
    url: String,
    _dirs: Vec<TempDir>,
    nodes: Vec<ServerProcess>,
    client: reqwest::Client,
    waiting: tokio::task::JoinHandle<Answer>,
}

impl WaitOnFirstNode {
    async fn start() -> Self {
        let url = Cluster::get().fresh_database();
        let dirs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let env = [
            ("STIXGATE_STORE__SSLMODE", "disable"),
            ("PG_LISTENER_TEST_BACKSTOP_MS", "600000"),
        ];
        let nodes: Vec<ServerProcess> = dirs
            .iter()
            .map(|d| node_with(&url, d.path(), &env))
            .collect();
        let client = reqwest::Client::new();
        let first = post_indicators(&client, &nodes[0].address, 1..2)
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::ACCEPTED);
        let newest = get(&client, &objects_url(&nodes[0].address))
            .await
            .last
            .unwrap();
        let wait = format!(
            "{}?x-stixgate-wait=30&added_after={newest}",
            objects_url(&nodes[0].address)
        );
        let waiting = {
            let client = client.clone();
            tokio::spawn(async move { get(&client, &wait).await })
        };
        // Long enough for the request to reach its wait on any machine; an object posted before it would be
        // answered at once anyway, so this only makes the test meaningful, not pass.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        Self {
            url,
            _dirs: dirs,
            nodes,
            client,
            waiting,
        }
    }

    /// Posts an object through the second node; the wait on the first must answer with it, before the 30 s of
    /// the wait are over.
    async fn post_to_the_second_and_see_it_on_the_first(self) {
        let posted = post_indicators(&self.client, &self.nodes[1].address, 2..3)
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::ACCEPTED);
        let answer = self.waiting.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.ids(),
            ["indicator--00000000-0000-4000-8000-000000000002"]
        );
    }
}

/// A live wait on one node is answered when another node stores an object: the storing node's transaction
/// sends a notification that the waiting node's listener receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_wait_on_one_node_is_answered_when_another_node_stores() {
    WaitOnFirstNode::start()
        .await
        .post_to_the_second_and_see_it_on_the_first()
        .await;
}

/// A listener whose connection is cut connects again and looks at every collection, so that what was stored
/// meanwhile (whose notification it missed) still wakes the waits on its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_whose_connection_is_cut_catches_up_when_it_connects_again() {
    let test = WaitOnFirstNode::start().await;
    // Every listener of the database goes; the first node's comes back while, or after, the second stores.
    let (cluster, database) = (Cluster::get(), database_of(&test.url));
    let listeners = format!(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = '{database}' AND application_name = 'stixgate-listener'"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cluster.sql("postgres", &listeners).trim() != "2" {
        assert!(
            std::time::Instant::now() < deadline,
            "the listeners never connected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cut = cluster.sql(
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{database}' AND application_name = 'stixgate-listener'"
        ),
    );
    assert_eq!(cut.trim(), "2", "the two nodes' listeners: {cut}");
    test.post_to_the_second_and_see_it_on_the_first().await;
}
