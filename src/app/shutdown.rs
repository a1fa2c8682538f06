//! Stopping within a bound: every stage of the shutdown has its own patience, and a watchdog thread ends the
//! process if the whole shutdown takes longer than its bound, whatever is stuck.
//!
//! Exiting before a stage is done loses nothing acknowledged: a write is acknowledged only once it is durable.
//! What is cut short is what was not acknowledged yet (a request in flight, a job's run, which resumes from its
//! checkpoint at the next start).

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Time past `shutdown_timeout` that the stages after the HTTP drain get (jobs, writer, flush), each.
const STAGE_PATIENCE: Duration = Duration::from_secs(5);

/// Time past `shutdown_timeout` after which the watchdog ends the process. Longer than the drain and every
/// later stage's patience together, so that a shutdown that finishes on its own is never cut short.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(25);

/// The stages of one shutdown, with the stage under way for the watchdog to name.
pub(super) struct Shutdown {
    drain: Duration,
    stage: Arc<Mutex<&'static str>>,
    /// Held until the shutdown ends: its drop tells the watchdog to stand down.
    _done: mpsc::Sender<()>,
}

impl Shutdown {
    /// Starts the watchdog, which ends the process unless this shutdown is dropped (done) within its bound;
    /// `drain` is how long requests in flight get (`shutdown_timeout`).
    pub(super) fn begin(drain: Duration) -> Self {
        let stage = Arc::new(Mutex::new("starting to stop"));
        let watched = Arc::clone(&stage);
        let bound = drain + WATCHDOG_MARGIN;
        let (done, finished) = mpsc::channel::<()>();
        let started = thread::Builder::new()
            .name("shutdown watchdog".into())
            .spawn(move || {
                // Dropping `done` (the shutdown ended) wakes this with `Disconnected`.
                if finished.recv_timeout(bound) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let stage = *watched.lock().unwrap_or_else(|e| e.into_inner());
                tracing::error!(
                    stage,
                    "the shutdown did not finish within {bound:?}; exiting anyway (everything acknowledged is on disk)"
                );
                crate::logging::flush();
                std::process::exit(1);
            });
        if let Err(error) = started {
            tracing::warn!(%error, "no shutdown watchdog: the shutdown has no bound of its own");
        }
        Self {
            drain,
            stage,
            _done: done,
        }
    }

    /// Lets a server's requests in flight finish: actix gives them `drain`, and this a little more, so that
    /// actix's own drain ends first.
    pub(super) async fn drain(&self, what: &'static str, stop: impl Future<Output = ()>) -> bool {
        self.run(what, self.drain + Duration::from_secs(2), stop)
            .await
    }

    /// Runs a later part of the shutdown, giving up on it after [`STAGE_PATIENCE`].
    pub(super) async fn stage(&self, what: &'static str, stop: impl Future<Output = ()>) -> bool {
        self.run(what, STAGE_PATIENCE, stop).await
    }

    /// Whatever happens to one stage, the stages after it (the writer finishing and flushing what was
    /// acknowledged) still run. Returns whether it finished.
    async fn run(
        &self,
        what: &'static str,
        patience: Duration,
        stop: impl Future<Output = ()>,
    ) -> bool {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = what;
        let finished = tokio::time::timeout(patience, stop).await.is_ok();
        if !finished {
            tracing::warn!(
                stage = what,
                "did not finish within {patience:?}; going on with the shutdown without it"
            );
        }
        finished
    }
}
