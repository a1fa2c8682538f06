//! TAXII 2.1 benchmark: a client that loads and pages one collection of any TAXII 2.1 server.
//!
//! `scripts/bench` runs it against stixgate and medallion side by side. By hand:
//!
//! ```sh
//! cargo bench --bench taxii -- --collection-url http://127.0.0.1:8080/api/collections/<id>/ --objects 100000
//! ```
//!
//! Phases, each printing a human-readable line and a machine-readable `RESULT {json}` line:
//! - `load`: POSTs `--objects` generated STIX 2.1 indicators, `--batch` per envelope, several POSTs at a time, and
//!   checks that every status resource counts each object of its envelope as a success;
//! - `page`: one client pages through the whole collection (`limit=1000`) and checks that it sees every object
//!   exactly once;
//! - `concurrent`: `--concurrency` clients fetch pages at random positions taken from the paging phase;
//! - `scale` (only with `--scale`, instead of the three above; long, for running by hand): loads in steps and
//!   times pages near the start and the end of the collection at each size, to show whether time per page is flat.
//!
//! All latencies are measured in this client. The server's memory is read from `/proc/PID/status` with `--pid`.
//!
//! Several nodes of one server (stixgate on one PostgreSQL database) are driven at once by giving
//! `--collection-url` (and `--pid`) once per node: the POSTs of the load and the clients of the concurrent phase
//! are spread over the nodes in turn, the paging client asks them in turn (each page's `next` goes to the next
//! node), and the memory reported is the sum of the nodes'.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

/// The media type of every TAXII 2.1 request and response.
const TAXII: &str = "application/taxii+json;version=2.1";
/// Objects asked for per page, in every phase, so that every server is asked for the same pages.
const PAGE_LIMIT: usize = 1000;
/// How long a POST's status may stay pending before the benchmark gives up.
const PENDING_LIMIT: Duration = Duration::from_secs(600);
/// Page GETs timed at each end of the collection, per step of the scale phase.
const SCALE_SAMPLES: usize = 50;

#[derive(Debug, Parser)]
#[command(about = "TAXII 2.1 load, paging and concurrency benchmark for one collection")]
struct Args {
    /// The collection to drive, such as http://127.0.0.1:8080/api/collections/<id>/.
    /// Its API root is this URL minus `collections/<id>/`. Once per node for several nodes of one server.
    #[arg(long, required = true)]
    collection_url: Vec<Url>,
    /// User name for HTTP Basic authentication.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Password for HTTP Basic authentication.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Objects to load (the collection is expected to be empty before).
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// The collection holds --objects objects already: skip the load phase and page what is there (to measure
    /// paging again, or with a profiler, on a server that is quiet after its load).
    #[arg(long)]
    skip_load: bool,
    /// Objects per POST at most; fewer when the envelope would exceed the API root's max_content_length.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// POSTs in flight at once during loading.
    #[arg(long, default_value_t = 4)]
    posts_in_flight: usize,
    /// Clients in the concurrent phase.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Page GETs of the concurrent phase in total (it stops at this count or at --duration, whichever is first).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Seconds after which the concurrent phase starts no more requests.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds after --duration that requests still running are given up on and reported as unfinished.
    #[arg(long, default_value_t = 60.0)]
    grace: f64,
    /// Name of the server, printed on every line.
    #[arg(long, default_value = "taxii")]
    label: String,
    /// Process id of the server, to report its resident memory after loading and after paging; once per node.
    #[arg(long)]
    pid: Vec<u32>,
    /// Collection sizes to load up to in steps, such as 10000,100000,1000000; runs the scale phase only.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<usize>,
    /// Seconds to wait for any one response.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let nodes = args
        .collection_url
        .iter()
        .map(|url| Taxii::new(&args, url))
        .collect::<Result<Vec<_>>>()?;
    let taxii = nodes.as_slice();
    let report = Report {
        label: args.label.clone(),
        pids: args.pid.clone(),
    };
    let max_content_length = taxii[0].max_content_length().await?;
    let packing = Packing {
        batch: args.batch,
        max_bytes: max_content_length,
    };
    for url in &args.collection_url {
        println!(
            "[{}] collection {url} (max_content_length {max_content_length} bytes)",
            args.label
        );
    }

    let all_checks_passed = if args.scale.is_empty() {
        run_phases(&args, taxii, &report, packing).await?
    } else {
        scale(&args, taxii, &report, packing).await?
    };
    for note in notes() {
        println!("[{}] note: {note}", args.label);
    }
    ensure!(
        all_checks_passed,
        "[{}] some checks failed: see above",
        args.label
    );
    Ok(())
}

/// Load, page and concurrent phases; false if a check failed (the phases after it still run).
async fn run_phases(
    args: &Args,
    taxii: &[Taxii],
    report: &Report,
    packing: Packing,
) -> Result<bool> {
    if !args.skip_load {
        let loaded = load(taxii, args.objects, packing, args.posts_in_flight).await?;
        report.load(&loaded, packing, args.posts_in_flight, taxii.len());
    }

    let walk = page_through(taxii, args.objects).await?;
    let walk_ok = report.page(&walk, args.objects);

    let (positions, kind) = replayable_positions(taxii, &walk).await;
    let load = Load {
        clients: args.concurrency,
        requests: args.requests,
        duration: Duration::from_secs_f64(args.duration),
        grace: Duration::from_secs_f64(args.grace),
    };
    let hammered = hammer(taxii, &positions, load).await;
    let hammer_ok = report.concurrent(&hammered, load, positions.len(), kind);
    Ok(walk_ok && hammer_ok)
}

// ---------------------------------------------------------------------------------------------------------------
// The TAXII client
// ---------------------------------------------------------------------------------------------------------------

/// One collection of one TAXII 2.1 server.
#[derive(Clone)]
struct Taxii {
    http: reqwest::Client,
    api_root: Url,
    objects: Url,
    credentials: Option<(String, String)>,
}

/// What one POST stores: an envelope of `count` objects, serialized.
struct Batch {
    body: String,
    count: usize,
}

/// A status resource, as far as the benchmark reads it.
#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    status: String,
    success_count: usize,
    failure_count: usize,
    pending_count: usize,
}

/// An envelope, as far as the benchmark reads it.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    more: bool,
    next: Option<String>,
    #[serde(default)]
    objects: Vec<ObjectId>,
}

#[derive(Deserialize)]
struct ObjectId {
    id: String,
}

/// Where a page starts: the query that fetches it, besides `limit`.
#[derive(Clone)]
enum Position {
    First,
    Next(String),
    AddedAfter(String),
}

impl Position {
    fn url(&self, objects: &Url) -> Url {
        let mut url = objects.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &PAGE_LIMIT.to_string());
            match self {
                Position::First => {}
                Position::Next(token) => {
                    query.append_pair("next", token);
                }
                Position::AddedAfter(date) => {
                    query.append_pair("added_after", date);
                }
            }
        }
        url
    }
}

/// One page as the client saw it.
struct Page {
    ids: Vec<String>,
    more: bool,
    next: Option<String>,
    /// The X-TAXII-Date-Added-Last header, verbatim.
    added_last: Option<String>,
    latency: Duration,
}

impl Taxii {
    fn new(args: &Args, collection_url: &Url) -> Result<Self> {
        // Every URL below is relative to a collection URL with its trailing slash.
        let mut collection = collection_url.clone();
        if !collection.path().ends_with('/') {
            collection.set_path(&format!("{}/", collection.path()));
        }
        ensure!(
            collection.path().contains("/collections/"),
            "--collection-url must look like http://HOST/API-ROOT/collections/ID/, not {collection}"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout))
            .build()?;
        Ok(Self {
            http,
            api_root: collection.join("../../")?,
            objects: collection.join("objects/")?,
            credentials: args.user.clone().zip(args.password.clone()),
        })
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url).header(ACCEPT, TAXII);
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Sends a request and parses its body, which must come with `expected` status and the TAXII media type.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Result<(T, HeaderMap)> {
        let (request_client, request) = request.build_split();
        let request = request?;
        let what = format!("{} {}", request.method(), request.url());
        let response = request_client
            .execute(request)
            .await
            .with_context(|| what.clone())?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.with_context(|| what.clone())?;
        if status != expected {
            let text = String::from_utf8_lossy(&body);
            bail!("{what}: expected {expected}, got {status}: {:.400}", text);
        }
        check_media_type(&what, &headers);
        let parsed =
            serde_json::from_slice(&body).with_context(|| format!("{what}: unexpected body"))?;
        Ok((parsed, headers))
    }

    async fn max_content_length(&self) -> Result<usize> {
        #[derive(Deserialize)]
        struct ApiRoot {
            max_content_length: usize,
        }
        let request = self.request(Method::GET, self.api_root.clone());
        let (root, _): (ApiRoot, _) = self.call(request, StatusCode::OK).await?;
        Ok(root.max_content_length)
    }

    /// POSTs one envelope and waits until its status is complete; returns the latency of the whole.
    async fn post(&self, batch: Batch) -> Result<Duration> {
        let started = Instant::now();
        let request = self
            .request(Method::POST, self.objects.clone())
            .header(CONTENT_TYPE, TAXII)
            .body(batch.body);
        let (mut status, _): (Status, _) = self.call(request, StatusCode::ACCEPTED).await?;
        // A server may answer before it has stored everything; the objects only count once it has.
        while status.status != "complete" {
            ensure!(
                started.elapsed() < PENDING_LIMIT,
                "POST {}: status {} still {:?} after {PENDING_LIMIT:?}",
                self.objects,
                status.id,
                status.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            status = self.status(&status.id).await?;
        }
        ensure!(
            status.success_count == batch.count,
            "POST {}: {} objects sent, but the status resource says {} succeeded, {} failed, {} pending",
            self.objects,
            batch.count,
            status.success_count,
            status.failure_count,
            status.pending_count
        );
        Ok(started.elapsed())
    }

    async fn status(&self, id: &str) -> Result<Status> {
        let url = self.api_root.join(&format!("status/{id}/"))?;
        let (status, _) = self
            .call(self.request(Method::GET, url), StatusCode::OK)
            .await?;
        Ok(status)
    }

    async fn page(&self, position: &Position) -> Result<Page> {
        let started = Instant::now();
        let request = self.request(Method::GET, position.url(&self.objects));
        let (envelope, headers): (Envelope, _) = self.call(request, StatusCode::OK).await?;
        let latency = started.elapsed();
        let added_last = headers
            .get("X-TAXII-Date-Added-Last")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Page {
            ids: envelope
                .objects
                .into_iter()
                .map(|object| object.id)
                .collect(),
            more: envelope.more,
            next: envelope.next,
            added_last,
            latency,
        })
    }
}

/// Things worth telling about the server that do not stop the benchmark, each printed once at the end.
fn notes() -> Vec<String> {
    NOTES
        .lock()
        .expect("no panics while holding it")
        .iter()
        .cloned()
        .collect()
}

static NOTES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn note(text: String) {
    NOTES
        .lock()
        .expect("no panics while holding it")
        .insert(text);
}

fn check_media_type(what: &str, headers: &HeaderMap) {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let normalized = content_type.map(|value| value.replace(' ', "").to_ascii_lowercase());
    if normalized.as_deref() != Some(TAXII) {
        // Name the request without its query so that the note is printed once per endpoint, not per page.
        let endpoint = what.split('?').next().unwrap_or(what);
        note(format!(
            "{endpoint} answered Content-Type {content_type:?}, not {TAXII:?}"
        ));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Generated objects
// ---------------------------------------------------------------------------------------------------------------

/// How objects are packed into POSTs.
#[derive(Clone, Copy)]
struct Packing {
    batch: usize,
    max_bytes: usize,
}

/// A valid, distinct STIX 2.1 indicator: a random id, and an address taken from it so that patterns differ too.
fn indicator() -> String {
    let id = Uuid::new_v4();
    let address = Ipv4Addr::from(id.as_u128() as u32);
    // STIX timestamps: UTC, millisecond precision, a `Z`.
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{id}"),
        "created": now,
        "modified": now,
        "name": "benchmark indicator",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '{address}']"),
        "pattern_type": "stix",
        "valid_from": now,
    })
    .to_string()
}

/// Generates `count` indicators in envelopes of at most `packing.batch` objects and `packing.max_bytes` bytes.
fn envelopes(count: usize, packing: Packing) -> Result<Vec<Batch>> {
    const OPEN: &str = r#"{"objects":["#;
    const CLOSE: &str = "]}";
    let mut batches = Vec::new();
    let mut carried: Option<String> = None;
    let mut generated = 0;
    loop {
        let mut body = String::from(OPEN);
        let mut in_batch = 0;
        while in_batch < packing.batch {
            let object = match carried.take() {
                Some(object) => object,
                None if generated < count => {
                    generated += 1;
                    indicator()
                }
                None => break,
            };
            let separator = usize::from(in_batch > 0);
            if body.len() + separator + object.len() + CLOSE.len() > packing.max_bytes {
                ensure!(
                    in_batch > 0,
                    "max_content_length {} is too small for one object",
                    packing.max_bytes
                );
                carried = Some(object);
                break;
            }
            if in_batch > 0 {
                body.push(',');
            }
            body.push_str(&object);
            in_batch += 1;
        }
        if in_batch == 0 {
            return Ok(batches);
        }
        body.push_str(CLOSE);
        batches.push(Batch {
            body,
            count: in_batch,
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------------------------------

struct Loaded {
    objects: usize,
    posts: usize,
    largest_post: usize,
    /// Bytes of the POSTs' bodies, to set the server's disk use against.
    bytes: usize,
    elapsed: Duration,
    /// When the last POST was answered, in milliseconds since the Unix epoch, to time the server's work after it.
    ended_unix_ms: u128,
    latencies: Latencies,
}

async fn load(taxii: &[Taxii], count: usize, packing: Packing, in_flight: usize) -> Result<Loaded> {
    // Generate everything first so that the clock measures the server, not the generator.
    let batches = envelopes(count, packing)?;
    let posts = batches.len();
    let largest_post = batches.iter().map(|batch| batch.count).max().unwrap_or(0);
    let bytes = batches.iter().map(|batch| batch.body.len()).sum();
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(batches.into_iter().enumerate())
        .map(|(n, batch)| taxii[n % taxii.len()].post(batch))
        .buffer_unordered(in_flight.max(1))
        .try_collect()
        .await?;
    Ok(Loaded {
        objects: count,
        posts,
        largest_post,
        bytes,
        elapsed: started.elapsed(),
        ended_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
        latencies: Latencies::new(latencies),
    })
}

/// The paging phase: every page in order, as one client reads them.
struct Walk {
    /// Each page's position, and what the client saw there.
    pages: Vec<(Position, Page)>,
    objects: usize,
    duplicates: usize,
    elapsed: Duration,
}

async fn page_through(nodes: &[Taxii], expected: usize) -> Result<Walk> {
    let mut seen = HashSet::with_capacity(expected);
    let mut pages = Vec::new();
    let mut objects = 0;
    let mut duplicates = 0;
    let mut position = Position::First;
    let started = Instant::now();
    loop {
        let taxii = &nodes[pages.len() % nodes.len()];
        let page = taxii.page(&position).await?;
        objects += page.ids.len();
        duplicates += page
            .ids
            .iter()
            .filter(|id| !seen.insert((*id).clone()))
            .count();
        // Guard against a server that never says `more: false`.
        ensure!(
            !(page.more && page.ids.is_empty()) && objects <= 2 * expected + PAGE_LIMIT,
            "{}: the server keeps answering more: true (after {objects} objects, {} pages)",
            position.url(&taxii.objects),
            pages.len() + 1
        );
        let following = following(&position, &page, &taxii.objects)?;
        pages.push((position, page));
        match following {
            Some(next) => position = next,
            None => break,
        }
    }
    Ok(Walk {
        pages,
        objects,
        duplicates,
        elapsed: started.elapsed(),
    })
}

/// The position of the page after `page`: by its `next` token or, when it has `more` without one (which TAXII
/// allows), by `added_after` set to its X-TAXII-Date-Added-Last header.
fn following(position: &Position, page: &Page, objects: &Url) -> Result<Option<Position>> {
    if !page.more {
        return Ok(None);
    }
    if let Some(next) = &page.next {
        return Ok(Some(Position::Next(next.clone())));
    }
    match &page.added_last {
        Some(last) => Ok(Some(Position::AddedAfter(last.clone()))),
        None => bail!(
            "{}: more: true, but neither next nor X-TAXII-Date-Added-Last",
            position.url(objects)
        ),
    }
}

/// Page positions that can be fetched again in any order, for the concurrent phase, and what they are.
///
/// `next` tokens qualify if every page got its own and fetching one again gives the same page. Tokens that are
/// cursors of one query, consumed as they are read (medallion's, for example), do not; then the positions are
/// `added_after` the X-TAXII-Date-Added-Last of each page.
async fn replayable_positions(taxii: &[Taxii], walk: &Walk) -> (Vec<Position>, &'static str) {
    let tokens: Vec<&String> = walk
        .pages
        .iter()
        .filter_map(|(position, _)| match position {
            Position::Next(token) => Some(token),
            _ => None,
        })
        .collect();
    let distinct = tokens.iter().collect::<HashSet<_>>().len() == tokens.len();
    if !distinct {
        note(
            "every page of one walk got the same next token: it is a cursor, not a position".into(),
        );
    }
    if !tokens.is_empty() && distinct && replays(taxii, walk).await {
        let positions = walk.pages.iter().map(|(position, _)| position.clone());
        return (positions.collect(), "next tokens");
    }
    let after_each_page = walk.pages.iter().rev().skip(1).rev();
    let dates =
        after_each_page.filter_map(|(_, page)| page.added_last.clone().map(Position::AddedAfter));
    let positions: Vec<Position> = std::iter::once(Position::First).chain(dates).collect();
    if positions.len() < walk.pages.len() {
        note(
            "some pages had no X-TAXII-Date-Added-Last: the concurrent phase uses fewer positions"
                .into(),
        );
    }
    let kind = if positions.len() > 1 {
        "added_after"
    } else {
        "first page"
    };
    (positions, kind)
}

/// Whether the page in the middle of the walk comes back the same when fetched again by its position.
async fn replays(taxii: &[Taxii], walk: &Walk) -> bool {
    let (position, page) = &walk.pages[walk.pages.len() / 2];
    // On another node than the one that answered it in the walk, when there are several.
    let node = &taxii[(walk.pages.len() / 2 + 1) % taxii.len()];
    let outcome = match node.page(position).await {
        Ok(again) if again.ids == page.ids => return true,
        Ok(_) => "gave other objects".to_owned(),
        Err(error) => format!("failed: {error:#}"),
    };
    note(format!(
        "fetching a page again by its next token {outcome}; the concurrent phase uses added_after positions"
    ));
    false
}

/// How hard the concurrent phase pushes.
#[derive(Clone, Copy)]
struct Load {
    clients: usize,
    requests: usize,
    duration: Duration,
    grace: Duration,
}

/// What the concurrent phase, or one of its clients, did.
#[derive(Default)]
struct Hammered {
    latencies: Vec<Duration>,
    objects: usize,
    errors: Vec<String>,
    /// Requests still unanswered at the end of the grace period.
    unfinished: usize,
    elapsed: Duration,
}

impl Hammered {
    /// Requests answered, failed or unfinished.
    fn requests(&self) -> usize {
        self.latencies.len() + self.errors.len() + self.unfinished
    }
}

/// The concurrent phase: clients fetch pages at random positions until the requests or the time run out.
async fn hammer(taxii: &[Taxii], positions: &[Position], load: Load) -> Hammered {
    let positions: Arc<[Position]> = positions.into();
    let remaining = Arc::new(AtomicUsize::new(load.requests));
    let started = Instant::now();
    let deadline = started + load.duration;
    // A server that takes minutes per page (medallion's memory backend on a large collection) would otherwise
    // keep the phase going long after the deadline.
    let give_up = tokio::time::Instant::from_std(deadline + load.grace);
    let clients: Vec<_> = (0..load.clients)
        .map(|client| {
            let taxii = taxii[client % taxii.len()].clone();
            let (positions, remaining) = (positions.clone(), remaining.clone());
            tokio::spawn(async move {
                let mut client = Hammered::default();
                while Instant::now() < deadline && take_one(&remaining) {
                    let position = &positions[random_index(positions.len())];
                    match tokio::time::timeout_at(give_up, taxii.page(position)).await {
                        Ok(Ok(page)) => {
                            client.latencies.push(page.latency);
                            client.objects += page.ids.len();
                        }
                        Ok(Err(error)) => client.errors.push(format!("{error:#}")),
                        Err(_) => client.unfinished += 1,
                    }
                }
                client
            })
        })
        .collect();
    let mut all = Hammered::default();
    for client in clients {
        let client = client.await.expect("a client task panicked");
        all.latencies.extend(client.latencies);
        all.objects += client.objects;
        all.errors.extend(client.errors);
        all.unfinished += client.unfinished;
    }
    all.elapsed = started.elapsed();
    all
}

/// Takes one request from the shared budget; false once it is spent.
fn take_one(remaining: &AtomicUsize) -> bool {
    remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

fn random_index(len: usize) -> usize {
    // A v4 UUID is 122 random bits: plenty for picking a page, without another dependency.
    (Uuid::new_v4().as_u128() % len as u128) as usize
}

/// The scale phase: load in steps; at each size, time pages near the start and near the end of the collection.
async fn scale(args: &Args, taxii: &[Taxii], report: &Report, packing: Packing) -> Result<bool> {
    let mut sizes = args.scale.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mut loaded = 0;
    let mut all_ok = true;
    for size in sizes {
        let step = load(taxii, size - loaded, packing, args.posts_in_flight).await?;
        loaded = size;
        // Paging once finds the positions near the end, and checks the collection on the way.
        let walk = page_through(taxii, size).await?;
        all_ok &= walk.objects == size && walk.duplicates == 0;
        let (positions, _) = replayable_positions(taxii, &walk).await;
        let full_pages = positions.len().min(size / PAGE_LIMIT);
        let near = full_pages.min(5);
        let start = time_pages(taxii, &positions[..near]).await?;
        let end = time_pages(taxii, &positions[full_pages - near..full_pages]).await?;
        report.scale(size, &step, &walk, start, end);
    }
    Ok(all_ok)
}

/// Mean latency of SCALE_SAMPLES page GETs, one at a time, cycling through `positions`.
async fn time_pages(taxii: &[Taxii], positions: &[Position]) -> Result<Duration> {
    ensure!(
        !positions.is_empty(),
        "the collection has no full page to time"
    );
    let mut total = Duration::ZERO;
    for (n, position) in positions.iter().cycle().take(SCALE_SAMPLES).enumerate() {
        let taxii = &taxii[n % taxii.len()];
        let page = taxii.page(position).await?;
        ensure!(
            page.ids.len() == PAGE_LIMIT,
            "{}: {} objects, expected a full page of {PAGE_LIMIT}",
            position.url(&taxii.objects),
            page.ids.len()
        );
        total += page.latency;
    }
    Ok(total / SCALE_SAMPLES as u32)
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------------

/// Latencies, sorted, for percentiles.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn new(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self(latencies)
    }

    /// Nearest-rank percentile in milliseconds; None when nothing was measured.
    fn percentile_ms(&self, percent: f64) -> Option<f64> {
        let last = self.0.len().checked_sub(1)?;
        let rank = ((percent / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(millis(self.0[rank.saturating_sub(1).min(last)]))
    }

    /// "p50 … ms, p99 … ms" for the human-readable lines.
    fn describe(&self) -> String {
        match (self.percentile_ms(50.0), self.percentile_ms(99.0)) {
            (Some(p50), Some(p99)) => format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
            _ => "no latency measured".to_owned(),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Resident memory of a process in KiB, from /proc (Linux only).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Prints each phase's line and its `RESULT` line.
struct Report {
    label: String,
    /// The server's processes, one per node.
    pids: Vec<u32>,
}

impl Report {
    fn emit(&self, phase: &str, human: String, mut result: serde_json::Value) {
        println!("[{}] {phase:<10} {human}", self.label);
        result["label"] = json!(self.label);
        result["phase"] = json!(phase);
        println!("RESULT {result}");
    }

    /// The server's resident memory now, as a JSON value and a phrase for the human-readable line.
    fn rss(&self) -> (serde_json::Value, String) {
        let each: Option<Vec<u64>> = self.pids.iter().map(|pid| rss_kib(*pid)).collect();
        match each
            .filter(|each| !each.is_empty())
            .map(|each| each.iter().sum::<u64>())
        {
            Some(kib) => (
                json!(kib),
                format!("; server RSS {:.0} MiB", kib as f64 / 1024.0),
            ),
            None => (serde_json::Value::Null, String::new()),
        }
    }

    fn load(&self, loaded: &Loaded, packing: Packing, in_flight: usize, nodes: usize) {
        let rate = per_second(loaded.objects, loaded.elapsed);
        let (rss_kib, rss) = self.rss();
        let human = format!(
            "{} objects in {} POSTs (up to {} per POST, {in_flight} at a time, over {nodes} node(s)) in {:.2} s: \
             {rate:.0} objects/s; POST {}{rss}",
            loaded.objects,
            loaded.posts,
            loaded.largest_post,
            loaded.elapsed.as_secs_f64(),
            loaded.latencies.describe(),
        );
        let result = json!({
            "objects": loaded.objects,
            "nodes": nodes,
            "posts": loaded.posts,
            "batch": packing.batch,
            "largest_post": loaded.largest_post,
            "bytes": loaded.bytes,
            "ended_unix_ms": loaded.ended_unix_ms,
            "posts_in_flight": in_flight,
            "seconds": loaded.elapsed.as_secs_f64(),
            "objects_per_s": rate,
            "p50_ms": loaded.latencies.percentile_ms(50.0),
            "p99_ms": loaded.latencies.percentile_ms(99.0),
            "rss_kib": rss_kib,
        });
        self.emit("load", human, result);
    }

    /// Reports the paging phase; false if it did not see every object exactly once.
    fn page(&self, walk: &Walk, expected: usize) -> bool {
        let ok = walk.objects == expected && walk.duplicates == 0;
        let latencies = Latencies::new(walk.pages.iter().map(|(_, page)| page.latency).collect());
        let rate = per_second(walk.objects, walk.elapsed);
        let (rss_kib, rss) = self.rss();
        let verdict = if ok {
            format!("all {expected} objects, once each")
        } else {
            format!(
                "FAILED: {} objects, {} duplicates, expected {expected}",
                walk.objects, walk.duplicates
            )
        };
        let human = format!(
            "{} pages in {:.2} s: {rate:.0} objects/s; page {}; {verdict}{rss}",
            walk.pages.len(),
            walk.elapsed.as_secs_f64(),
            latencies.describe(),
        );
        let result = json!({
            "objects": walk.objects,
            "expected": expected,
            "duplicates": walk.duplicates,
            "ok": ok,
            "pages": walk.pages.len(),
            "seconds": walk.elapsed.as_secs_f64(),
            "objects_per_s": rate,
            "p50_ms": latencies.percentile_ms(50.0),
            "p99_ms": latencies.percentile_ms(99.0),
            "rss_kib": rss_kib,
        });
        self.emit("page", human, result);
        ok
    }

    /// Reports the concurrent phase; false if any request failed (unfinished ones are slow, not wrong).
    fn concurrent(&self, hammered: &Hammered, load: Load, positions: usize, kind: &str) -> bool {
        let latencies = Latencies::new(hammered.latencies.clone());
        let requests_rate = per_second(hammered.latencies.len(), hammered.elapsed);
        let objects_rate = per_second(hammered.objects, hammered.elapsed);
        let mut problems = match hammered.errors.first() {
            Some(first) => format!("; {} FAILED, the first: {first}", hammered.errors.len()),
            None => String::new(),
        };
        if hammered.unfinished > 0 {
            problems += &format!(
                "; {} UNFINISHED after {:.0} s (given up on; not in the rates)",
                hammered.unfinished,
                (load.duration + load.grace).as_secs_f64()
            );
        }
        let human = format!(
            "{} clients, {} requests at {positions} positions ({kind}) in {:.2} s: \
             {requests_rate:.1} requests/s, {objects_rate:.0} objects/s; {}{problems}",
            load.clients,
            hammered.requests(),
            hammered.elapsed.as_secs_f64(),
            latencies.describe(),
        );
        let result = json!({
            "clients": load.clients,
            "requests": hammered.requests(),
            "answered": hammered.latencies.len(),
            "errors": hammered.errors.len(),
            "unfinished": hammered.unfinished,
            "positions": positions,
            "position_kind": kind,
            "seconds": hammered.elapsed.as_secs_f64(),
            "requests_per_s": requests_rate,
            "objects_per_s": objects_rate,
            "p50_ms": latencies.percentile_ms(50.0),
            "p99_ms": latencies.percentile_ms(99.0),
        });
        self.emit("concurrent", human, result);
        hammered.errors.is_empty()
    }

    fn scale(&self, size: usize, step: &Loaded, walk: &Walk, start: Duration, end: Duration) {
        let load_rate = per_second(step.objects, step.elapsed);
        let page_rate = per_second(walk.objects, walk.elapsed);
        let (rss_kib, rss) = self.rss();
        let human = format!(
            "{size} objects: page near the start {:.1} ms, near the end {:.1} ms (mean of {SCALE_SAMPLES}); \
             loaded the last {} at {load_rate:.0} objects/s, paged all at {page_rate:.0} objects/s{rss}",
            millis(start),
            millis(end),
            step.objects,
        );
        let result = json!({
            "objects": size,
            "start_ms": millis(start),
            "end_ms": millis(end),
            "load_objects_per_s": load_rate,
            "page_objects_per_s": page_rate,
            "rss_kib": rss_kib,
        });
        self.emit("scale", human, result);
    }
}
