//! What every view shares: escaping, links, the page frame with its headers, and the style sheet.

use std::fmt::Write;

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::super::rights::Grant;
use crate::config::Settings;
use crate::stix::Timestamp;

/// No script, no inline style, no frames, nothing from elsewhere: whatever a stored value smuggles past the
/// escaping cannot run or load anything.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("style.css");
const ICON: &str = include_str!("icon.svg");

/// Characters kept as they are in a path segment or a query value: RFC 3986's unreserved ones.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as HTML text or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one path segment or query value of a URL.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A time in microseconds since the Unix epoch, as TAXII writes it.
pub fn time(micros: u64) -> String {
    Timestamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX)).to_taxii()
}

/// A copyable URL: a read-only field, so that a long URL neither overflows nor wraps mid-word.
pub fn url_field(label: &str, url: &str) -> String {
    let url = escape(url);
    format!(
        "<label class=\"url\"><span>{}</span><input readonly value=\"{url}\" \
         aria-label=\"{0}\"></label>",
        escape(label)
    )
}

/// A whole view: the frame with its navigation around `body`, and the headers every view sends.
pub fn page(settings: &Settings, grant: &Grant, title: &str, body: &str) -> HttpResponse {
    let mut html = String::with_capacity(body.len() + 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} – {}</title><link rel=\"stylesheet\" href=\"/ui/style.css\">\
         <link rel=\"icon\" href=\"/ui/icon.svg\" type=\"image/svg+xml\"></head><body>\
         <header><a class=\"home\" href=\"/\">{}</a><nav><a href=\"/\">Collections</a>\
         {}{}</nav><span class=\"caller\">{}</span></header>\
         <main><h1>{}</h1>\n{body}</main></body></html>\n",
        escape(title),
        escape(&settings.taxii.title),
        escape(&settings.taxii.title),
        // The form's default collection is the intake's; the front page links to the others.
        if settings
            .collection(&settings.intake.collection)
            .is_some_and(|c| c.access(&grant.caller).write)
        {
            "<a href=\"/ui/preview\">Mapping preview</a>"
        } else {
            ""
        },
        if settings.is_admin(&grant.caller) {
            "<a href=\"/ui/peers\">Peers and jobs</a>"
        } else {
            ""
        },
        escape(&caller_name(grant)),
        escape(title),
    );
    HttpResponse::Ok()
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // Nothing of a view's URL goes elsewhere, while the page's own forms keep their `Origin` (a
        // `no-referrer` page posts `Origin: null`, which the cross-site refusal cannot tell from a sandboxed
        // frame's in a browser that sends no `Sec-Fetch-Site`).
        .insert_header(("Referrer-Policy", "same-origin"))
        // Views show what one caller may see: no cache keeps them for the next.
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(html)
}

fn caller_name(grant: &Grant) -> String {
    match &grant.caller {
        crate::config::Principal::Anonymous => "anonymous".into(),
        crate::config::Principal::User(name) => format!("signed in as {name}"),
        crate::config::Principal::Operator => "operator".into(),
    }
}

/// `GET /ui/style.css`: the one style sheet, part of the binary.
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /ui/icon.svg`: the page's icon, so that browsers do not ask for a `/favicon.ico` there is none of.
pub async fn icon() -> HttpResponse {
    asset("image/svg+xml", ICON)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((CACHE_CONTROL, "max-age=3600"))
        .body(body)
}
