//! What each `[[peer]]` has done: its runs, counts, errors and lag, kept as its schedule runs, for `GET /peers`,
//! `/metrics` and the operator page.

use std::sync::Mutex;

use serde::Serialize;

use super::Report;
use super::settings::{PeerDirection, PeerMode, PeerSettings};
use crate::stix::Timestamp;

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
    /// Failed runs since the last successful one: what the backoff doubles on.
    pub failed_in_a_row: u32,
    /// When the next run starts, while the peer waits for it: a polling peer's next run, or a retry after a
    /// failure. None while a run is under way, and while a live peer follows (it runs as objects arrive).
    pub next_run: Option<String>,
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
    /// The node that runs the peer's jobs: the holder of its lease, as the store says, so that every node
    /// shows the same; `None` while no node holds it. The counts above are of the runs on the node asked.
    pub node: Option<String>,
    /// When that node's lease ends unless it renews it; `None` on sled, where the one process runs every job.
    pub lease_expires: Option<String>,
    /// When the last successful run started, in microseconds since the Unix epoch.
    #[serde(skip)]
    pub last_success_micros: Option<i64>,
}

/// What one run of a peer's jobs did.
#[derive(Debug, Default)]
pub(super) struct RunCounts {
    pub(super) pulled: u64,
    pub(super) new: u64,
    pub(super) envelopes: u64,
    pub(super) duplicates: u64,
    pub(super) pushed: u64,
    /// Objects refused or unreadable, both ways.
    pub(super) failures: u64,
    /// The failures and the errors of remote collections, each with why.
    pub(super) problems: Vec<String>,
    /// Whether every pull of the run was answered by a server that offers the live extension; None for a run
    /// without a pull.
    pub(super) live: Option<bool>,
}

impl RunCounts {
    pub(super) fn of(reports: &[Report]) -> Self {
        let mut run = Self::default();
        for report in reports {
            match report {
                Report::Pull(summary) => {
                    run.live = Some(run.live.unwrap_or(true) && summary.live);
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
                    failed_in_a_row: 0,
                    next_run: None,
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
                    node: None,
                    lease_expires: None,
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

    /// Counts a run that started at `started`, and when the next one starts, if the peer waits for a time.
    pub(super) fn record(
        &self,
        index: usize,
        started: Timestamp,
        outcome: Result<RunCounts, String>,
        next_run: Option<Timestamp>,
    ) {
        let Some(Ok(mut state)) = self.states.get(index).map(Mutex::lock) else {
            return;
        };
        state.runs += 1;
        state.last_run = Some(started.to_taxii());
        state.next_run = next_run.map(Timestamp::to_taxii);
        let run = match outcome {
            Ok(run) => run,
            Err(error) => {
                state.failed_runs += 1;
                state.failed_in_a_row += 1;
                state.last_error = Some(error);
                return;
            }
        };
        if state.mode == PeerMode::Live && run.live.is_some() {
            state.live_remote = run.live;
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
            state.failed_in_a_row = 0;
        } else {
            state.failed_runs += 1;
            state.failed_in_a_row += 1;
            state.last_error = Some(format!(
                "{} problems; the first: {}",
                problems.len(),
                problems[0]
            ));
        }
    }
}
