//! The compaction of the embedded store's text log (`store/sled_store/compact.rs`): once at start, then hourly.

use std::time::Duration;

use crate::store::{RETIRED_OPEN, Writer};

/// How often the job looks for segments to compact.
const EVERY: Duration = Duration::from_secs(3600);

/// Compacts the text log's segments that deletes emptied, now and then every [`EVERY`].
pub async fn compact_texts(writer: Writer) {
    let mut hourly = tokio::time::interval(EVERY);
    loop {
        hourly.tick().await;
        if compact(&writer).await {
            // A retired segment's file stays open for readers a while; the next compaction closes it, which
            // gives its space back.
            tokio::time::sleep(RETIRED_OPEN + Duration::from_secs(1)).await;
            compact(&writer).await;
        }
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
