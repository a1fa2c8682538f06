//! Topologies of live peers (issue 15), with real `stixgate serve` processes on loopback: a chain that pulls, a
//! full mesh that pushes, and a hub whose spokes pull and push. Every instance also writes envelopes; in the end
//! every envelope is on every instance once, byte for byte under its original id, and the exchange comes to
//! rest: what returns to its origin is a duplicate and goes no further. Every peer here would poll only once an
//! hour, so only the live follows can carry the envelopes within the deadlines.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;

use crate::federation::{
    Peer, assert_each_once, envelopes, free_port, get_json, serve_with_peers, served_objects,
};
use crate::helpers::ServerProcess;
use crate::live::{id_of, post};

/// Live, an hourly interval that cannot explain an arrival, and one quick retry of a request before the run
/// fails, so that a remote that is gone shows in `/peers` soon.
const LIVE: &str = "interval = 3600\nmode = \"live\"\nretries = 1\n";

/// Far longer than the exchange needs on a loaded machine, with backoffs after a restart.
const SETTLES_WITHIN: Duration = Duration::from_secs(90);

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Instances, each with its own data directory, fixed port and `[[peer]]` entries on the others.
struct Network {
    dirs: Vec<TempDir>,
    ports: Vec<u16>,
    /// For each instance: the others it has a peer entry for, and the entry's direction.
    links: Vec<Vec<(usize, &'static str)>>,
    servers: Vec<Option<ServerProcess>>,
    runtime: Runtime,
}

impl Network {
    /// `links[i]` are instance i's peers; every instance starts.
    fn start(links: Vec<Vec<(usize, &'static str)>>) -> Self {
        let count = links.len();
        let mut network = Self {
            dirs: (0..count).map(|_| tempfile::tempdir().unwrap()).collect(),
            ports: (0..count).map(|_| free_port()).collect(),
            links,
            servers: (0..count).map(|_| None).collect(),
            runtime: Runtime::new().unwrap(),
        };
        for index in 0..count {
            network.start_instance(index);
        }
        network
    }

    fn start_instance(&mut self, index: usize) {
        let peers: Vec<Peer> = self.links[index]
            .iter()
            .map(|&(other, direction)| Peer {
                name: NAMES[other],
                port: self.ports[other],
                direction,
                schedule: LIVE,
            })
            .collect();
        let server = serve_with_peers(self.dirs[index].path(), self.ports[index], &peers);
        self.servers[index] = Some(server);
    }

    fn server(&self, index: usize) -> &ServerProcess {
        self.servers[index].as_ref().expect("the instance runs")
    }

    /// POSTs `sent[i]` to instance `i % count`, in turn, so that every instance writes while the others do.
    fn write(&self, sent: &[String], onto: &[usize]) {
        for (n, envelope) in sent.iter().enumerate() {
            post(&self.runtime, self.server(onto[n % onto.len()]), envelope);
        }
    }

    /// Waits until every instance serves every envelope of `sent`, and checks that it is the same bytes.
    fn wait_until_everywhere(&self, sent: &[String]) {
        let (client, deadline) = (reqwest::Client::new(), Instant::now() + SETTLES_WITHIN);
        for (index, name) in NAMES.iter().enumerate().take(self.servers.len()) {
            let server = self.server(index);
            for envelope in sent {
                let url = format!("{}/envelopes/{}", server.address, id_of(envelope));
                let text = loop {
                    let response = self
                        .runtime
                        .block_on(async { client.get(&url).send().await.unwrap() });
                    if response.status() == StatusCode::OK {
                        break self.runtime.block_on(response.text()).unwrap();
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{url} did not arrive at {name}: {}",
                        self.peers_of_all()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                };
                assert_eq!(&text, envelope, "byte for byte, under its id, at {url}");
            }
        }
    }

    /// Every instance's `/peers`, for messages.
    fn peers_of_all(&self) -> String {
        (0..self.servers.len())
            .filter(|&i| self.servers[i].is_some())
            .map(|i| format!("{}: {}", NAMES[i], self.peers_of(i)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn peers_of(&self, index: usize) -> Value {
        get_json(&self.runtime, self.server(index), "/peers")["peers"].clone()
    }

    /// What shows whether the exchange has come to rest: every instance's objects, and what its peers have
    /// pulled, pushed and counted as duplicates so far.
    fn snapshot(&self) -> Vec<(Vec<String>, Vec<[u64; 3]>)> {
        (0..self.servers.len())
            .map(|index| {
                let counts = self
                    .peers_of(index)
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|peer| {
                        ["objects_pulled", "objects_pushed", "duplicates"]
                            .map(|key| peer[key].as_u64().unwrap())
                    })
                    .collect();
                (served_objects(&self.runtime, self.server(index)), counts)
            })
            .collect()
    }

    /// Waits until the exchange is at rest (three equal snapshots in a row, half a second apart; a loop would
    /// never get there), and checks that every instance serves the same objects, each id in one version.
    fn assert_at_rest(&self) {
        let deadline = Instant::now() + SETTLES_WITHIN;
        let (mut last, mut equal_in_a_row) = (self.snapshot(), 0);
        while equal_in_a_row < 2 {
            assert!(
                Instant::now() < deadline,
                "the exchange does not come to rest: {}",
                self.peers_of_all()
            );
            std::thread::sleep(Duration::from_millis(500));
            let now = self.snapshot();
            equal_in_a_row = if now == last { equal_in_a_row + 1 } else { 0 };
            last = now;
        }
        let objects = &last[0].0;
        for (index, (served, _)) in last.iter().enumerate() {
            assert_eq!(served, objects, "{} serves what a serves", NAMES[index]);
        }
        let mut ids: Vec<&str> = objects
            .iter()
            .map(|o| o.split_once(' ').unwrap().0)
            .collect();
        ids.dedup();
        assert_eq!(ids.len(), objects.len(), "each object in one version");
    }

    /// Stops every instance, then checks that each stores every envelope of `sent` once.
    fn stop_and_check(mut self, sent: &[String]) {
        for server in self.servers.iter_mut().rev() {
            assert!(server.take().unwrap().terminate().success());
        }
        for dir in &self.dirs {
            assert_each_once(dir.path(), sent);
        }
    }
}

/// Envelopes written at each of `count` instances: `per_instance` each, named after their origin.
fn written(count: usize, per_instance: usize, round: &str) -> Vec<String> {
    let per_origin: Vec<Vec<String>> = NAMES[..count]
        .iter()
        .map(|name| envelopes(&format!("{round}-{name}"), per_instance))
        .collect();
    // Interleaved, so that the instances write at the same time.
    (0..per_instance)
        .flat_map(|n| per_origin.iter().map(move |sent| sent[n].clone()))
        .collect()
}

#[test]
fn a_chain_of_live_pulls_carries_every_envelope_both_ways_once() {
    // A - B - C: each follows its neighbours.
    let network = Network::start(vec![
        vec![(1, "pull")],
        vec![(0, "pull"), (2, "pull")],
        vec![(1, "pull")],
    ]);
    let sent = written(3, 8, "chain");
    network.write(&sent, &[0, 1, 2]);
    network.wait_until_everywhere(&sent);
    network.assert_at_rest();
    network.stop_and_check(&sent);
}

#[test]
fn a_hub_with_three_spokes_that_pull_and_push_live() {
    // The hub (a) has no peers of its own: the spokes reach out to it, as spokes behind firewalls do.
    let network = Network::start(vec![
        vec![],
        vec![(0, "both")],
        vec![(0, "both")],
        vec![(0, "both")],
    ]);
    let sent = written(4, 6, "hub");
    network.write(&sent, &[0, 1, 2, 3]);
    network.wait_until_everywhere(&sent);
    network.assert_at_rest();
    network.stop_and_check(&sent);
}

/// Waits until instance `index` shows that its peer `name` fails: counted, with the error and the next try.
fn wait_for_failing_peer(network: &Network, index: usize, name: &str) -> Value {
    let deadline = Instant::now() + SETTLES_WITHIN;
    loop {
        let peers = network.peers_of(index);
        let peer = peers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone();
        if peer["failed_runs"].as_u64().unwrap() > 0 && peer["next_run"].is_string() {
            return peer;
        }
        assert!(Instant::now() < deadline, "the peer does not fail: {peer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_mesh_of_live_pushes_rides_out_an_instance_killed_mid_stream() {
    // Each of the four pushes to the three others.
    let links = (0..4)
        .map(|i| (0..4).filter(|&j| j != i).map(|j| (j, "push")).collect())
        .collect();
    let mut network = Network::start(links);
    let first = written(4, 5, "mesh-1");
    network.write(&first, &[0, 1, 2, 3]);
    // D goes down at once, whatever it has sent on by then; what it acknowledged is durable.
    network.servers[3].take().unwrap().kill();
    let second = written(3, 5, "mesh-2");
    network.write(&second, &[0, 1, 2]);
    // Those that push to D notice at their next object, and retry with backoff.
    for index in 0..3 {
        let peer = wait_for_failing_peer(&network, index, "d");
        assert!(peer["last_error"].is_string(), "{peer}");
        assert!(peer["failed_in_a_row"].as_u64().unwrap() > 0, "{peer}");
    }
    network.start_instance(3);
    let third = written(4, 3, "mesh-3");
    network.write(&third, &[0, 1, 2, 3]);
    let sent: Vec<String> = [first, second, third].concat();
    network.wait_until_everywhere(&sent);
    network.assert_at_rest();
    for index in 0..4 {
        for peer in network.peers_of(index).as_array().unwrap() {
            assert_eq!(peer["failed_in_a_row"], 0, "recovered: {peer}");
            assert_eq!(peer["last_error"], Value::Null, "recovered: {peer}");
        }
    }
    network.stop_and_check(&sent);
}
