//! The native envelope routes: `POST /envelopes` and `GET /envelopes/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::body::read_limited;
use super::error::ApiError;
use super::rights::{Grant, envelope_access};
use crate::config::Settings;
use crate::envelope::StixContent;
use crate::ingest::{Intake, RecordReport, Tally};

/// The collection is read by the rights decision (see [`super::rights::Named::Query`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostQuery {
    #[serde(rename = "collection")]
    _collection: Option<String>,
}

#[derive(Serialize)]
struct PostAnswer<'a> {
    #[serde(flatten)]
    tally: Tally,
    records: &'a [RecordReport],
    /// Refused records without a report of their own (see [`crate::ingest::LISTED_ERRORS`]).
    #[serde(skip_serializing_if = "is_zero")]
    errors_not_listed: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// Stores one JSON envelope, a JSON array or NDJSON; answers per record once the good ones are durable,
/// with a report for each record stored or duplicate and for the first refused ones (all are counted).
/// 200 when at least one record was stored or was a duplicate, 400 when every record was refused.
pub async fn post(
    state: web::Data<AppState>,
    request: HttpRequest,
    _query: web::Query<PostQuery>,
    payload: web::Payload,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let intake = Intake::new(
        &state.settings,
        &grant.collection().id,
        state.intake.tables.clone(),
    )
    .expect("the rights decision found the collection");
    let body = read_limited(&request, payload, state.settings.max_content_length).await?;
    let checked = intake.check_input(&body);
    if let Some(content) = checked.stix {
        return Err(misdirected(&state.settings, &intake.collection, content));
    }
    let errors_not_listed = checked.unlisted_errors;
    let reports = checked.store(&state.writer).await?;
    let mut tally = Tally::default();
    tally.add(&reports);
    tally.errors += errors_not_listed;
    state
        .metrics
        .count_stored(&state.metrics.envelopes_stored, tally.stored);
    let status = if tally.stored + tally.duplicates == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(PostAnswer {
        tally,
        records: &reports,
        errors_not_listed,
    }))
}

/// The refusal of STIX content, with where it goes instead: the TAXII objects endpoint of the collection
/// it was meant for.
pub(super) fn misdirected(settings: &Settings, collection: &str, content: StixContent) -> ApiError {
    let root = settings
        .api_roots
        .iter()
        .find(|root| root.collections.iter().any(|c| c.id == collection))
        .expect("intake collections are collections of an API root");
    ApiError::BadRequest(format!(
        "the body holds {content}, not IEP04 envelopes or IntelMQ events: POST it to the collection's TAXII \
         objects endpoint, /{}/collections/{collection}/objects/, with Content-Type \
         application/taxii+json;version=2.1",
        root.path
    ))
}

/// The exact bytes of the newest version of the envelope with this id, to whoever may read its collection.
pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let lookup = id.clone();
    let stored = web::block(move || store.envelope(&lookup)).await??;
    let collection = stored.as_ref().map(|envelope| envelope.collection.as_str());
    envelope_access(&state, &grant, &id, collection)?;
    let envelope = stored.expect("envelope_access refuses an envelope that does not exist");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(envelope.text))
}
