//! IntelMQ's own ways in and out, with no change to IntelMQ:
//! - `POST /intelmq/events`: the `restapi` output bot, one event per request, JSON (flat or hierarchical) or
//!   form data labelled JSON (`use_json: false`); idempotent, since the bot resends on errors and timeouts;
//! - `GET /intelmq/feed`: NDJSON of bare events for the `http` collector and its JSON parser, from an opaque
//!   cursor, or from a cursor the server keeps per named consumer (the collector's URL cannot change).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AppState;
use super::auth::Caller;
use super::body::read_limited;
use super::error::ApiError;
use crate::config::{Access, CollectionSettings, Principal};
use crate::envelope::{Envelope, IntakeRules, Minting, intelmq as intelmq_format};
use crate::ingest::{Intake, RecordStatus};
use crate::intelmq::{FieldList, deliverable, flatten};
use crate::store::WriteOp;

const CURSOR_HEADER: &str = "X-Stixgate-Cursor";
const FEED_PAGE: usize = 1000;
const FEED_PAGE_MAX: usize = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeQuery {
    collection: Option<String>,
}

/// The collection named (or the intake one) and what the caller may do with it.
fn target<'a>(
    state: &'a AppState,
    name: Option<&str>,
    caller: &Principal,
) -> Result<(&'a CollectionSettings, Access), ApiError> {
    let name = name.unwrap_or(&state.settings.intake.collection);
    let found = state
        .settings
        .collection(name)
        .map(|c| (c, c.access(caller)));
    match found {
        Some((collection, access)) if access.visible() => Ok((collection, access)),
        _ if *caller == Principal::Anonymous && !state.settings.users.is_empty() => Err(
            ApiError::Unauthorized(format!("collection {name:?} requires authentication")),
        ),
        _ => Err(ApiError::NotFound(format!(
            "no collection has the id or alias {name:?}"
        ))),
    }
}

/// Stores one event from IntelMQ's `restapi` output. Its id is minted from its content, so a resent event
/// is a duplicate, not a second envelope. 200 once durable; 400 for bad data, which the bot then dumps
/// instead of retrying; 503 for trouble with the store, which it retries.
pub async fn post_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<IntakeQuery>,
    payload: web::Payload,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let (collection, access) = target(&state, query.collection.as_deref(), &caller)?;
    if !access.write {
        return Err(ApiError::Forbidden(format!(
            "you may not write to collection {:?}",
            collection.id
        )));
    }
    let body = read_limited(&request, payload, state.settings.max_content_length).await?;
    let event = event_text(&body)?;
    let intake = Intake {
        rules: IntakeRules {
            minting: Minting::Hash,
            ..state.intake.rules.clone()
        },
        collection: collection.id.clone(),
        ..state.intake.clone()
    };
    let mut reports = intake.store_input(&event, &state.writer).await?;
    let report = reports
        .pop()
        .ok_or_else(|| ApiError::BadRequest("the body holds no event".into()))?;
    if report.status == RecordStatus::Error || !reports.is_empty() {
        let message = report
            .message
            .unwrap_or_else(|| "one event per request".into());
        return Err(ApiError::BadRequest(message));
    }
    if report.status == RecordStatus::Stored {
        state
            .metrics
            .count_stored(&state.metrics.envelopes_stored, 1);
    }
    Ok(HttpResponse::Ok().json(report))
}

/// The event as flat JSON text: the body itself when it is flat JSON, else flattened from its hierarchical
/// form, or made from form fields (the bot labels those JSON too, so the body is sniffed, not the header).
fn event_text(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let trimmed = body.trim_ascii();
    let object: Map<String, Value> = if trimmed.starts_with(b"{") {
        match serde_json::from_slice(trimmed) {
            Ok(object) => object,
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "the body is not a JSON object: {e}"
                )));
            }
        }
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(trimmed).map_err(|e| {
            ApiError::BadRequest(format!("the body is neither JSON nor form data: {e}"))
        })?;
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    let flat = flatten(&object);
    if flat == object && trimmed.starts_with(b"{") {
        return Ok(trimmed.to_vec());
    }
    Ok(serde_json::to_vec(&flat).expect("JSON values serialize"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    collection: Option<String>,
    /// An opaque cursor from a previous answer's `X-Stixgate-Cursor`.
    cursor: Option<String>,
    /// A name under which the server keeps the cursor itself, for collectors whose URL is fixed.
    consumer: Option<String>,
    limit: Option<usize>,
    /// Add `__type`, as IntelMQ's `message_with_type` does.
    #[serde(default)]
    with_type: bool,
    /// An `extra.` key to carry the envelope id in, such as `extra.stixgate_id`.
    id_key: Option<String>,
}

/// NDJSON of bare IntelMQ events stored after the cursor: only keys IntelMQ 3.5 accepts (others move under
/// `extra.` or are dropped), flat, with sorted keys, one per line, as IntelMQ's JSON parser reads them.
pub async fn feed(
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let (collection, access) = target(&state, query.collection.as_deref(), &caller)?;
    if !access.read {
        return Err(ApiError::Forbidden(format!(
            "you may not read collection {:?}",
            collection.id
        )));
    }
    if let Some(key) = &query.id_key
        && (!key.starts_with("extra.") || !intelmq_format::is_valid_key(key))
    {
        return Err(ApiError::BadRequest(format!(
            "id_key {key:?} must be an IntelMQ key under extra."
        )));
    }
    let scope = format!("intelmq-feed:{}", collection.id);
    let note = query
        .consumer
        .as_ref()
        .map(|c| format!("feed-cursor/{}/{c}", collection.id));
    let cursor = match (&query.cursor, &note) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either cursor or consumer, not both".into(),
            ));
        }
        (Some(cursor), None) => Some(state.cursor_key.open(&scope, cursor)?),
        (None, Some(note)) => {
            let store = state.store.clone();
            let key = note.clone();
            web::block(move || store.note(&key))
                .await??
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .map(|cursor| state.cursor_key.open(&scope, &cursor))
                .transpose()?
        }
        (None, None) => None,
    };
    let limit = query.limit.unwrap_or(FEED_PAGE).clamp(1, FEED_PAGE_MAX);
    let page = {
        let state = state.clone();
        let (collection_id, id_key, with_type) =
            (collection.id.clone(), query.id_key.clone(), query.with_type);
        web::block(move || {
            feed_page(
                &state,
                &collection_id,
                cursor,
                limit,
                id_key.as_deref(),
                with_type,
            )
        })
        .await??
    };
    let next = page
        .last
        .or(cursor)
        .map(|position| state.cursor_key.seal(&scope, position));
    if let (Some(note), Some(next)) = (note, &next) {
        let op = WriteOp::PutNote {
            key: note,
            value: next.clone().into_bytes(),
        };
        state.writer.write(vec![op]).await?;
    }
    if page.moved + page.dropped > 0 {
        tracing::info!(
            moved = page.moved,
            dropped = page.dropped,
            "keys IntelMQ would refuse were moved under extra. or dropped"
        );
    }
    let mut response = HttpResponse::build(StatusCode::OK);
    response.content_type("application/x-ndjson");
    if let Some(next) = next {
        response.insert_header((CURSOR_HEADER, next));
    }
    response.insert_header(("X-Stixgate-Keys-Moved", page.moved.to_string()));
    response.insert_header(("X-Stixgate-Keys-Dropped", page.dropped.to_string()));
    Ok(response.body(page.lines))
}

/// One page of the feed.
struct FeedPage {
    lines: String,
    /// The position of the last envelope looked at, delivered or not: the next page starts after it.
    last: Option<u64>,
    /// Keys moved under `extra.`, and keys dropped.
    moved: usize,
    dropped: usize,
}

fn feed_page(
    state: &AppState,
    collection: &str,
    after: Option<u64>,
    limit: usize,
    id_key: Option<&str>,
    with_type: bool,
) -> Result<FeedPage, ApiError> {
    let fields = FieldList::intelmq_35();
    let mut lines = String::new();
    let (mut count, mut last, mut moved, mut dropped) = (0, None, 0, 0);
    for stored in state.store.envelopes_after(after) {
        let stored = stored?;
        last = Some(stored.position);
        if stored.collection != collection {
            continue;
        }
        let envelope =
            Envelope::reparse(stored.text).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        if envelope
            .format()
            .is_some_and(|f| f != intelmq_format::FORMAT)
        {
            continue;
        }
        let report = envelope.kind() == Some("report");
        let delivered = deliverable(&flatten(&envelope.payload()), &fields, report);
        moved += delivered.moved.len();
        dropped += delivered.dropped.len();
        let mut event = delivered.event;
        if let Some(key) = id_key {
            event.insert(key.to_owned(), Value::String(envelope.id().to_string()));
        }
        lines.push_str(&intelmq_format::file_output_line(
            &event,
            envelope.kind(),
            with_type,
        ));
        lines.push('\n');
        count += 1;
        if count == limit {
            break;
        }
    }
    Ok(FeedPage {
        lines,
        last,
        moved,
        dropped,
    })
}
