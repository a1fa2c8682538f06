//! `GET` and `POST /ui/preview?collection=…`: an IntelMQ event or an envelope, pasted into a form, shown as
//! the STIX objects and the MISP attributes it becomes, with the mapping's warnings, by the code of
//! `stixgate map` and of the MISP feeds. Nothing is stored.

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::html::{encode, escape, page};
use crate::envelope::Envelope;
use crate::http::AppState;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::rights::Grant;
use crate::mapping::map_envelope;
use crate::misp::attributes;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// Read by the rights decision (see [`crate::http::rights::Named::Query`]).
    #[serde(rename = "collection")]
    _collection: Option<String>,
}

/// The form's one field.
#[derive(Deserialize)]
struct PreviewForm {
    input: String,
}

/// The empty form.
pub async fn form(
    state: web::Data<AppState>,
    _query: web::Query<PreviewQuery>,
    grant: Grant,
) -> HttpResponse {
    let body = form_html(&grant, "");
    page(&state.settings, &grant, "Mapping preview", &body)
}

/// The most bytes of a preview form, decoded: one event or envelope pasted by hand.
const PREVIEW_LIMIT: usize = 256 * 1024;

/// The form again, with what its input becomes.
pub async fn preview(
    state: web::Data<AppState>,
    request: HttpRequest,
    _query: web::Query<PreviewQuery>,
    grant: Grant,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read as every other body is, so that a compressed body is inflated only up to the limit.
    let body = read_limited(
        &request,
        payload,
        PREVIEW_LIMIT,
        state.settings.body_timeout,
    )
    .await?;
    let form: PreviewForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::BadRequest(format!("the form has no field input: {e}")))?;
    let mut html = form_html(&grant, &form.input);
    html.push_str(&mapped_html(&state, form.input.trim().as_bytes()));
    Ok(page(&state.settings, &grant, "Mapping preview", &html))
}

fn form_html(grant: &Grant, input: &str) -> String {
    let collection = grant.collection();
    format!(
        "<p>Paste one IntelMQ event (flat JSON) or one IEP04 envelope to see what {} would make of \
         it. Nothing is stored.</p>\
         <form method=\"post\" action=\"/ui/preview?collection={}\">\
         <textarea name=\"input\" required spellcheck=\"false\" aria-label=\"event or envelope\">{}</textarea>\
         <button type=\"submit\">Preview</button></form>\n",
        escape(&collection.title),
        encode(&collection.id),
        escape(input)
    )
}

/// The STIX objects and MISP attributes of `input`, or why it is no event or envelope.
fn mapped_html(state: &AppState, input: &[u8]) -> String {
    let envelope = match Envelope::parse(input, &state.intake.rules) {
        Ok(envelope) => envelope,
        Err(error) => {
            return format!(
                "<p class=\"warning\">Not an event or envelope: {}</p>\n",
                escape(&error.to_string())
            );
        }
    };
    let tables = &state.intake.tables;
    let mapped = map_envelope(&envelope, tables, None);
    let mut html = format!("<h2>Envelope {}</h2>\n", escape(envelope.id().as_str()));
    if !mapped.warnings.is_empty() {
        html.push_str("<h2>Warnings</h2><ul>");
        for warning in &mapped.warnings {
            let _ = write!(html, "<li class=\"warning\">{}</li>", escape(warning));
        }
        html.push_str("</ul>\n");
    }
    let objects: Vec<&Value> = std::iter::once(&mapped.carrier)
        .chain(&mapped.standard)
        .collect();
    let _ = writeln!(html, "<h2>STIX objects ({})</h2>", objects.len());
    for object in objects {
        let _ = writeln!(
            html,
            "<article class=\"object\"><h3>{}</h3><pre>{}</pre></article>",
            escape(object["id"].as_str().unwrap_or("(no id)")),
            escape(&serde_json::to_string_pretty(object).expect("JSON values serialize")),
        );
    }
    let found = attributes(&envelope.payload(), tables);
    let rows: Vec<(String, &attributes::Attribute)> = found
        .attributes
        .iter()
        .map(|a| (String::new(), a))
        .chain(found.objects.iter().flat_map(|object| {
            object
                .attributes
                .iter()
                .map(|(relation, a)| (format!("ip-port: {relation}"), a))
        }))
        .collect();
    let _ = writeln!(html, "<h2>MISP attributes ({})</h2>", rows.len());
    if !rows.is_empty() {
        html.push_str(
            "<table><thead><tr><th>Type</th><th>Category</th><th>Value</th><th>to_ids</th>\
             <th>In object</th></tr></thead><tbody>\n",
        );
        for (object, attribute) in rows {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                attribute.kind,
                attribute.category,
                escape(&attribute.value),
                attribute.to_ids,
                escape(&object),
            );
        }
        html.push_str("</tbody></table>\n");
    }
    html
}
