//! Background jobs on several nodes of one database: each runs on one node at a time, under a lease, and moves
//! to another node when its node dies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{COLLECTION, ServerProcess, TAXII};
use crate::pg_cluster::Cluster;
use crate::scale_out::{database_of, node_with_args, objects_url, post_five};

const ADMIN: &str = "root";
/// A short lease term, so that a job moves in seconds: renewed every 3 s, stopped 7.2 s after the last renewal
/// was asked for when none comes.
const TERM_MS: &str = "9000";
/// What the issue promises: a job moves within this long of its node's death.
const MOVES_WITHIN: Duration = Duration::from_secs(30);

/// A node on the database at `url` with one `[[peer]]`, `hub`, that pushes the collection to `remote` every
/// second, and an admin who may read `/peers`.
fn node_pushing_to(url: &str, data: &Path, remote: &str) -> ServerProcess {
    let config = pushing_to(data, remote);
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ];
    node_with_args(
        url,
        data,
        &args,
        &[
            ("STIXGATE_STORE__SSLMODE", "disable"),
            ("LEASE_TEST_TERM_MS", TERM_MS),
            // With its time to the microsecond, which a test compares with the database's.
            ("STIXGATE_LOG_FORMAT", "json"),
        ],
    )
}

/// Writes, in `data`, the configuration of a server with the peer `hub` and the admin; its path.
fn pushing_to(data: &Path, remote: &str) -> PathBuf {
    let config = data.join("stixgate.toml");
    let text = format!(
        "[[users]]\nname = \"{ADMIN}\"\npassword = \"{}\"\nadmin = true\n\n\
         [[peer]]\nname = \"hub\"\nurl = \"{remote}/api/collections/{COLLECTION}/\"\n\
         direction = \"push\"\ninterval = 1\n",
        stixgate::secret::hash_password(ADMIN)
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// A node's `/peers`: its own id, and its one peer.
async fn peers(client: &reqwest::Client, address: &str) -> (String, Value) {
    let body = peers_json(client, address).await;
    (
        body["node"].as_str().unwrap().to_owned(),
        body["peers"][0].clone(),
    )
}

/// Every background job a node lists in `/peers`, with the node that runs it.
async fn jobs(client: &reqwest::Client, address: &str) -> Vec<(String, Value)> {
    let body = peers_json(client, address).await;
    let jobs = body["jobs"].as_array().unwrap().iter();
    jobs.map(|job| (job["job"].as_str().unwrap().to_owned(), job["node"].clone()))
        .collect()
}

async fn peers_json(client: &reqwest::Client, address: &str) -> Value {
    client
        .get(format!("{address}/peers"))
        .basic_auth(ADMIN, Some(ADMIN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until every node at `addresses` names the same node as the peer's runner, one not in `not`; its id.
async fn agreed_holder(client: &reqwest::Client, addresses: &[String], not: &[String]) -> String {
    let deadline = Instant::now() + MOVES_WITHIN;
    loop {
        let mut holders = BTreeSet::new();
        for address in addresses {
            // `None` while no node holds the lease.
            let holder = peers(client, address).await.1["node"]
                .as_str()
                .map(str::to_owned);
            holders.insert(holder);
        }
        if let [Some(holder)] = holders.iter().collect::<Vec<_>>()[..]
            && !not.contains(holder)
        {
            return holder.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no one node runs the peer: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that the node `holder` (one of `nodes`, whose ids are `ids`) has finished runs of the peer (a run
/// under way is counted when it ends) and that no other node has run it.
async fn only_the_holder_runs(
    client: &reqwest::Client,
    nodes: &[ServerProcess],
    ids: &[String],
    holder: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for (node, id) in nodes.iter().zip(ids) {
        loop {
            let (_, peer) = peers(client, &node.address).await;
            assert_eq!(peer["node"], holder, "{peer}");
            let runs = peer["runs"].as_u64().unwrap();
            if id != holder {
                assert_eq!(runs, 0, "{id} ran the peer, held by {holder}: {peer}");
                break;
            }
            if runs > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the holder does not run: {peer}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every object id a server serves, page after page.
async fn served(client: &reqwest::Client, address: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut next = String::new();
    loop {
        let page: Value = client
            .get(format!("{}?limit=1000{next}", objects_url(address)))
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        for object in page["objects"].as_array().into_iter().flatten() {
            ids.insert(object["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(cursor) => next = format!("&next={cursor}"),
            None => return ids,
        }
    }
}

/// Writers that post to every node in turn until stopped; the ids of what was acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addresses: &[String]) -> Self {
        let (stop, acknowledged): (Arc<AtomicBool>, Arc<Mutex<Vec<String>>>) = Default::default();
        let writers = (0..3u32)
            .map(|writer| {
                let (stop, acknowledged) = (Arc::clone(&stop), Arc::clone(&acknowledged));
                let addresses = addresses.to_vec();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    for post in 0u32.. {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let address = &addresses[post as usize % addresses.len()];
                        // A node that was killed refuses; the next post goes to another.
                        let Some(ids) = post_five(&client, address, writer * 100_000 + post).await
                        else {
                            continue;
                        };
                        acknowledged.lock().unwrap().extend(ids);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            acknowledged,
            writers,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count() < count {
            assert!(Instant::now() < deadline, "the writes do not get going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.await.unwrap();
        }
        self.acknowledged.lock().unwrap().iter().cloned().collect()
    }
}

/// Three nodes with the same `[[peer]]`: exactly one runs it, and every node says which. SIGKILLed under load,
/// that node's lease expires and another node takes the peer over within 30 s; the remote then receives every
/// object that any node acknowledged, from the new runner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_runs_on_one_node_and_moves_within_30_s_when_that_node_is_killed() {
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = ServerProcess::start(remote_dir.path());
    let url = Cluster::get().fresh_database();
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<ServerProcess> = dirs
        .iter()
        .map(|dir| node_pushing_to(&url, dir.path(), &remote.address))
        .collect();
    let client = reqwest::Client::new();
    let addresses = |nodes: &[ServerProcess]| -> Vec<String> {
        nodes.iter().map(|node| node.address.clone()).collect()
    };
    let mut ids = Vec::new();
    for node in &nodes {
        ids.push(peers(&client, &node.address).await.0);
    }
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3, "{ids:?}");

    let holder = agreed_holder(&client, &addresses(&nodes), &[]).await;
    // Every job has one holder, and every node names the same.
    let listed = jobs(&client, &nodes[0].address).await;
    let names: Vec<&str> = listed.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(names, ["misp-feeds", "prune-statuses", "peer/hub"]);
    for node in &nodes[1..] {
        assert_eq!(jobs(&client, &node.address).await, listed);
    }
    for (job, runner) in &listed {
        assert!(ids.iter().any(|id| runner == id), "{job}: {runner}");
    }
    let load = Load::start(&addresses(&nodes));
    load.wait_for(100).await;
    // The remote receives the objects, and only the holder has run the peer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while served(&client, &remote.address).await.is_empty() {
        assert!(Instant::now() < deadline, "nothing reaches the remote");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    only_the_holder_runs(&client, &nodes, &ids, &holder).await;

    let victim = ids.iter().position(|id| *id == holder).unwrap();
    let acknowledged_before = load.count();
    nodes.remove(victim).kill();
    let killed = Instant::now();
    ids.remove(victim);
    let survivors = addresses(&nodes);
    let new_holder = agreed_holder(&client, &survivors, std::slice::from_ref(&holder)).await;
    let moved_after = killed.elapsed();
    assert!(moved_after < MOVES_WITHIN, "moved after {moved_after:?}");
    // Writes went on through the survivors meanwhile.
    load.wait_for(acknowledged_before + 100).await;
    let acknowledged = load.stop().await;

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let received = served(&client, &remote.address).await;
        let missing = acknowledged.difference(&received).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged objects never reached the remote"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    only_the_holder_runs(&client, &nodes, &ids, &new_holder).await;
    let index = ids.iter().position(|id| *id == new_holder).unwrap();
    let survivors_log = nodes[index].log_lines();
    assert!(
        survivors_log
            .iter()
            .any(|line| line.contains("the job runs here") && line.contains("peer/hub")),
        "{survivors_log:?}"
    );

    // A node that stops gives its leases up on its way out, and the last node takes the peer over.
    assert!(nodes.remove(index).terminate().success());
    let held = format!("SELECT count(*) FROM leases WHERE holder = '{new_holder}'");
    assert_eq!(Cluster::get().sql(database_of(&url), &held).trim(), "0");
    ids.remove(index);
    let last = agreed_holder(&client, &addresses(&nodes), &[]).await;
    assert_eq!(last, ids[0]);
}

/// A node that cannot renew its leases (a psql session locks the table against writes) stops its jobs before
/// their leases end, by its log's clock against the expiry the database holds, so that another node may take
/// them; once it can renew again, it runs them again.
#[tokio::test]
async fn a_node_that_cannot_renew_its_leases_stops_its_jobs_before_they_end_and_resumes() {
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = ServerProcess::start(remote_dir.path());
    let url = Cluster::get().fresh_database();
    let (cluster, database) = (Cluster::get(), database_of(&url));
    let dir = tempfile::tempdir().unwrap();
    let node = node_pushing_to(&url, dir.path(), &remote.address);
    let client = reqwest::Client::new();
    agreed_holder(&client, std::slice::from_ref(&node.address), &[]).await;
    let stopped = "the job stopped here";
    assert_eq!(node.log_count(stopped), 0);

    let mut session = cluster.session(database);
    session.run("BEGIN; LOCK TABLE leases IN EXCLUSIVE MODE;", "locked");
    // Reads still pass the lock: the expiry of the last renewal, which stands while the lock is held.
    let expires: f64 = cluster
        .sql(
            database,
            "SELECT extract(epoch FROM expires) FROM leases WHERE job = 'peer/hub'",
        )
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + MOVES_WITHIN;
    let stop = loop {
        let lines = node.log_lines();
        if let Some(line) = lines
            .iter()
            .find(|line| line.contains(stopped) && line.contains("peer/hub"))
        {
            break line.clone();
        }
        assert!(Instant::now() < deadline, "the peer still runs: {lines:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logged: Value = serde_json::from_str(&stop).unwrap();
    let stopped_at = chrono::DateTime::parse_from_rfc3339(logged["timestamp"].as_str().unwrap())
        .unwrap()
        .timestamp_micros() as f64
        / 1e6;
    assert!(
        stopped_at < expires,
        "stopped at {stopped_at}, after the lease ended at {expires}"
    );

    session.run("COMMIT;", "unlocked");
    let deadline = Instant::now() + MOVES_WITHIN;
    while node.log_count("the job runs here") < 2 * 3 {
        assert!(
            Instant::now() < deadline,
            "the jobs do not run again: {:?}",
            node.log_lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On sled, one process per data directory: no leases, and the process runs every job at once, as `/peers`
/// says.
#[tokio::test]
async fn a_sled_server_runs_every_job_itself() {
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = ServerProcess::start(remote_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let config = pushing_to(dir.path(), &remote.address);
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ];
    let server = ServerProcess::start_with(dir.path(), &args);
    let client = reqwest::Client::new();
    let (id, _) = peers(&client, &server.address).await;
    let listed = jobs(&client, &server.address).await;
    let names: Vec<&str> = listed.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(
        names,
        [
            "misp-feeds",
            "envelope-maker",
            "prune-statuses",
            "compact-texts",
            "peer/hub"
        ]
    );
    assert!(listed.iter().all(|(_, runner)| *runner == id), "{listed:?}");
    only_the_holder_runs(
        &client,
        std::slice::from_ref(&server),
        std::slice::from_ref(&id),
        &id,
    )
    .await;
    let (_, peer) = peers(&client, &server.address).await;
    assert_eq!(peer["lease_expires"], Value::Null);
}
