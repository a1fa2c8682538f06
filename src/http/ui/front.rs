//! `GET /`: the collections the caller may read, each with its counts and the URLs to give to clients.

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, web};

use super::html::{encode, escape, page, time, url_field};
use crate::http::AppState;
use crate::http::base_url::base_url;
use crate::http::error::ApiError;
use crate::http::rights::Grant;
use crate::store::CollectionSummary;

/// The consumer name of the IntelMQ feed URL shown: one collector per name keeps its own cursor.
const INTELMQ_CONSUMER: &str = "intelmq-collector";

pub async fn page_view(
    state: web::Data<AppState>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let base = base_url(&request, settings)?;
    let readable: Vec<_> = settings
        .api_roots
        .iter()
        .flat_map(|root| root.collections.iter().map(move |c| (root, c)))
        .filter(|(_, c)| c.access(&grant.caller).read)
        .collect();
    let ids: Vec<String> = readable.iter().map(|(_, c)| c.id.clone()).collect();
    let store = state.store.clone();
    // One count lookup per collection: the engine keeps them, so this does not grow with the data.
    let summaries = web::block(move || {
        ids.iter()
            .map(|id| store.collection_summary(id))
            .collect::<Result<Vec<CollectionSummary>, _>>()
    })
    .await??;
    let mut body = String::new();
    if readable.is_empty() {
        body.push_str("<p class=\"note\">You may read no collection.</p>\n");
    }
    for ((root, collection), summary) in readable.iter().zip(&summaries) {
        let id = encode(&collection.id);
        let _ = write!(
            body,
            "<section class=\"collection\"><h2>{}</h2>{}\
             <dl class=\"counts\"><div><dt>Objects</dt><dd>{}</dd></div>\
             <div><dt>Envelopes</dt><dd>{}</dd></div><div><dt>Newest date_added</dt><dd>{}</dd></div></dl>",
            escape(&collection.title),
            collection
                .description
                .as_deref()
                .map(|d| format!("<p class=\"note\">{}</p>", escape(d)))
                .unwrap_or_default(),
            summary.objects,
            summary.envelopes,
            summary.newest_added.map_or_else(|| "none yet".into(), time),
        );
        body.push_str(&url_field(
            "TAXII collection",
            &format!("{base}/{}/collections/{}/", root.path, collection.id),
        ));
        // MISP asks for `url . '/manifest.json'`: the URL it is given has no final `/`.
        if state.misp.find(&collection.id).is_some() {
            body.push_str(&url_field("MISP feed", &format!("{base}/misp/{id}")));
        }
        // With a consumer, the server keeps the collector's cursor: each poll brings only what is new.
        body.push_str(&url_field(
            "IntelMQ feed",
            &format!("{base}/intelmq/feed?collection={id}&consumer={INTELMQ_CONSUMER}"),
        ));
        let _ = writeln!(
            body,
            "<p><a href=\"/ui/envelopes?collection={id}\">Newest envelopes</a></p></section>"
        );
    }
    let writable: Vec<_> = settings
        .api_roots
        .iter()
        .flat_map(|root| &root.collections)
        .filter(|c| c.access(&grant.caller).write)
        .collect();
    if !writable.is_empty() {
        body.push_str("<h2>Mapping preview</h2><p>What an event or envelope would become in ");
        let links: Vec<String> = writable
            .iter()
            .map(|c| {
                format!(
                    "<a href=\"/ui/preview?collection={}\">{}</a>",
                    encode(&c.id),
                    escape(&c.title)
                )
            })
            .collect();
        body.push_str(&links.join(", "));
        body.push_str(", without storing it.</p>\n");
    }
    if !settings.is_admin(&grant.caller) {
        body.push_str(
            "<p class=\"note\">Peers, background jobs and IntelMQ consumers are shown to admins \
             (users with admin = true).</p>\n",
        );
    }
    Ok(page(settings, &grant, "Collections", &body))
}
