//! The native envelope routes: `POST /envelopes` and `GET /envelopes/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::body::read_body;
use super::error::ApiError;
use super::error::shown;
use super::rights::{Grant, envelope_collections};
use crate::config::Settings;
use crate::envelope::StixContent;
use crate::ingest::{Intake, RecordReport, Tally};
use crate::store::StoreError;

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
        &state.settings.intake,
        grant.collection().id.clone(),
        state.intake.tables.clone(),
    );
    let body = read_body(&request, payload, &state.settings).await?;
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

/// `?collection=` picks the one collection to look in (an id or alias).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    collection: Option<String>,
}

/// The answer (300) for an id that several collections the caller may read hold, each its own envelope.
#[derive(Serialize)]
struct Places {
    title: &'static str,
    description: String,
    collections: Vec<String>,
}

/// The exact bytes of the newest version of the envelope with this id, looked for only in the collections the
/// caller may read (or the one `?collection=` names). An id that two of them hold answers 300 with both; an id
/// held only where the caller cannot read answers as an unknown id.
pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<GetQuery>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let collections: Vec<String> =
        envelope_collections(&state, &grant, query.collection.as_deref())?
            .into_iter()
            .map(|collection| collection.id.clone())
            .collect();
    let store = state.store.clone();
    let lookup = id.clone();
    let found = web::block(move || {
        let mut found = Vec::new();
        for collection in &collections {
            if let Some(envelope) = store.envelope(collection, &lookup)? {
                found.push(envelope);
            }
        }
        Ok::<_, StoreError>(found)
    })
    .await??;
    match <[_; 1]>::try_from(found) {
        Ok([envelope]) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(envelope.text)),
        Err(found) if found.is_empty() => Err(ApiError::NotFound(format!(
            "no envelope has the id {}",
            shown(&id)
        ))),
        Err(found) => {
            let collections: Vec<String> = found.into_iter().map(|e| e.collection).collect();
            Ok(HttpResponse::MultipleChoices().json(Places {
                title: "several collections hold an envelope with this id",
                description: format!(
                    "each of the collections {} holds its own envelope with the id {}; ask for one with \
                     ?collection=ID",
                    collections.join(", "),
                    shown(&id)
                ),
                collections,
            }))
        }
    }
}
