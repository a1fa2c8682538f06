//! Live exchange between two stixgate processes (issue 15): how long an envelope POSTed to A takes to be
//! readable on B, and what open follows cost A.
//!
//! `cargo bench --bench live` (release build of `stixgate`; each server runs as its own process on 127.0.0.1
//! with its data in a temporary directory and the default configuration plus one `[[peer]]`). For each way of
//! carrying envelopes from A to B (B follows A live; A pushes to B live; B polls A every second):
//! - `idle`: probe envelopes POSTed to A every 50 ms; each is timed from just before its POST until B's
//!   `GET /envelopes/{id}`, asked every millisecond, answers 200;
//! - `load`: the same probes while other clients POST single envelopes to A at `BENCH_LIVE_RATE` per second
//!   (default 1000), each on its own, up to 256 at a time.
//!
//! Then A alone, with `BENCH_LIVE_FOLLOWS` (default "0 1 100") open follows made by this client (the requests a
//! live peer makes: Get Objects with `x-stixgate-wait=30`, then again after the page's
//! `X-TAXII-Date-Added-Last`): A's CPU time, from `/proc/PID/stat`, idle and under the same load.
//!
//! It prints numbers and checks nothing about time. `BENCH_LIVE_PROBES` (default 200) sets the probes per
//! phase, `BENCH_LIVE_WAYS` (default "pull push poll") the ways measured.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_stixgate");
/// The collection of the embedded default configuration, writable anonymously on loopback.
const COLLECTION: &str = "6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c";
/// How long the load runs before the probes start, so that they meet a steady state.
const WARM_UP: Duration = Duration::from_secs(2);
/// How often a probe is sent: at idle, far apart enough that each crosses alone.
const PROBE_PACE: Duration = Duration::from_millis(50);
/// How long a probe may take before the phase gives up on it and on those after it.
const GIVE_UP: Duration = Duration::from_secs(60);
/// How long each CPU measurement lasts.
const CPU_WINDOW: Duration = Duration::from_secs(10);

/// How envelopes get from A to B.
#[derive(Clone, Copy)]
enum Way {
    LivePull,
    LivePush,
    Poll,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::LivePull => "live pull (B follows A)",
            Way::LivePush => "live push (A pushes to B)",
            Way::Poll => "polling pull, interval 1 s",
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let rate: u64 = env_number("BENCH_LIVE_RATE", 1000)?;
    let probes: usize = env_number("BENCH_LIVE_PROBES", 200)?;
    let follows = std::env::var("BENCH_LIVE_FOLLOWS").unwrap_or_else(|_| "0 1 100".into());
    let ways = std::env::var("BENCH_LIVE_WAYS").unwrap_or_else(|_| "pull push poll".into());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    println!(
        "latency from POST /envelopes on A to readable on B, background load {rate} envelopes/s"
    );
    println!();
    println!(
        "| way | phase | probes arrived | p50 ms | p99 ms | max ms | load reached (envelopes/s) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for way in ways.split_whitespace() {
        let way = match way {
            "pull" => Way::LivePull,
            "push" => Way::LivePush,
            "poll" => Way::Poll,
            other => bail!("BENCH_LIVE_WAYS lists pull, push and poll, not {other:?}"),
        };
        let pair = Pair::start(way)?;
        pair.wait_until_up(&client).await?;
        for loaded in [false, true] {
            let load = loaded.then(|| Load::start(&client, &pair.a.address, rate));
            if load.is_some() {
                tokio::time::sleep(WARM_UP).await;
            }
            let tag = format!("{}-{}", way as u8, loaded as u8);
            let mut latencies = pair.probe(&client, &tag, probes).await?;
            let reached = match load {
                Some(load) => format!("{:.0}", load.stop().await),
                None => "-".into(),
            };
            // Probes that never arrived sort last, as the slowest.
            latencies.sort_by_key(|latency| latency.unwrap_or(Duration::MAX));
            let arrived = latencies.iter().flatten().count();
            println!(
                "| {} | {} | {arrived} of {probes} | {} | {} | {} | {reached} |",
                way.name(),
                if loaded { "load" } else { "idle" },
                percentile(&latencies, 50),
                percentile(&latencies, 99),
                percentile(&latencies, 100),
            );
        }
        pair.stop();
    }
    println!();
    println!("CPU time of A (ms per second), with open follows made by this client");
    println!();
    println!("| open follows | idle | under {rate} envelopes/s | load reached (envelopes/s) |");
    println!("|---:|---:|---:|---:|");
    for count in follows.split_whitespace() {
        let count: usize = count.parse().context("BENCH_LIVE_FOLLOWS")?;
        follow_cost(&client, count, rate).await?;
    }
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number, not {text:?}")),
        Err(_) => Ok(default),
    }
}

/// A stixgate process with its data directory.
struct Server {
    child: Child,
    address: String,
    _data: TempDir,
}

impl Server {
    /// Starts `stixgate serve` on a free port, with `config` (TOML) as its configuration file.
    fn start(port: u16, config: &str) -> Result<Self> {
        let data = tempfile::tempdir()?;
        let config_path = data.path().join("stixgate.toml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(data.path().join("stixgate.log"))?;
        let child = Command::new(BINARY)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config_path)
            .arg("--data")
            .arg(data.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting stixgate")?;
        Ok(Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            _data: data,
        })
    }

    async fn wait_until_up(&self, client: &reqwest::Client) -> Result<()> {
        for _ in 0..300 {
            let up = client.get(format!("{}/healthz", self.address)).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} did not come up; see its log in {}",
            self.address,
            self.log_path().display()
        )
    }

    fn log_path(&self) -> std::path::PathBuf {
        self._data.path().join("stixgate.log")
    }

    /// Copies the log out of the data directory, which goes when the server does.
    fn keep_log(&self) -> std::path::PathBuf {
        let kept =
            std::env::temp_dir().join(format!("stixgate-bench-live-{}.log", self.child.id()));
        let _ = std::fs::copy(self.log_path(), &kept);
        kept
    }

    /// CPU time (user and system) used so far.
    fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("a /proc stat line")?
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // Linux reports in clock ticks of 1/100 s (USER_HZ) on every common configuration.
        Ok(Duration::from_millis(ticks * 10))
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn peer(name: &str, port: u16, direction: &str, schedule: &str) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/api/collections/{COLLECTION}/\"\n\
         direction = \"{direction}\"\n{schedule}"
    )
}

/// A and B, configured for one way.
struct Pair {
    a: Server,
    b: Server,
}

impl Pair {
    fn start(way: Way) -> Result<Self> {
        let (port_a, port_b) = (free_port()?, free_port()?);
        let live = "interval = 300\nmode = \"live\"\n";
        let (config_a, config_b) = match way {
            Way::LivePull => (String::new(), peer("a", port_a, "pull", live)),
            Way::LivePush => (peer("b", port_b, "push", live), String::new()),
            Way::Poll => (String::new(), peer("a", port_a, "pull", "interval = 1\n")),
        };
        Ok(Self {
            a: Server::start(port_a, &config_a)?,
            b: Server::start(port_b, &config_b)?,
        })
    }

    async fn wait_until_up(&self, client: &reqwest::Client) -> Result<()> {
        self.a.wait_until_up(client).await?;
        self.b.wait_until_up(client).await?;
        // The peer's first run comes within 5 s of the start: one envelope that crossed shows that it has.
        match self.probe(client, "first", 1).await?[..] {
            [Some(_)] => Ok(()),
            _ => bail!("nothing crosses from A to B"),
        }
    }

    /// Probes sent to A every [`PROBE_PACE`], each timed from just before its POST until B serves it; `None`
    /// for those that had not arrived when the phase gave up on the oldest one. B stores what comes from A in
    /// the order A stored it, so only the oldest probe not yet seen is asked for, every millisecond.
    async fn probe(
        &self,
        client: &reqwest::Client,
        tag: &str,
        count: usize,
    ) -> Result<Vec<Option<Duration>>> {
        let (sent, mut probes) = tokio::sync::mpsc::unbounded_channel();
        let (sender_client, address, tag) =
            (client.clone(), self.a.address.clone(), tag.to_owned());
        let sender = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PROBE_PACE);
            for n in 0..count {
                ticks.tick().await;
                let id = format!("probe-{tag}-{n}");
                let started = Instant::now();
                post(&sender_client, &address, &envelope(&id)).await?;
                if sent.send((id, started)).is_err() {
                    break;
                }
            }
            Ok::<_, anyhow::Error>(())
        });
        let mut latencies = Vec::with_capacity(count);
        while let Some((id, started)) = probes.recv().await {
            let url = format!("{}/envelopes/{id}", self.b.address);
            loop {
                if client.get(&url).send().await?.status() == StatusCode::OK {
                    latencies.push(Some(started.elapsed()));
                    break;
                }
                if started.elapsed() > GIVE_UP {
                    sender.abort();
                    eprintln!(
                        "{id} did not reach B within {GIVE_UP:?}; the logs: {} and {}",
                        self.a.keep_log().display(),
                        self.b.keep_log().display(),
                    );
                    latencies.resize(count, None);
                    return Ok(latencies);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        sender.await??;
        Ok(latencies)
    }

    fn stop(self) {
        self.b.stop();
        self.a.stop();
    }
}

/// An IntelMQ event envelope with this id.
fn envelope(id: &str) -> String {
    let n = id.bytes().map(u32::from).sum::<u32>();
    format!(
        r#"{{"meta": {{"version": 1, "uuid": {{"current": "{id}"}}, "type": "event", "format": "intelmq"}}, "payload": {{"classification.type": "scanner", "source.ip": "192.0.2.{}", "source.port": {}, "time.source": "2026-01-01T00:00:00+00:00"}}}}"#,
        n % 250 + 1,
        1024 + n % 60000
    )
}

async fn post(client: &reqwest::Client, address: &str, body: &str) -> Result<()> {
    let response = client
        .post(format!("{address}/envelopes"))
        .body(body.to_owned())
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("POST /envelopes: {}", response.status());
    }
    Ok(())
}

/// Clients POSTing single envelopes to one server at a steady rate, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, Duration)>,
}

impl Load {
    fn start(client: &reqwest::Client, address: &str, rate: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, address, stopped) = (client.clone(), address.to_owned(), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            // Ticks of 10 ms, each starting its share of POSTs; at most 256 in flight, so that a server that
            // cannot keep up shows as a lower rate rather than as ever more open requests.
            let (sent, started) = (Arc::new(AtomicU64::new(0)), Instant::now());
            let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
            let mut ticks = tokio::time::interval(Duration::from_millis(10));
            let mut due = 0u64;
            let mut n = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                ticks.tick().await;
                due += rate;
                while due >= 100 {
                    due -= 100;
                    n += 1;
                    let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                        continue;
                    };
                    let (client, address, sent) =
                        (client.clone(), address.clone(), Arc::clone(&sent));
                    let body = envelope(&format!("load-{}-{n}", started.elapsed().as_nanos()));
                    tokio::spawn(async move {
                        if post(&client, &address, &body).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        drop(permit);
                    });
                }
            }
            let _ = in_flight.acquire_many(256).await;
            (sent.load(Ordering::Relaxed), started.elapsed())
        });
        Self { stop, task }
    }

    /// Stops it, and gives the envelopes per second it reached.
    async fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let (sent, elapsed) = self.task.await.unwrap_or_default();
        sent as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// What `count` open follows cost A: its CPU time per second, idle and under load.
async fn follow_cost(client: &reqwest::Client, count: usize, rate: u64) -> Result<()> {
    let a = Server::start(free_port()?, "")?;
    a.wait_until_up(client).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let objects = format!("{}/api/collections/{COLLECTION}/objects/", a.address);
    let follows: Vec<_> = (0..count)
        .map(|_| tokio::spawn(follow(client.clone(), objects.clone(), Arc::clone(&stop))))
        .collect();
    // Time for every follow to be waiting at A.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = cpu_per_second(&a, CPU_WINDOW).await?;
    let load = Load::start(client, &a.address, rate);
    tokio::time::sleep(WARM_UP).await;
    let loaded = cpu_per_second(&a, CPU_WINDOW).await?;
    let reached = load.stop().await;
    stop.store(true, Ordering::Relaxed);
    for follow in follows {
        follow.abort();
    }
    a.stop();
    println!("| {count} | {idle:.0} | {loaded:.0} | {reached:.0} |");
    Ok(())
}

async fn cpu_per_second(server: &Server, window: Duration) -> Result<f64> {
    let before = server.cpu()?;
    tokio::time::sleep(window).await;
    Ok((server.cpu()? - before).as_secs_f64() * 1000.0 / window.as_secs_f64())
}

/// What a live peer asks of its remote: every page, each request held until objects arrive.
async fn follow(client: reqwest::Client, objects: String, stop: Arc<AtomicBool>) {
    let mut added_after: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut query = vec![
            ("limit", "1000".to_owned()),
            ("x-stixgate-wait", "30".to_owned()),
        ];
        if let Some(after) = &added_after {
            query.push(("added_after", after.clone()));
        }
        let Ok(url) = reqwest::Url::parse_with_params(&objects, &query) else {
            return;
        };
        let answer = client
            .get(url)
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .await;
        let Ok(response) = answer else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if let Some(last) = response.headers().get("X-TAXII-Date-Added-Last") {
            added_after = last.to_str().ok().map(str::to_owned);
        }
        let _ = response.bytes().await;
    }
}

/// The `p`-th percentile (0 to 100) of sorted latencies, in milliseconds.
fn percentile(sorted: &[Option<Duration>], p: usize) -> String {
    let at = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    match sorted[at] {
        Some(latency) => format!("{:.1}", latency.as_secs_f64() * 1000.0),
        None => format!("> {}", GIVE_UP.as_millis()),
    }
}
