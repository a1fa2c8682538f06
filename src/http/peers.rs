//! `GET /peers`: every peer's state and every background job with the node that runs it; and the peers'
//! lines of `/metrics`.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::metrics::{escape, header};
use super::{ApiError, AppState};
use crate::federation::{PeerState, Peers, lease_name};
use crate::stix::Timestamp;

/// The peers' lines of `/metrics`.
pub fn render_metrics(peers: &Peers) -> String {
    let states = peers.snapshot();
    let mut out = String::new();
    if states.is_empty() {
        return out;
    }
    type Value = fn(&PeerState) -> Option<f64>;
    let series: [(&str, &str, &str, Value); 9] = [
        (
            "stixgate_peer_runs_total",
            "counter",
            "Runs of a peer's jobs.",
            |s| Some(s.runs as f64),
        ),
        (
            "stixgate_peer_failed_runs_total",
            "counter",
            "Runs that failed or reported failures.",
            |s| Some(s.failed_runs as f64),
        ),
        (
            "stixgate_peer_last_success_timestamp_seconds",
            "gauge",
            "When the last successful run started.",
            |s| s.last_success_micros.map(|m| m as f64 / 1e6),
        ),
        (
            "stixgate_peer_lag_seconds",
            "gauge",
            "Seconds since the last successful run started.",
            |s| s.lag_seconds,
        ),
        (
            "stixgate_peer_objects_pulled_total",
            "counter",
            "Objects received from the peer.",
            |s| Some(s.objects_pulled as f64),
        ),
        (
            "stixgate_peer_envelopes_new_total",
            "counter",
            "Envelopes first received from the peer.",
            |s| Some(s.envelopes_new as f64),
        ),
        (
            "stixgate_peer_duplicates_total",
            "counter",
            "Envelopes from the peer that were known already.",
            |s| Some(s.duplicates as f64),
        ),
        (
            "stixgate_peer_objects_pushed_total",
            "counter",
            "Objects sent to the peer.",
            |s| Some(s.objects_pushed as f64),
        ),
        (
            "stixgate_peer_failures_total",
            "counter",
            "Objects refused or unreadable, both ways.",
            |s| Some(s.failures as f64),
        ),
    ];
    for (name, kind, help, value) in series {
        header(&mut out, name, kind, help);
        for state in &states {
            if let Some(value) = value(state) {
                let _ = writeln!(out, "{name}{{peer=\"{}\"}} {value}", escape(&state.name));
            }
        }
    }
    out
}

/// A background job and the node that runs it, as `GET /peers` shows it under `jobs`.
#[derive(Debug, Clone, Serialize)]
pub struct JobState {
    pub job: String,
    /// The holder of the job's lease; `None` while no node holds it.
    pub node: Option<String>,
    /// When that lease ends unless renewed; `None` on sled, where the one process runs every job.
    pub lease_expires: Option<String>,
}

/// Every peer's state with the node that runs it, and every background job of this node with the node that
/// runs it, as the store says (the same on every node).
pub async fn with_holders(
    state: &web::Data<AppState>,
) -> Result<(Vec<PeerState>, Vec<JobState>), ApiError> {
    let node = state.node.clone();
    let roster = web::block(move || node.roster()).await??;
    let jobs: Vec<JobState> = roster
        .into_iter()
        .map(|(job, holder)| JobState {
            job,
            lease_expires: holder
                .as_ref()
                .and_then(|holder| holder.expires)
                .and_then(|micros| i64::try_from(micros).ok())
                .map(|micros| Timestamp::from_micros(micros).to_taxii()),
            node: holder.map(|holder| holder.node),
        })
        .collect();
    let mut peers = state.peers.snapshot();
    for peer in &mut peers {
        let lease = lease_name(&peer.name);
        if let Some(job) = jobs.iter().find(|job| job.job == lease) {
            peer.node.clone_from(&job.node);
            peer.lease_expires.clone_from(&job.lease_expires);
        }
    }
    Ok((peers, jobs))
}

/// `GET /peers`: every peer, every background job, and which node answers (`node`).
pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (peers, jobs) = with_holders(&state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "node": state.node.id(),
        "peers": peers,
        "jobs": jobs,
    })))
}
