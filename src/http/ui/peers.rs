//! `GET /ui/peers`, for admins: what `/peers` reports of each peer's jobs, and where each IntelMQ consumer
//! that lets the server keep its cursor (`/intelmq/feed?consumer=…`) stands.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::html::{escape, page};
use crate::config::Principal;
use crate::federation::PeerMode;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::intelmq::ConsumerNote;
use crate::http::rights::Grant;

/// One named IntelMQ consumer.
struct Consumer {
    note: ConsumerNote,
    /// The position of the last envelope it was given; `None` when its cursor no longer opens (for instance
    /// after a restore into a new data directory).
    position: Option<u64>,
    /// The position of its collection's newest envelope.
    newest: Option<u64>,
}

pub async fn page_view(state: web::Data<AppState>, grant: Grant) -> Result<HttpResponse, ApiError> {
    let mut body = format!(
        "<h2>Peers</h2>\n<p class=\"note\">This node: <span class=\"node\">{}</span>. A peer's jobs run on \
         one node at a time, the holder of its lease; the counts are of the runs on this node.</p>\n",
        escape(state.node.id())
    );
    let (peers, jobs) = crate::http::peers::with_holders(&state).await?;
    if peers.is_empty() {
        body.push_str("<p class=\"note\">No [[peer]] is configured.</p>\n");
    } else {
        body.push_str(
            "<table><thead><tr><th>Peer</th><th>Direction</th><th>Every</th><th>Runs</th>\
             <th>Failed</th><th>Last run</th><th>Next run</th><th>Lag</th><th>Pulled</th><th>New</th>\
             <th>Pushed</th><th>Failures</th><th>Runs on</th></tr></thead><tbody>\n",
        );
    }
    for peer in &peers {
        let _ = writeln!(
            body,
            "<tr><td class=\"peer\">{}<br><small>{}</small></td><td>{:?}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"time\">{}</td>\
             <td class=\"time next\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"node\">{}</td></tr>",
            escape(&peer.name),
            escape(&peer.url),
            peer.direction,
            match peer.mode {
                PeerMode::Live => "live".to_owned(),
                PeerMode::Poll => format!("{} s", peer.interval_seconds),
            },
            peer.runs,
            failed(peer.failed_runs, peer.failed_in_a_row),
            escape(peer.last_run.as_deref().unwrap_or("not yet")),
            // No next run while a run is under way, or while a live peer follows (it runs as objects arrive).
            escape(peer.next_run.as_deref().unwrap_or("–")),
            peer.lag_seconds
                .map_or_else(|| "–".into(), |lag| format!("{lag:.0} s")),
            peer.objects_pulled,
            peer.objects_new,
            peer.objects_pushed,
            peer.failures,
            holder(peer.node.as_deref(), peer.lease_expires.as_deref()),
        );
        // On a line of its own: errors are long, and would squeeze the counts.
        if let Some(error) = &peer.last_error {
            let _ = writeln!(
                body,
                "<tr><td class=\"error\" colspan=\"13\">Last error: {}</td></tr>",
                escape(error)
            );
        }
    }
    if !peers.is_empty() {
        body.push_str("</tbody></table>\n");
    }
    let (store, key) = (state.store.clone(), state.cursor_key.clone());
    let consumers = web::block(move || -> Result<_, ApiError> {
        let mut consumers = Vec::new();
        // Notes are bookkeeping: a few per client and consumer, never one per envelope.
        for note in store.notes() {
            let (note, value) = note?;
            let Some(note) = ConsumerNote::parse(&note) else {
                continue;
            };
            let scope = format!("intelmq-feed:{}", note.collection);
            let position = key.open(&scope, &String::from_utf8_lossy(&value)).ok();
            let newest = store
                .envelopes_before(&note.collection, None)
                .next()
                .transpose()?;
            consumers.push(Consumer {
                note,
                position,
                newest: newest.map(|e| e.position),
            });
        }
        Ok(consumers)
    })
    .await??;
    body.push_str("<h2>IntelMQ consumers</h2>\n");
    if consumers.is_empty() {
        body.push_str(
            "<p class=\"note\">No IntelMQ collector reads /intelmq/feed with a consumer name yet.</p>\n",
        );
    } else {
        body.push_str(
            "<table><thead><tr><th>Consumer</th><th>Owner</th><th>Collection</th><th>Cursor position</th>\
             <th>Envelopes of its collection stored since</th></tr></thead><tbody>\n",
        );
    }
    for consumer in &consumers {
        let (position, behind) = match (consumer.position, consumer.newest) {
            (Some(position), Some(newest)) => (
                position.to_string(),
                newest.saturating_sub(position).to_string(),
            ),
            (Some(position), None) => (position.to_string(), "0".into()),
            (None, _) => ("unreadable; it starts over".into(), "–".into()),
        };
        let _ = writeln!(
            body,
            "<tr><td class=\"id\">{}</td><td>{}</td><td class=\"id\">{}</td>\
             <td class=\"num\">{position}</td><td class=\"num\">{behind}</td></tr>",
            escape(&consumer.note.name),
            escape(&match &consumer.note.owner {
                Principal::Anonymous => "anonymous callers".into(),
                Principal::Operator => "the operator token".into(),
                Principal::User(name) => name.clone(),
            }),
            escape(&consumer.note.collection),
        );
    }
    if !consumers.is_empty() {
        body.push_str("</tbody></table>\n");
    }
    body.push_str(
        "<h2>Background jobs</h2>\n<table><thead><tr><th>Job</th><th>Runs on</th></tr></thead><tbody>\n",
    );
    for job in &jobs {
        let _ = writeln!(
            body,
            "<tr><td class=\"id\">{}</td><td class=\"node\">{}</td></tr>",
            escape(&job.job),
            holder(job.node.as_deref(), job.lease_expires.as_deref()),
        );
    }
    body.push_str("</tbody></table>\n");
    Ok(page(&state.settings, &grant, "Peers and jobs", &body))
}

/// The node that runs a peer's jobs, and until when its lease lasts unless renewed.
fn holder(node: Option<&str>, expires: Option<&str>) -> String {
    match (node, expires) {
        (None, _) => "no node yet".into(),
        (Some(node), None) => escape(node),
        (Some(node), Some(expires)) => {
            format!(
                "{}<br><small>until {}</small>",
                escape(node),
                escape(expires)
            )
        }
    }
}

/// Failed runs, and how many of them came in a row since the last success: what the backoff doubles on.
fn failed(runs: u64, in_a_row: u32) -> String {
    match in_a_row {
        0 => runs.to_string(),
        n => format!("{runs} ({n} in a row)"),
    }
}
