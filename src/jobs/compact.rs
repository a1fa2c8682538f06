//! The compaction of the embedded store's text log (`store/sled_store/compact.rs`): once at start, then hourly.

use std::time::Duration;

use crate::store::Writer;

/// How often the job looks for segments to compact. Looking walks the group records, so not much more often.
const EVERY: Duration = Duration::from_secs(3600);

/// Compacts the text log's segments that deletes emptied, now and then every [`EVERY`].
pub async fn compact_texts(writer: Writer) {
    let mut hourly = tokio::time::interval(EVERY);
    loop {
        hourly.tick().await;
        match writer.compact().await {
            Ok(done) if done.segments.is_empty() => {}
            Ok(done) => tracing::info!(
                segments = ?done.segments,
                bytes_freed = done.bytes_freed,
                texts_moved = done.texts_moved,
                "compacted the text log"
            ),
            Err(error) => {
                tracing::warn!(%error, "compacting the text log failed; trying again in an hour");
            }
        }
    }
}
