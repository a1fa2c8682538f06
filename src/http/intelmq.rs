//! IntelMQ's own ways in and out, with no change to IntelMQ:
//! - `POST /intelmq/events`: the `restapi` output bot, one event per request, JSON (flat or hierarchical) or
//!   form data labelled JSON (`use_json: false`); idempotent, since the bot resends on errors and timeouts;
//! - `GET /intelmq/feed`: NDJSON of bare events for the `http` collector and its JSON parser, from an opaque
//!   cursor, or from a cursor the server keeps per named consumer (the collector's URL cannot change);
//! - `GET /intelmq/stream`: the same feed as one long-lived response for the `http_stream` collector.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

use super::AppState;
use super::body::read_body;
use super::envelopes::misdirected;
use super::error::ApiError;
use super::rights::Grant;
use crate::config::Principal;
use crate::envelope::intelmq::{self as intelmq_format, FieldList};
use crate::intelmq::{EventError, FeedFormat, FeedPage, feed_page, store_event};
use crate::quote::shown;
use crate::store::WriteOp;

const CURSOR_HEADER: &str = "X-Stixgate-Cursor";
const FEED_PAGE: usize = 1000;
const FEED_PAGE_MAX: usize = 100_000;
const NDJSON: &str = "application/x-ndjson";
/// How often an open stream looks for new events when nothing woke it: it wakes whenever objects or envelopes
/// are stored in its collection, through this node or another (see [`crate::store::Writer::objects_added`]).
const STREAM_POLL: Duration = Duration::from_secs(5);
/// An empty line after this many idle polls keeps the stream's connection alive.
const STREAM_KEEPALIVE_POLLS: u32 = 3;

/// The collection is read by the rights decision (see [`super::rights::Named::Query`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeQuery {
    #[serde(rename = "collection")]
    _collection: Option<String>,
}

/// Stores one event from IntelMQ's `restapi` output. Its id is minted from its content, so a resent event
/// is a duplicate, not a second envelope. 200 once durable; 400 for bad data, which the bot then dumps
/// instead of retrying; 503 for trouble with the store, which it retries.
pub async fn post_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    _query: web::Query<IntakeQuery>,
    payload: web::Payload,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&request, payload, &state.settings).await?;
    let collection = &grant.collection().id;
    let stored = &state.metrics.envelopes_stored;
    let report = store_event(&state.intake, &state.writer, stored, collection, &body)
        .await
        .map_err(|error| match error {
            EventError::Refused(message) => ApiError::BadRequest(message),
            EventError::Stix(content) => misdirected(&state.settings, collection, content),
            EventError::Store(error) => ApiError::Store(error),
        })?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Read by the rights decision (see [`super::rights::Named::Query`]).
    #[serde(rename = "collection")]
    _collection: Option<String>,
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

/// The note that keeps a named consumer's cursor. A consumer belongs to whoever named it first: the note is
/// kept per collection and per caller, so that another user naming the same consumer gets a cursor of its own
/// and cannot move the first one's (or learn that it exists). Anonymous callers cannot be told apart, so they
/// share one namespace.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ConsumerNote {
    pub collection: String,
    pub owner: Principal,
    pub name: String,
}

/// The notes' prefix: `intelmq-consumer/{collection}/{owner}/{consumer}`, where the owner is `anonymous`,
/// `operator` or `user:` and the user name with `/` and `%` percent-encoded.
pub(super) const CONSUMER_NOTES: &str = "intelmq-consumer/";
const OWNER_ENCODED: &AsciiSet = &CONTROLS.add(b'/').add(b'%');

impl ConsumerNote {
    fn key(&self) -> String {
        let owner = match &self.owner {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::Operator => "operator".to_owned(),
            Principal::User(name) => format!("user:{}", utf8_percent_encode(name, OWNER_ENCODED)),
        };
        format!("{CONSUMER_NOTES}{}/{owner}/{}", self.collection, self.name)
    }

    /// The consumer a note key names, `None` for any other note.
    pub fn parse(key: &str) -> Option<Self> {
        let (collection, rest) = key.strip_prefix(CONSUMER_NOTES)?.split_once('/')?;
        let (owner, name) = rest.split_once('/')?;
        let owner = match owner {
            "anonymous" => Principal::Anonymous,
            "operator" => Principal::Operator,
            user => Principal::User(
                percent_decode_str(user.strip_prefix("user:")?)
                    .decode_utf8()
                    .ok()?
                    .into_owned(),
            ),
        };
        Some(Self {
            collection: collection.to_owned(),
            owner,
            name: name.to_owned(),
        })
    }
}

/// A feed being read: where it stands and how its events are written.
struct FeedReader {
    collection: String,
    /// What sealed cursors are bound to, so that a cursor is refused in another collection.
    scope: String,
    /// The note that keeps a named consumer's cursor.
    note: Option<String>,
    cursor: Option<u64>,
    limit: usize,
    format: FeedFormat,
}

/// One page read from a feed, with the sealed cursor after it.
struct ReadPage {
    page: FeedPage,
    next: Option<String>,
}

impl FeedReader {
    /// Checks the query and finds where the feed starts.
    async fn open(
        state: &web::Data<AppState>,
        query: FeedQuery,
        grant: &Grant,
    ) -> Result<Self, ApiError> {
        let collection = grant.collection();
        if let Some(key) = &query.id_key
            && (!key.starts_with("extra.") || !intelmq_format::is_valid_key(key))
        {
            return Err(ApiError::BadRequest(format!(
                "id_key {} must be an IntelMQ key under extra.",
                shown(key)
            )));
        }
        let scope = format!("intelmq-feed:{}", collection.id);
        let note = query.consumer.map(|name| {
            ConsumerNote {
                collection: collection.id.clone(),
                owner: grant.caller.clone(),
                name,
            }
            .key()
        });
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
        Ok(Self {
            collection: collection.id.clone(),
            scope,
            note,
            cursor,
            limit: query.limit.unwrap_or(FEED_PAGE).clamp(1, FEED_PAGE_MAX),
            format: FeedFormat {
                fields: Arc::new(FieldList::intelmq_35()),
                id_key: query.id_key,
                with_type: query.with_type,
            },
        })
    }

    /// The next page; moves the cursor past it, and keeps it for a named consumer.
    async fn read(&mut self, state: &web::Data<AppState>) -> Result<ReadPage, ApiError> {
        let page = {
            let (state, collection, after, limit, format) = (
                state.clone(),
                self.collection.clone(),
                self.cursor,
                self.limit,
                self.format.clone(),
            );
            web::block(move || {
                let skipped = &state.metrics.feed_events_skipped;
                feed_page(&*state.store, skipped, &collection, after, limit, &format)
            })
            .await??
        };
        self.cursor = page.last.or(self.cursor);
        let next = self
            .cursor
            .map(|position| state.cursor_key.seal(&self.scope, position));
        if let (Some(note), Some(next)) = (&self.note, &next)
            && page.last.is_some()
        {
            let op = WriteOp::PutNote {
                key: note.clone(),
                value: next.clone().into_bytes(),
            };
            state.writer.write(vec![op]).await?;
        }
        Ok(ReadPage { page, next })
    }
}

/// NDJSON of bare IntelMQ events stored after the cursor: only keys IntelMQ 3.5 accepts (others move under
/// `extra.` or are dropped), flat, with sorted keys, one per line, as IntelMQ's JSON parser reads them.
pub async fn feed(
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let mut reader = FeedReader::open(&state, query.into_inner(), &grant).await?;
    let ReadPage { page, next } = reader.read(&state).await?;
    let mut response = HttpResponse::build(StatusCode::OK);
    response.content_type(NDJSON);
    if let Some(next) = next {
        response.insert_header((CURSOR_HEADER, next));
    }
    response.insert_header(("X-Stixgate-Keys-Moved", page.moved.to_string()));
    response.insert_header(("X-Stixgate-Keys-Dropped", page.dropped.to_string()));
    Ok(response.body(page.lines))
}

/// The feed as one long-lived chunked NDJSON response, for IntelMQ's `http_stream` collector, which makes
/// one report per line: first what the cursor or consumer has not seen, then each new event as it is
/// stored. It reads again when its collection gets objects or envelopes (on any node), and every
/// [`STREAM_POLL`] anyway; an idle stream gets an empty line now and then, which the collector skips,
/// so that neither it nor a proxy times the connection out. The stream ends when the server stops.
pub async fn stream(
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let reader = FeedReader::open(&state, query.into_inner(), &grant).await?;
    let stopping = state.stopping.clone();
    // Watched from before the first read, so that what is stored between a read and the wait wakes it.
    let mut added = state.writer.objects_added(&reader.collection);
    added.borrow_and_update();
    let lines = futures_util::stream::unfold(
        (reader, state, stopping, added, 0u32),
        |(mut reader, state, mut stopping, mut added, mut idle)| async move {
            loop {
                if *stopping.borrow() {
                    return None;
                }
                let page = match reader.read(&state).await {
                    Ok(read) => read.page,
                    Err(error) => {
                        tracing::warn!(%error, "an IntelMQ stream ends: reading the feed failed");
                        return None;
                    }
                };
                if !page.lines.is_empty() {
                    let chunk = Bytes::from(page.lines);
                    let next = (reader, state, stopping, added, 0);
                    return Some((Ok::<_, ApiError>(chunk), next));
                }
                idle += 1;
                if idle >= STREAM_KEEPALIVE_POLLS {
                    let next = (reader, state, stopping, added, 0);
                    return Some((Ok(Bytes::from_static(b"\n")), next));
                }
                tokio::select! {
                    () = tokio::time::sleep(STREAM_POLL) => {}
                    // A stopped writer ends the watch; the stop ends the stream just after.
                    Ok(()) = added.changed() => {}
                    _ = stopping.changed() => return None,
                }
            }
        },
    );
    Ok(HttpResponse::Ok().content_type(NDJSON).streaming(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_notes_keep_owners_apart_and_read_back() {
        let note = |owner: Principal, name: &str| ConsumerNote {
            collection: "pub".into(),
            owner,
            name: name.into(),
        };
        let owners = [
            Principal::Anonymous,
            Principal::Operator,
            Principal::User("alice".into()),
            Principal::User("anonymous".into()),
            Principal::User("a/b%2F".into()),
        ];
        let keys: Vec<String> = owners
            .iter()
            .map(|o| note(o.clone(), "x/y").key())
            .collect();
        for (owner, key) in owners.iter().zip(&keys) {
            assert_eq!(
                ConsumerNote::parse(key),
                Some(note(owner.clone(), "x/y")),
                "{key}"
            );
            assert_eq!(keys.iter().filter(|k| *k == key).count(), 1, "{key}");
        }
        assert_eq!(ConsumerNote::parse("feed-cursor/pub/x"), None);
        assert_eq!(ConsumerNote::parse("intelmq-consumer/pub/nobody/x"), None);
    }
}
