//! The MISP feed of a collection (`GET /misp/{collection}/manifest.json`, `hashes.csv`, `{event-uuid}.json`),
//! which MISP pulls with the feed format "MISP Feed". Readable by whoever may read the collection over TAXII.
//!
//! Each request computes the feed from the store: fine for collections of thousands of envelopes, not for
//! millions, which need the feed maintained as envelopes arrive.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::config::Principal;
use crate::envelope::{Envelope, intelmq as intelmq_format};
use crate::misp::{FeedEnvelope, MispEvent, build_events, hashes_csv, manifest};

const JSON: &str = "application/json";
const CSV: &str = "text/csv; charset=utf-8";

/// One file of a collection's feed: `manifest.json`, `hashes.csv` or `<event-uuid>.json`.
pub async fn file(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let (collection, file) = path.into_inner();
    let collection = readable_collection(&state, &collection, &caller)?;
    let events = {
        let (state, collection) = (state.clone(), collection.clone());
        web::block(move || feed_events(&state, &collection)).await??
    };
    let settings = &state.settings.misp;
    let (content_type, body) = match file.as_str() {
        "manifest.json" => (JSON, manifest(&events, settings).to_string()),
        "hashes.csv" => (CSV, hashes_csv(&events)),
        _ => {
            let event = file
                .strip_suffix(".json")
                .and_then(|uuid| Uuid::parse_str(uuid).ok())
                .and_then(|uuid| events.iter().find(|e| e.uuid == uuid))
                .ok_or_else(|| {
                    ApiError::NotFound(format!("the MISP feed of {collection:?} has no {file:?}"))
                })?;
            (JSON, event.to_json(settings).to_string())
        }
    };
    Ok(conditional(&request, content_type, body))
}

/// The id of the collection named (by id or alias), if the caller may read it.
fn readable_collection(
    state: &AppState,
    name: &str,
    caller: &Principal,
) -> Result<String, ApiError> {
    let found = state
        .settings
        .collection(name)
        .map(|c| (c, c.access(caller)));
    match found {
        Some((collection, access)) if access.read => Ok(collection.id.clone()),
        Some((collection, access)) if access.visible() => Err(ApiError::Forbidden(format!(
            "you may not read collection {:?}",
            collection.id
        ))),
        _ if *caller == Principal::Anonymous && !state.settings.users.is_empty() => Err(
            ApiError::Unauthorized(format!("collection {name:?} requires authentication")),
        ),
        _ => Err(ApiError::NotFound(format!(
            "no collection has the id or alias {name:?}"
        ))),
    }
}

/// The MISP events of the collection's IntelMQ events (reports and other formats have no place in MISP).
fn feed_events(state: &AppState, collection: &str) -> Result<Vec<MispEvent>, ApiError> {
    let mut envelopes = Vec::new();
    for stored in state.store.envelopes() {
        let stored = stored?;
        if stored.collection != collection {
            continue;
        }
        let envelope =
            Envelope::reparse(stored.text).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let is_intelmq = envelope
            .format()
            .is_none_or(|f| f == intelmq_format::FORMAT);
        if !is_intelmq || envelope.kind() == Some("report") {
            continue;
        }
        envelopes.push(FeedEnvelope {
            id: envelope.id().to_string(),
            version: stored.version,
            received: stored.received,
            payload: envelope.payload(),
        });
    }
    Ok(build_events(collection, envelopes, &state.intake.tables))
}

/// The body with an `ETag` (a hash of the body), or 304 when the caller's `If-None-Match` names it.
fn conditional(request: &HttpRequest, content_type: &str, body: String) -> HttpResponse {
    let digest = Sha256::digest(body.as_bytes());
    let tag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{tag}\"");
    let matches = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == etag || candidate == "*");
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type(content_type)
        .body(body)
}
