//! The MISP feeds (`GET /misp/{feed}/manifest.json`, `hashes.csv`, `{event-uuid}.json`), which MISP pulls with
//! the feed format "MISP Feed". A feed is a collection's (by its id or alias) or a configured one (by its
//! name); either is readable by whoever may read the collection over TAXII.
//!
//! Files are served from the feed's maintained state ([`MispFeeds`]), each with validators that need no
//! body: `ETag` and `Last-Modified` from the feed's generation or the event's timestamp.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{self, HttpDate};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, shown};
use super::rights::Grant;
use crate::misp::{Feed, event_file, manifest_entry};

const JSON: &str = "application/json";
const CSV: &str = "text/csv; charset=utf-8";
/// `hashes.csv` is sent in chunks of this many records' lines (each the lines of up to
/// [`crate::misp::CHUNK`] envelopes).
const HASH_RECORDS_PER_CHUNK: usize = 80;

/// One file of a feed: `manifest.json`, `hashes.csv` or `<event-uuid>.json`.
pub async fn file(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Grant,
) -> Result<HttpResponse, ApiError> {
    let (name, file) = path.into_inner();
    // The rights decision found the feed already; it took the read right on its collection.
    let feed = state
        .misp
        .find(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no MISP feed is named {}", shown(&name))))?;
    let meta = state.misp.current(&feed).await?;
    let index_tag = |file: &str| format!("\"{}-{}-{file}\"", feed.fingerprint, meta.generation);
    match file.as_str() {
        "manifest.json" => {
            let validators = Validators::new(index_tag("m"), meta.modified);
            if validators.fresh(&request) {
                return Ok(validators.not_modified());
            }
            let (state, feed) = (state.clone(), Arc::clone(&feed));
            let body = web::block(move || -> Result<String, ApiError> {
                let entries: Map<String, Value> = state
                    .misp
                    .summaries(&feed)?
                    .iter()
                    .map(|(event, summary)| {
                        (event.to_string(), manifest_entry(&feed.definition, summary))
                    })
                    .collect();
                Ok(Value::Object(entries).to_string())
            })
            .await??;
            Ok(validators.ok(JSON).body(body))
        }
        "hashes.csv" => {
            let validators = Validators::new(index_tag("h"), meta.modified);
            if validators.fresh(&request) {
                return Ok(validators.not_modified());
            }
            Ok(validators.ok(CSV).streaming(hash_lines(state, feed)))
        }
        _ => {
            let not_found = || {
                ApiError::NotFound(format!(
                    "the MISP feed {} has no {}",
                    shown(&name),
                    shown(&file)
                ))
            };
            let event = file
                .strip_suffix(".json")
                .and_then(|uuid| Uuid::try_parse(uuid).ok())
                .ok_or_else(not_found)?;
            let summary = {
                let (state, feed) = (state.clone(), Arc::clone(&feed));
                web::block(move || state.misp.summary(&feed, event)).await??
            }
            .ok_or_else(not_found)?;
            let tag = format!(
                "\"{}-{}-{}\"",
                feed.fingerprint,
                event.simple(),
                summary.timestamp
            );
            let validators = Validators::new(tag, summary.timestamp);
            if validators.fresh(&request) {
                return Ok(validators.not_modified());
            }
            let members = {
                let (state, feed) = (state.clone(), Arc::clone(&feed));
                web::block(move || state.misp.members(&feed, event)).await??
            };
            let body = event_file(&feed.definition, event, &summary, members).to_string();
            Ok(validators.ok(JSON).body(body))
        }
    }
}

/// `hashes.csv`, read from the store a chunk at a time.
fn hash_lines(
    state: web::Data<AppState>,
    feed: Arc<Feed>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, ApiError>> {
    // `Some(after)`: more may follow the record `after` (`None`: from the start); `None`: done.
    futures_util::stream::unfold(Some(None), move |cursor: Option<Option<Vec<u8>>>| {
        let (state, feed) = (state.clone(), Arc::clone(&feed));
        async move {
            let after = cursor?;
            let read = web::block(move || {
                state
                    .misp
                    .hashes(&feed, after.as_deref(), HASH_RECORDS_PER_CHUNK)
            })
            .await;
            match read {
                Ok(Ok((text, Some(last)))) => Some((Ok(web::Bytes::from(text)), Some(Some(last)))),
                Ok(Ok((_, None))) => None,
                Ok(Err(error)) => Some((Err(error.into()), None)),
                Err(error) => Some((Err(error.into()), None)),
            }
        }
    })
}

/// A file's `ETag` and `Last-Modified` (seconds since the epoch).
struct Validators {
    etag: String,
    modified: SystemTime,
}

impl Validators {
    fn new(etag: String, modified_secs: u64) -> Self {
        Self {
            etag,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(modified_secs),
        }
    }

    /// Whether the caller's copy is current: by `If-None-Match` when it sends one, else by
    /// `If-Modified-Since` (RFC 9110 §13.2.2).
    fn fresh(&self, request: &HttpRequest) -> bool {
        let headers = request.headers();
        if headers.contains_key(header::IF_NONE_MATCH) {
            return headers
                .get_all(header::IF_NONE_MATCH)
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(|candidate| candidate.trim().trim_start_matches("W/"))
                .any(|candidate| candidate == self.etag || candidate == "*");
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<HttpDate>().ok())
            .is_some_and(|since| self.modified <= SystemTime::from(since))
    }

    fn not_modified(&self) -> HttpResponse {
        self.ok_status(HttpResponse::NotModified()).finish()
    }

    fn ok(&self, content_type: &str) -> actix_web::HttpResponseBuilder {
        let mut builder = self.ok_status(HttpResponse::Ok());
        builder.content_type(content_type);
        builder
    }

    fn ok_status(
        &self,
        mut builder: actix_web::HttpResponseBuilder,
    ) -> actix_web::HttpResponseBuilder {
        builder
            .insert_header((header::ETAG, self.etag.clone()))
            .insert_header((header::LAST_MODIFIED, HttpDate::from(self.modified)));
        builder
    }
}
