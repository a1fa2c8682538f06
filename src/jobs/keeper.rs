//! The keeper of a node's leases: one call to the store takes and renews them all, every `renew`; a job runs
//! while its lease is held.
//!
//! A lease's term is counted by the store's clock from the moment the store runs the call, which comes after
//! the keeper asked. So the keeper counts from the moment it asked, and stops its jobs once `stop_after` has
//! passed without a renewal: that is before the store's term ends, however the clocks differ.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Node;

/// Tests shorten the leases' term, to move jobs in seconds; release builds ignore it.
const TEST_TERM_VARIABLE: &str = "LEASE_TEST_TERM_MS";

/// The term of a lease.
const TERM: Duration = Duration::from_secs(15);

/// How often leases are renewed, how soon a failed renewal is tried again, and when the jobs stop without one,
/// each a part of the term.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    term: Duration,
    renew: Duration,
    retry: Duration,
    stop_after: Duration,
}

impl Timing {
    fn of(term: Duration) -> Self {
        Self {
            term,
            renew: term / 3,
            retry: term / 15,
            stop_after: term * 4 / 5,
        }
    }

    pub(super) fn configured() -> Self {
        let test_term = cfg!(debug_assertions)
            .then(|| std::env::var(TEST_TERM_VARIABLE).ok())
            .flatten()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis);
        Self::of(test_term.unwrap_or(TERM))
    }
}

pub(super) struct Keeper {
    node: Node,
    names: Vec<String>,
    /// Whether each job (in the order of `names`) runs here.
    held: Vec<watch::Sender<bool>>,
    timing: Timing,
}

impl Keeper {
    pub(super) fn new(
        node: Node,
        jobs: Vec<(String, watch::Sender<bool>)>,
        timing: Timing,
    ) -> Self {
        let (names, held) = jobs.into_iter().unzip();
        Self {
            node,
            names,
            held,
            timing,
        }
    }

    /// Takes and renews the leases until `stopping` turns true; a call under way is finished first, so that no
    /// renewal lands after the node gives its leases up.
    pub(super) async fn keep(self, mut stopping: watch::Receiver<bool>) {
        // Until when the jobs that run here may run without another renewal.
        let mut valid_until: Option<Instant> = None;
        let mut failing = false;
        loop {
            let asked = Instant::now();
            let (node, names, term) = (self.node.clone(), self.names.clone(), self.timing.term);
            let mut attempt =
                tokio::task::spawn_blocking(move || node.leases.take(&node.id, &names, term));
            // A call that hangs (the database is unreachable) must not keep the jobs running past their term.
            let outcome = loop {
                match valid_until {
                    Some(until) => tokio::select! {
                        outcome = &mut attempt => break outcome,
                        () = tokio::time::sleep_until(until) => {
                            self.stop_all();
                            valid_until = None;
                        }
                    },
                    None => break (&mut attempt).await,
                }
            };
            let wait = match outcome {
                Ok(Ok(held)) => {
                    if failing {
                        tracing::info!(node = self.node.id(), "the job leases are renewed again");
                    }
                    failing = false;
                    valid_until = Some(asked + self.timing.stop_after);
                    for (name, running) in self.names.iter().zip(&self.held) {
                        let now = held.contains(name);
                        running.send_if_modified(|was| std::mem::replace(was, now) != now);
                    }
                    self.timing.renew
                }
                failed => {
                    if !failing {
                        let error = match failed {
                            Ok(Err(error)) => error.to_string(),
                            _ => "the call failed".to_owned(),
                        };
                        tracing::warn!(node = self.node.id(), %error, "cannot renew the job leases; the jobs stop here unless a renewal comes within their term");
                    }
                    failing = true;
                    self.timing.retry
                }
            };
            let next = Instant::now() + wait;
            if let Some(until) = valid_until.filter(|until| *until < next) {
                if !rest_until(until, &mut stopping).await {
                    return;
                }
                self.stop_all();
                valid_until = None;
            }
            if !rest_until(next, &mut stopping).await {
                return;
            }
        }
    }

    fn stop_all(&self) {
        for running in &self.held {
            running.send_if_modified(|was| std::mem::replace(was, false));
        }
    }
}

/// Waits until `until`; false when told to stop first.
async fn rest_until(until: Instant, stopping: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(until) => true,
        _ = stopping.wait_for(|stop| *stop) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_stop_well_before_the_term_and_leases_are_renewed_several_times_within_it() {
        let timing = Timing::of(TERM);
        assert!(timing.renew * 2 < timing.stop_after);
        assert!(timing.stop_after < timing.term);
        assert!(timing.retry < timing.renew);
        // A job moves when its node dies within the term and one renewal of another node.
        assert!(timing.term + timing.renew <= Duration::from_secs(30));
    }
}
