//! When each peer's jobs run. A polling peer runs its pull, then its push, every `interval`. A live peer runs
//! each of its jobs on its own: the pull again as soon as it ends (a stixgate remote holds it until objects
//! arrive), the push whenever the local writer has stored objects in its collection. Failures back off,
//! whatever the mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::join_all;
use tokio::sync::watch;

use futures_util::future::BoxFuture;

use super::settings::{PeerMode, PeerSettings};
use super::status::{Peers, RunCounts};
use super::{Exchange, Local, Quiet, Report, RetryPolicy, Session};
use crate::jobs::Job;
use crate::stix::Timestamp;
use crate::store::CollectionNames;

/// The first run comes within this long after the start, not a whole interval later.
const FIRST_RUN_WITHIN: Duration = Duration::from_secs(5);

/// One peer's exchanges, run on its schedule by the node that holds the lease [`lease_name`]: a polling
/// peer's exchanges one after the other, a live peer's each on its own, side by side.
pub struct PeerJob {
    name: String,
    runners: Vec<Runner>,
}

impl PeerJob {
    /// The job of every peer. `collections` resolves the local collection each peer names (checked when the
    /// configuration was loaded); `states` is where their runs are counted, in the order of `peers`.
    pub fn all(
        peers: &[PeerSettings],
        intake_collection: &str,
        collections: &Arc<CollectionNames>,
        local: &Local,
        states: &Arc<Peers>,
    ) -> Vec<Self> {
        let mut jobs = Vec::new();
        for (index, peer) in peers.iter().enumerate() {
            let exchanges = peer.exchanges(intake_collection);
            let local_name = peer.collection.as_deref().unwrap_or(intake_collection);
            let Some(collection) = collections.id_of(local_name).map(str::to_owned) else {
                tracing::error!(
                    peer = peer.name(),
                    local_name,
                    "no such local collection; the peer does not run"
                );
                continue;
            };
            let groups = match peer.mode {
                PeerMode::Poll => vec![exchanges],
                PeerMode::Live => exchanges.into_iter().map(|one| vec![one]).collect(),
            };
            let runners = groups
                .into_iter()
                .map(|group| Runner {
                    index,
                    collection: collection.clone(),
                    name: peer.name().to_owned(),
                    mode: peer.mode,
                    interval: Duration::from_secs(peer.interval),
                    exchanges: group,
                    collections: Arc::clone(collections),
                    local: local.clone(),
                    peers: Arc::clone(states),
                })
                .collect();
            jobs.push(Self {
                name: peer.name().to_owned(),
                runners,
            });
        }
        jobs
    }
}

impl Job for PeerJob {
    fn name(&self) -> String {
        lease_name(&self.name)
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        join_all(self.runners.clone().into_iter().map(Runner::run_forever))
            .map(drop)
            .boxed()
    }
}

/// The lease under which a peer's jobs run.
pub fn lease_name(peer: &str) -> String {
    format!("peer/{peer}")
}

/// One peer's jobs that run together, and where their runs are counted.
#[derive(Clone)]
struct Runner {
    index: usize,
    /// The local collection (id) the peer pulls into and pushes from.
    collection: String,
    name: String,
    mode: PeerMode,
    interval: Duration,
    exchanges: Vec<Exchange>,
    collections: Arc<CollectionNames>,
    local: Local,
    peers: Arc<Peers>,
}

/// What a peer does between two runs.
#[derive(Debug, PartialEq)]
enum Rest {
    For(Duration),
    /// Until the local writer has stored objects in the peer's collection: a live push has sent everything
    /// before.
    UntilObjectsAdded,
}

impl Runner {
    async fn run_forever(self) {
        tokio::time::sleep(self.interval.min(FIRST_RUN_WITHIN).mul_f64(fastrand::f64())).await;
        let mut added = self.local.writer.objects_added(&self.collection);
        let mut sessions: Vec<Session> =
            self.exchanges.iter().map(|_| Session::default()).collect();
        let mut failures = 0;
        loop {
            // Objects stored from here on wake the next rest at once, even those stored during the run.
            added.borrow_and_update();
            let (started, clock) = (Timestamp::now(), Instant::now());
            let outcome = self
                .run(&mut sessions)
                .await
                .map(|reports| RunCounts::of(&reports));
            self.log(&outcome, clock.elapsed().as_secs_f64());
            let failed = outcome
                .as_ref()
                .map_or(true, |run| !run.problems.is_empty());
            failures = if failed { failures + 1 } else { 0 };
            let rest = rest(self.mode, &outcome, failures, self.interval);
            let next_run = match rest {
                Rest::For(wait) if !wait.is_zero() => Some(Timestamp::from_micros(
                    Timestamp::now().micros() + wait.as_micros() as i64,
                )),
                _ => None,
            };
            self.peers.record(self.index, started, outcome, next_run);
            if !self.rest(rest, &mut added).await {
                return;
            }
        }
    }

    async fn run(&self, sessions: &mut [Session]) -> Result<Vec<Report>, String> {
        let mut reports = Vec::with_capacity(self.exchanges.len());
        for (exchange, session) in self.exchanges.iter().zip(sessions) {
            let report = exchange
                .run_in(session, &self.collections, &self.local, &Quiet)
                .await
                .map_err(|e| e.to_string())?;
            reports.push(report);
        }
        Ok(reports)
    }

    /// False when the writer has stopped: the server is going down and nothing more will be stored.
    async fn rest(&self, rest: Rest, added: &mut watch::Receiver<u64>) -> bool {
        match rest {
            Rest::For(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            Rest::UntilObjectsAdded => added.changed().await.is_ok(),
        }
    }

    fn log(&self, outcome: &Result<RunCounts, String>, seconds: f64) {
        let peer = &self.name;
        match outcome {
            Ok(run) => tracing::info!(
                peer,
                objects_pulled = run.pulled,
                new = run.new,
                envelopes = run.envelopes,
                duplicates = run.duplicates,
                objects_pushed = run.pushed,
                failures = run.failures,
                problems = run.problems.len(),
                seconds,
                "peer run finished"
            ),
            Err(error) => tracing::warn!(peer, %error, seconds, "a peer's run failed"),
        }
    }
}

/// How long a peer rests after a run that makes `failures` failed runs in a row. A polling peer waits its
/// interval. A live peer backs off after failures, so that a remote that refuses it is not asked in a tight
/// loop. Otherwise a live pull goes straight back to a remote that holds its requests until objects arrive,
/// and polls at its interval a remote that does not offer the extension (a plain TAXII server answers at
/// once); a live push waits until objects are stored here.
fn rest(
    mode: PeerMode,
    outcome: &Result<RunCounts, String>,
    failures: u32,
    interval: Duration,
) -> Rest {
    // Between 90 % and 110 % of the interval, so that peers started together drift apart.
    let jittered = interval.mul_f64(0.9 + fastrand::f64() * 0.2);
    match (mode, outcome) {
        (PeerMode::Poll, _) => Rest::For(jittered),
        (PeerMode::Live, _) if failures > 0 => Rest::For(RetryPolicy::default().backoff(failures)),
        (PeerMode::Live, Ok(run)) => match run.live {
            None => Rest::UntilObjectsAdded,
            Some(true) => Rest::For(Duration::ZERO),
            Some(false) => Rest::For(jittered),
        },
        (PeerMode::Live, Err(_)) => Rest::For(jittered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_peer_follows_a_live_remote_backs_off_and_falls_back_to_polling() {
        let hour = Duration::from_secs(3600);
        let pulled = |live| {
            Ok(RunCounts {
                live: Some(live),
                ..RunCounts::default()
            })
        };
        let pushed = || Ok(RunCounts::default());
        let within = |rest: Rest, low: Duration, high: Duration| match rest {
            Rest::For(wait) => low <= wait && wait <= high,
            Rest::UntilObjectsAdded => false,
        };
        let (low, high) = (hour * 9 / 10, hour * 11 / 10);
        assert_eq!(
            rest(PeerMode::Live, &pulled(true), 0, hour),
            Rest::For(Duration::ZERO)
        );
        assert!(within(
            rest(PeerMode::Live, &pulled(false), 0, hour),
            low,
            high
        ));
        assert_eq!(
            rest(PeerMode::Live, &pushed(), 0, hour),
            Rest::UntilObjectsAdded,
            "a live push waits for objects"
        );
        for outcome in [pulled(true), pushed()] {
            assert!(within(rest(PeerMode::Poll, &outcome, 0, hour), low, high));
        }
        // Failures back off, doubling up to the retry policy's cap, whether the remote is live or not and
        // for a push as for a pull.
        let cap = RetryPolicy::default().cap;
        let failed: Result<RunCounts, String> = Err("refused".into());
        for outcome in [failed, pulled(true), pushed()] {
            for failures in 1..10 {
                let wait = rest(PeerMode::Live, &outcome, failures, hour);
                assert!(within(wait, Duration::from_millis(1), cap), "{failures}");
            }
            let first = rest(PeerMode::Live, &outcome, 1, hour);
            assert!(within(first, Duration::ZERO, RetryPolicy::default().base));
        }
    }
}
