//! How the MISP feeds scale: envelopes taken in per second, and what serving each file costs as the feed grows.
//! A request must cost the same at 10 times the envelopes (except `hashes.csv`, whose size is its content).
//!
//! Runs in-process on a temporary store: `cargo bench --bench misp` (sizes: `BENCH_MISP_SIZES`, default
//! "10000 100000"). It prints numbers and checks nothing about time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stixgate::config::Settings;
use stixgate::envelope::Envelope;
use stixgate::misp::MispFeeds;
use stixgate::store::{DuplicatePolicy, SledStore, Store, WriteOp, Writer};
use uuid::Uuid;

const FEEDS: usize = 20;
const DAYS: usize = 30;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes = std::env::var("BENCH_MISP_SIZES").unwrap_or_else(|_| "10000 100000".into());
    println!("| envelopes | take in (envelopes/s) | manifest.json | one event file | hashes.csv |");
    println!("|---|---|---|---|---|");
    for size in sizes.split_whitespace() {
        run(size.parse()?).await?;
    }
    Ok(())
}

async fn run(size: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = Settings::load(None)?;
    let collection = settings
        .collection(&settings.intake.collection)
        .expect("the default collection")
        .id
        .clone();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path())?);
    let (writer, _task) = Writer::start(Arc::clone(&store));
    for chunk in (0..size).collect::<Vec<_>>().chunks(5_000) {
        let ops = chunk
            .iter()
            .map(|n| WriteOp::PutEnvelope {
                envelope: envelope(*n),
                collection: collection.clone(),
                policy: DuplicatePolicy::KeepFirst,
                objects: Vec::new(),
            })
            .collect();
        writer.write(ops).await?;
    }
    let tables = Arc::new(settings.mapping_tables()?);
    let feeds = MispFeeds::new(
        &settings.misp,
        settings.collection_names(),
        Arc::clone(&store),
        writer.clone(),
        tables,
    );
    let feed = feeds.find(&collection).expect("the collection's feed");

    let started = Instant::now();
    feeds.catch_up(&feed, usize::MAX).await?;
    let take_in = size as f64 / started.elapsed().as_secs_f64();

    let (manifest, summaries) = timed(|| feeds.summaries(&feed))?;
    let (event, _) = timed(|| feeds.members(&feed, summaries[summaries.len() / 2].0))?;
    let (hashes, _) = timed(|| {
        let mut after = None;
        let mut bytes = 0;
        loop {
            let (text, last) = feeds.hashes(&feed, after.as_deref(), 5_000)?;
            bytes += text.len();
            match last {
                Some(last) => after = Some(last),
                None => return Ok::<_, anyhow::Error>(bytes),
            }
        }
    })?;
    println!(
        "| {size} | {take_in:.0} | {} ({} events) | {} | {} |",
        ms(manifest),
        summaries.len(),
        ms(event),
        ms(hashes)
    );
    writer.stop().await;
    Ok(())
}

/// An IntelMQ event of one of `FEEDS` feeds on one of `DAYS` days, with an address, a host and a port.
fn envelope(n: usize) -> Envelope {
    let text = json!({
        "format": "intelmq", "version": 1, "type": "event",
        "meta": {"uuid": Uuid::new_v4()},
        "payload": {
            "feed.name": format!("feed {}", n % FEEDS),
            "time.source": format!("2026-10-{:02}T12:00:00+00:00", 1 + (n / FEEDS) % DAYS),
            "classification.taxonomy": "malicious-code", "classification.type": "c2-server",
            "source.ip": format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
            "source.fqdn": format!("c2-{n}.example.net"), "source.port": 443, "tlp": "AMBER",
        }
    });
    Envelope::reparse(text.to_string().into_bytes()).expect("a valid envelope")
}

fn timed<T, E>(work: impl FnOnce() -> Result<T, E>) -> Result<(Duration, T), E> {
    let started = Instant::now();
    let value = work()?;
    Ok((started.elapsed(), value))
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
