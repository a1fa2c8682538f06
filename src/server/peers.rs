//! The `[[peer]]` entries: each runs its pull and push on its own jittered schedule, and its state is served at
//! `GET /peers` and in `/metrics`.

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::Serialize;
use tokio::task::JoinHandle;

use super::AppState;
use super::metrics::{escape, header};
use crate::client::{Job, Local, Quiet, Report, RetryPolicy};
use crate::config::{PeerDirection, PeerMode, PeerSettings, Settings};
use crate::stix::Timestamp;

/// The first run comes within this long after the start, not a whole interval later.
const FIRST_RUN_WITHIN: Duration = Duration::from_secs(5);

/// What one peer has done, as `GET /peers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerState {
    pub name: String,
    pub url: String,
    pub direction: PeerDirection,
    pub mode: PeerMode,
    pub interval_seconds: u64,
    /// For a live peer: whether the remote offered the live extension at the last successful run (when it did
    /// not, the peer polls at its interval).
    pub live_remote: Option<bool>,
    pub runs: u64,
    pub failed_runs: u64,
    pub last_run: Option<String>,
    pub last_success: Option<String>,
    /// Seconds since the last successful run: how far behind the peer this instance may be.
    pub lag_seconds: Option<f64>,
    pub last_error: Option<String>,
    pub objects_pulled: u64,
    pub objects_new: u64,
    pub envelopes_new: u64,
    pub duplicates: u64,
    pub objects_pushed: u64,
    pub failures: u64,
    #[serde(skip)]
    last_success_micros: Option<i64>,
}

/// What one run of a peer's jobs did.
#[derive(Debug, Default)]
struct RunCounts {
    pulled: u64,
    new: u64,
    envelopes: u64,
    duplicates: u64,
    pushed: u64,
    /// Objects refused or unreadable, both ways.
    failures: u64,
    /// The failures and the errors of remote collections, each with why.
    problems: Vec<String>,
    /// Every pull of the run was answered by a server that offers the live extension.
    live: bool,
}

impl RunCounts {
    fn of(reports: &[Report]) -> Self {
        let mut run = Self {
            live: true,
            ..Self::default()
        };
        for report in reports {
            match report {
                Report::Pull(summary) => {
                    run.live &= summary.live;
                    run.pulled += summary.objects as u64;
                    run.new += summary.new_objects as u64;
                    run.envelopes += summary.envelopes as u64;
                    run.duplicates += summary.duplicates as u64;
                    run.failures += summary.failures.len() as u64;
                    run.problems
                        .extend(summary.errors.iter().chain(&summary.failures).cloned());
                }
                Report::Push(summary) => {
                    run.pushed += summary.objects as u64;
                    run.failures += summary.failures.len() as u64;
                    run.problems.extend(summary.failures.iter().cloned());
                }
            }
        }
        run
    }
}

/// The state of every peer, in configuration order.
#[derive(Default)]
pub struct Peers {
    states: Vec<Mutex<PeerState>>,
}

impl Peers {
    pub fn new(peers: &[PeerSettings]) -> Self {
        let states = peers
            .iter()
            .map(|peer| {
                Mutex::new(PeerState {
                    name: peer.name().to_owned(),
                    url: peer.url.clone(),
                    direction: peer.direction,
                    mode: peer.mode,
                    interval_seconds: peer.interval,
                    live_remote: None,
                    runs: 0,
                    failed_runs: 0,
                    last_run: None,
                    last_success: None,
                    lag_seconds: None,
                    last_error: None,
                    objects_pulled: 0,
                    objects_new: 0,
                    envelopes_new: 0,
                    duplicates: 0,
                    objects_pushed: 0,
                    failures: 0,
                    last_success_micros: None,
                })
            })
            .collect();
        Self { states }
    }

    /// Every peer's state, with its lag as of now.
    pub fn snapshot(&self) -> Vec<PeerState> {
        let now = Timestamp::now().micros();
        self.states
            .iter()
            .filter_map(|state| state.lock().ok().map(|s| s.clone()))
            .map(|mut state| {
                state.lag_seconds = state.last_success_micros.map(|at| (now - at) as f64 / 1e6);
                state
            })
            .collect()
    }

    fn record(&self, index: usize, started: Timestamp, outcome: Result<RunCounts, String>) {
        let Some(Ok(mut state)) = self.states.get(index).map(Mutex::lock) else {
            return;
        };
        state.runs += 1;
        state.last_run = Some(started.to_taxii());
        let run = match outcome {
            Ok(run) => run,
            Err(error) => {
                state.failed_runs += 1;
                state.last_error = Some(error);
                return;
            }
        };
        if state.mode == PeerMode::Live {
            state.live_remote = Some(run.live);
        }
        state.objects_pulled += run.pulled;
        state.objects_new += run.new;
        state.envelopes_new += run.envelopes;
        state.duplicates += run.duplicates;
        state.objects_pushed += run.pushed;
        state.failures += run.failures;
        let problems = run.problems;
        if problems.is_empty() {
            state.last_success = Some(started.to_taxii());
            state.last_success_micros = Some(started.micros());
            state.last_error = None;
        } else {
            state.failed_runs += 1;
            state.last_error = Some(format!(
                "{} problems; the first: {}",
                problems.len(),
                problems[0]
            ));
        }
    }

    /// The peers' lines of `/metrics`.
    pub fn render(&self) -> String {
        let states = self.snapshot();
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
}

/// `GET /peers`.
pub async fn status(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "peers": state.peers.snapshot() }))
}

/// Starts one task per peer. They run until aborted.
pub fn start(settings: &Arc<Settings>, local: &Local, peers: &Arc<Peers>) -> Vec<JoinHandle<()>> {
    settings
        .peer
        .iter()
        .enumerate()
        .map(|(index, peer)| {
            let jobs = peer.jobs(&settings.intake.collection);
            let interval = Duration::from_secs(peer.interval);
            let (name, mode) = (peer.name().to_owned(), peer.mode);
            let (settings, local, peers) = (Arc::clone(settings), local.clone(), Arc::clone(peers));
            tokio::spawn(async move {
                tokio::time::sleep(interval.min(FIRST_RUN_WITHIN).mul_f64(fastrand::f64())).await;
                let mut failures = 0;
                loop {
                    let (started, clock) = (Timestamp::now(), Instant::now());
                    let outcome = run(&jobs, &settings, &local)
                        .await
                        .map(|reports| RunCounts::of(&reports));
                    let seconds = clock.elapsed().as_secs_f64();
                    match &outcome {
                        Ok(run) => {
                            tracing::info!(
                                peer = name,
                                objects_pulled = run.pulled,
                                new = run.new,
                                envelopes = run.envelopes,
                                duplicates = run.duplicates,
                                objects_pushed = run.pushed,
                                failures = run.failures,
                                problems = run.problems.len(),
                                seconds,
                                "peer run finished"
                            );
                        }
                        Err(error) => {
                            tracing::warn!(peer = name, %error, seconds, "a peer's run failed")
                        }
                    }
                    let failed = outcome
                        .as_ref()
                        .map_or(true, |run| !run.problems.is_empty());
                    failures = if failed { failures + 1 } else { 0 };
                    let rest = pause(mode, &outcome, failures, interval);
                    peers.record(index, started, outcome);
                    tokio::time::sleep(rest).await;
                }
            })
        })
        .collect()
}

/// How long a peer rests after a run that makes `failures` failed runs in a row. A polling peer waits its
/// interval. A live peer goes straight back to a remote that holds its requests until objects arrive; it backs
/// off after failures, so that a remote that refuses it is not asked in a tight loop; and it polls at its
/// interval a remote that does not offer the extension, as a plain TAXII server answers at once.
fn pause(
    mode: PeerMode,
    outcome: &Result<RunCounts, String>,
    failures: u32,
    interval: Duration,
) -> Duration {
    // Between 90 % and 110 % of the interval, so that peers started together drift apart.
    let jittered = interval.mul_f64(0.9 + fastrand::f64() * 0.2);
    match (mode, outcome) {
        (PeerMode::Poll, _) => jittered,
        (PeerMode::Live, _) if failures > 0 => RetryPolicy::default().backoff(failures),
        (PeerMode::Live, Ok(run)) if run.live => Duration::ZERO,
        (PeerMode::Live, _) => jittered,
    }
}

async fn run(jobs: &[Job], settings: &Settings, local: &Local) -> Result<Vec<Report>, String> {
    let mut reports = Vec::with_capacity(jobs.len());
    for job in jobs {
        reports.push(
            job.run(settings, local, &Quiet)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_peer_follows_a_live_remote_backs_off_and_falls_back_to_polling() {
        let hour = Duration::from_secs(3600);
        let live = || {
            Ok(RunCounts {
                live: true,
                ..RunCounts::default()
            })
        };
        let plain = || Ok(RunCounts::default());
        let within = |wait: Duration, low: Duration, high: Duration| low <= wait && wait <= high;
        assert_eq!(pause(PeerMode::Live, &live(), 0, hour), Duration::ZERO);
        let fallback = pause(PeerMode::Live, &plain(), 0, hour);
        assert!(
            within(fallback, hour * 9 / 10, hour * 11 / 10),
            "{fallback:?}"
        );
        let polled = pause(PeerMode::Poll, &live(), 0, hour);
        assert!(within(polled, hour * 9 / 10, hour * 11 / 10), "{polled:?}");
        // Failures back off, doubling up to the retry policy's cap, whether the remote is live or not.
        let cap = RetryPolicy::default().cap;
        let failed: Result<RunCounts, String> = Err("refused".into());
        for failures in 1..10 {
            let wait = pause(PeerMode::Live, &failed, failures, hour);
            assert!(wait > Duration::ZERO && wait <= cap, "{failures}: {wait:?}");
        }
        let first = pause(PeerMode::Live, &failed, 1, hour);
        assert!(first <= RetryPolicy::default().base, "{first:?}");
    }
}
