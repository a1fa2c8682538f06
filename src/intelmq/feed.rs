//! What IntelMQ reads from a collection: its IntelMQ events in storage order, a page at a time, as NDJSON lines
//! of flat events with only the keys the receiving instance accepts. `GET /intelmq/feed`, `/intelmq/stream`
//! and the pushes to IntelMQ all read pages through [`feed_page`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::deliverable;
use crate::envelope::Envelope;
use crate::envelope::intelmq::{self as intelmq_format, FieldList};
use crate::store::{Store, StoreError};

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A stored envelope that does not parse: the store holds what intake would have refused.
    #[error("a stored envelope cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How events are written to IntelMQ.
#[derive(Clone)]
pub struct FeedFormat {
    /// The keys the receiving instance accepts.
    pub fields: Arc<FieldList>,
    /// An `extra.` key to carry the envelope id in.
    pub id_key: Option<String>,
    /// Add `__type`.
    pub with_type: bool,
}

/// One page of the feed.
pub struct FeedPage {
    pub lines: String,
    /// The position of the last envelope looked at, delivered or not: the next page starts after it.
    pub last: Option<u64>,
    /// Keys moved under `extra.`, and keys dropped.
    pub moved: usize,
    pub dropped: usize,
}

/// Up to `limit` events of `collection` stored after position `after`, as NDJSON lines in `format`; an event
/// left out because it would not flatten within its budget is counted in `skipped`.
pub fn feed_page(
    store: &dyn Store,
    skipped: &AtomicU64,
    collection: &str,
    after: Option<u64>,
    limit: usize,
    format: &FeedFormat,
) -> Result<FeedPage, FeedError> {
    let mut lines = String::new();
    let (mut count, mut last, mut moved, mut dropped) = (0, None, 0, 0);
    for stored in store.envelopes_after(collection, after) {
        let stored = stored?;
        last = Some(stored.position);
        let envelope =
            Envelope::reparse(stored.text).map_err(|e| FeedError::Unreadable(e.to_string()))?;
        if !envelope.is_intelmq() {
            continue;
        }
        let flat = match envelope.flat_payload() {
            Ok(flat) => flat,
            Err(error) => {
                // Stored before intake held payloads to their flat budget.
                tracing::warn!(envelope = %envelope.id(), %error, "an envelope is left out of an IntelMQ feed");
                skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let report = envelope.kind() == Some("report");
        let delivered = deliverable(&flat, &format.fields, report);
        moved += delivered.moved.len();
        dropped += delivered.dropped.len();
        let mut event = delivered.event;
        if let Some(key) = &format.id_key {
            event.insert(key.clone(), Value::String(envelope.id().to_string()));
        }
        lines.push_str(&intelmq_format::file_output_line(
            &event,
            envelope.kind(),
            format.with_type,
        ));
        lines.push('\n');
        count += 1;
        if count == limit {
            break;
        }
    }
    if moved + dropped > 0 {
        tracing::info!(
            moved,
            dropped,
            "keys IntelMQ would refuse were moved under extra. or dropped"
        );
    }
    Ok(FeedPage {
        lines,
        last,
        moved,
        dropped,
    })
}
