//! The store's upkeep, off the request path: the pruning of old status resources, and the compaction of the
//! embedded store's text log (`store/sled_store/compact.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::Job;
use crate::stix::Timestamp;
use crate::store::{RETIRED_OPEN, WriteOp, Writer};

/// How often each upkeep job runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Removes status resources older than `retention`, hourly.
pub struct PruneStatuses {
    pub writer: Writer,
    pub retention: Duration,
}

impl Job for PruneStatuses {
    fn name(&self) -> String {
        "prune-statuses".into()
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move {
            let mut hourly = tokio::time::interval(EVERY);
            loop {
                hourly.tick().await;
                let before = Timestamp::now().micros() - self.retention.as_micros() as i64;
                let op = WriteOp::PruneStatuses {
                    before: u64::try_from(before).unwrap_or(0),
                };
                if let Err(error) = self.writer.write(vec![op]).await {
                    tracing::warn!(%error, "pruning old statuses failed; trying again in an hour");
                }
            }
        }
        .boxed()
    }
}

/// Compacts the text log's segments that deletes emptied, at the start and then hourly.
pub struct CompactTexts {
    pub writer: Writer,
}

impl Job for CompactTexts {
    fn name(&self) -> String {
        "compact-texts".into()
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move {
            let mut hourly = tokio::time::interval(EVERY);
            loop {
                hourly.tick().await;
                if compact(&self.writer).await {
                    // A retired segment's file stays open for readers a while; the next compaction closes it,
                    // which gives its space back.
                    tokio::time::sleep(RETIRED_OPEN + Duration::from_secs(1)).await;
                    compact(&self.writer).await;
                }
            }
        }
        .boxed()
    }
}

/// Compacts once; true when it retired a segment.
async fn compact(writer: &Writer) -> bool {
    match writer.compact().await {
        Ok(done) if done.segments.is_empty() => false,
        Ok(done) => {
            tracing::info!(
                segments = ?done.segments,
                bytes_freed = done.bytes_freed,
                texts_moved = done.texts_moved,
                "compacted the text log"
            );
            true
        }
        Err(error) => {
            tracing::warn!(%error, "compacting the text log failed; trying again in an hour");
            false
        }
    }
}
