//! `GET /ui/envelopes?collection=…&before=…`: a collection's newest envelopes, a page at a time, each with
//! links to its exact text, its STIX objects and its MISP event.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::html::{encode, escape, page, time};
use uuid::Uuid;

use crate::envelope::EnvelopeId;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::rights::Grant;
use crate::mapping::carrier_id;
use crate::misp::{Feed, MispFeeds};
use crate::stix::StixId;
use crate::store::{Store, StoredEnvelope};

/// Envelopes shown per page.
const PAGE: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopesQuery {
    /// Read by the rights decision (see [`crate::http::rights::Named::Query`]).
    #[serde(rename = "collection")]
    _collection: Option<String>,
    /// Show envelopes stored before this position: the previous page's last.
    before: Option<u64>,
}

/// One page, each envelope with its MISP event when the feed has it, and where the next page starts when
/// there may be more.
struct Found {
    envelopes: Vec<(StoredEnvelope, Option<Uuid>)>,
    next: Option<u64>,
}

fn newest(
    store: &dyn Store,
    misp: Option<(&MispFeeds, &Feed)>,
    collection: &str,
    before: Option<u64>,
) -> Result<Found, ApiError> {
    let mut envelopes = Vec::new();
    let (mut last_seen, mut stopped) = (None, false);
    for envelope in store.envelopes_before(collection, before) {
        let envelope = envelope?;
        last_seen = Some(envelope.position);
        let event = match misp {
            Some((misp, feed)) => misp.event_of(feed, &envelope.id)?,
            None => None,
        };
        envelopes.push((envelope, event));
        if envelopes.len() == PAGE {
            stopped = true;
            break;
        }
    }
    // Positions start at 0: nothing comes before the first.
    let next = last_seen.filter(|&position| stopped && position > 0);
    Ok(Found { envelopes, next })
}

/// The STIX object that stands for an envelope in its collection: an envelope made of a foreign object
/// posted over TAXII has that object's id; any other is carried by its `iep04-envelope` object, which
/// refers to the standard objects made of it.
fn stix_object(envelope: &str) -> Option<String> {
    match StixId::parse(envelope) {
        Ok(object) => Some(object.as_str().to_owned()),
        Err(_) => EnvelopeId::parse(envelope).ok().map(|id| carrier_id(&id)),
    }
}

pub async fn page_view(
    state: web::Data<AppState>,
    query: web::Query<EnvelopesQuery>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let collection = grant.collection().clone();
    let feed = state.misp.find(&collection.id);
    let (misp, id, before) = (state.misp.clone(), collection.id.clone(), query.before);
    let (store, page_feed) = (state.store.clone(), feed.clone());
    let found = web::block(move || {
        let misp = page_feed.as_deref().map(|feed| (misp.as_ref(), feed));
        newest(store.as_ref(), misp, &id, before)
    })
    .await??;
    let root = state
        .settings
        .api_roots
        .iter()
        .find(|root| root.collections.iter().any(|c| c.id == collection.id))
        .map(|root| root.path.clone())
        .unwrap_or_default();
    let id = encode(&collection.id);
    let mut body = String::new();
    if found.envelopes.is_empty() {
        body.push_str("<p class=\"note\">No envelopes here.</p>\n");
    } else {
        body.push_str(
            "<table><thead><tr><th>Envelope</th><th>Received</th><th>Feed</th>\
             <th>Classification</th><th>See</th></tr></thead><tbody>\n",
        );
    }
    for (envelope, event) in &found.envelopes {
        let payload = serde_json::from_slice::<Value>(&envelope.text)
            .ok()
            .and_then(|mut v| v.get_mut("payload").map(Value::take))
            .unwrap_or_default();
        let field = |key: &str| escape(payload.get(key).and_then(Value::as_str).unwrap_or(""));
        let stix = stix_object(&envelope.id)
            .map(|object| {
                format!(
                    "<a href=\"/{root}/collections/{id}/objects/{}/\">STIX objects</a>",
                    encode(&object)
                )
            })
            .unwrap_or_default();
        let misp = match (&feed, event) {
            (Some(_), Some(event)) => format!("<a href=\"/misp/{id}/{event}.json\">MISP event</a>"),
            // Not taken into the feed yet: its manifest will list the event.
            (Some(_), None) => format!("<a href=\"/misp/{id}/manifest.json\">MISP feed</a>"),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            body,
            "<tr><td class=\"id\"><a href=\"/envelopes/{}?collection={id}\">{}</a>{}</td>\
             <td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"links\">{stix}{misp}</td></tr>",
            encode(&envelope.id),
            escape(&envelope.id),
            if envelope.version > 0 {
                format!(" <small>(version {})</small>", envelope.version)
            } else {
                String::new()
            },
            time(envelope.received),
            field("feed.name"),
            field("classification.type"),
        );
    }
    if !found.envelopes.is_empty() {
        body.push_str("</tbody></table>\n");
    }
    if let Some(next) = found.next {
        let _ = writeln!(
            body,
            "<p class=\"pager\"><a href=\"/ui/envelopes?collection={id}&amp;before={next}\">Older envelopes</a></p>"
        );
    }
    let title = format!("Newest envelopes of {}", collection.title);
    Ok(page(&state.settings, &grant, &title, &body))
}
