//! One bare event from an IntelMQ output bot (the `restapi` bot's POST, or a frame of the `tcp` bot), stored
//! durably. Its id is a hash of its content: output bots resend on errors and timeouts, and a resent event
//! must be a duplicate, not a second envelope.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::envelope::intelmq::{flat_budget, flatten_within};
use crate::envelope::{IntakeRules, Minting, StixContent};
use crate::ingest::{Intake, RecordReport, RecordStatus};
use crate::quote::cut;
use crate::store::{StoreError, Writer};

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// What is wrong with the event, for the sender.
    #[error("{0}")]
    Refused(String),
    /// STIX content, which goes to the collection's TAXII objects endpoint instead.
    #[error("the body holds {0}, not an IntelMQ event")]
    Stix(StixContent),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores one event (flat or hierarchical JSON, or form fields) into `collection` by the rules of `intake`,
/// with its id minted from its content; counts it in `stored` when it is new.
pub async fn store_event(
    intake: &Intake,
    writer: &Writer,
    stored: &AtomicU64,
    collection: &str,
    body: &[u8],
) -> Result<RecordReport, EventError> {
    let event = event_text(body)?;
    let intake = Intake {
        rules: IntakeRules {
            minting: Minting::Hash,
            ..intake.rules.clone()
        },
        collection: collection.to_owned(),
        ..intake.clone()
    };
    let checked = intake.check_input(&event);
    if let Some(content) = checked.stix {
        return Err(EventError::Stix(content));
    }
    let mut reports = checked.store(writer).await?;
    let report = reports
        .pop()
        .ok_or_else(|| EventError::Refused("the body holds no event".into()))?;
    if report.status == RecordStatus::Error || !reports.is_empty() {
        let message = report
            .message
            .unwrap_or_else(|| "one event per request".into());
        return Err(EventError::Refused(message));
    }
    if report.status == RecordStatus::Stored {
        stored.fetch_add(1, Ordering::Relaxed);
    }
    Ok(report)
}

/// The event as flat JSON text: the body itself when it is flat JSON, else flattened from its hierarchical
/// form, or made from form fields (the bot labels those JSON too, so the body is sniffed, not the header).
/// Flattening copies each parent key into every key below it: it stops at the body's flat budget.
fn event_text(body: &[u8]) -> Result<Vec<u8>, EventError> {
    let trimmed = body.trim_ascii();
    let object: Map<String, Value> = if trimmed.starts_with(b"{") {
        match serde_json::from_slice(trimmed) {
            Ok(object) => object,
            Err(e) => {
                return Err(EventError::Refused(format!(
                    "the body is not a JSON object: {}",
                    cut(&e.to_string())
                )));
            }
        }
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(trimmed).map_err(|e| {
            EventError::Refused(format!(
                "the body is neither JSON nor form data: {}",
                cut(&e.to_string())
            ))
        })?;
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    let flat = flatten_within(&object, flat_budget(body.len()))
        .map_err(|e| EventError::Refused(e.to_string()))?;
    if flat == object && trimmed.starts_with(b"{") {
        return Ok(trimmed.to_vec());
    }
    Ok(serde_json::to_vec(&flat).expect("JSON values serialize"))
}
