//! A pull or a push as one value: what the command line runs itself, hands to a running server, and what a
//! `[[peer]]` entry runs on its schedule.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::pages::{DEFAULT_PAGE_SIZE, Paging};
use super::{
    ClientError, Connection, Local, Progress, PullSummary, PushSummary, PushTarget, Remote,
    RetryPolicy, parse_url, pull, push,
};
use crate::secret::redacted_url;
use crate::store::CollectionNames;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Task {
    /// Every readable collection behind `url` into the local collection `into` (an id or alias).
    Pull {
        url: String,
        into: String,
        /// Objects asked for per page; [`DEFAULT_PAGE_SIZE`] when absent.
        limit: Option<usize>,
        /// Seconds a stixgate remote may hold a request until new objects arrive (a live `[[peer]]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait: Option<u64>,
    },
    /// The local collection `collection` (an id or alias) to the writable collection behind `url`.
    Push {
        url: String,
        collection: String,
        /// Object types left out, such as `extension-definition` for servers that cannot serve it back.
        #[serde(default)]
        skip_types: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub task: Task,
    pub connection: Connection,
    /// Tries after the first one, for connection errors, 429 and 5xx.
    pub retries: u32,
}

/// What a job keeps from one run to the next, for a live peer that runs it again at every wake-up: the
/// client with its kept-alive connections and, for a push, the remote collection once found. A run that fails
/// leaves nothing kept, so that the next one connects and finds the remote again.
#[derive(Default)]
pub struct Session {
    remote: Option<Remote>,
    push_target: Option<PushTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Pull(PullSummary),
    Push(PushSummary),
}

impl Task {
    /// What the task is called in logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Pull { .. } => "pull",
            Task::Push { .. } => "push",
        }
    }

    /// The remote URL, as it may be logged: without credentials.
    pub fn shown_url(&self) -> String {
        match self {
            Task::Pull { url, .. } | Task::Push { url, .. } => redacted_url(url),
        }
    }
}

impl Exchange {
    /// Checks what can be checked without the network or the store: URL, options, local collection.
    pub fn check(&self, collections: &CollectionNames) -> Result<(), ClientError> {
        self.connection.check()?;
        let (url, local) = match &self.task {
            Task::Pull { url, into, .. } => (url, into),
            Task::Push {
                url, collection, ..
            } => (url, collection),
        };
        parse_url(url)?;
        local_collection(collections, local).map(drop)
    }

    /// Runs the job and logs its summary: one line with its counts.
    pub async fn run(
        &self,
        collections: &CollectionNames,
        local: &Local,
        progress: &dyn Progress,
    ) -> Result<Report, ClientError> {
        self.run_in(&mut Session::default(), collections, local, progress)
            .await
    }

    /// Runs the job with what `session` kept from its last run, and keeps what this run found.
    pub async fn run_in(
        &self,
        session: &mut Session,
        collections: &CollectionNames,
        local: &Local,
        progress: &dyn Progress,
    ) -> Result<Report, ClientError> {
        let started = Instant::now();
        let report = self
            .run_quietly(session, collections, local, progress)
            .await;
        if report.is_err() {
            *session = Session::default();
        }
        let report = report?;
        report.log(&self.task, started.elapsed().as_secs_f64());
        Ok(report)
    }

    async fn run_quietly(
        &self,
        session: &mut Session,
        collections: &CollectionNames,
        local: &Local,
        progress: &dyn Progress,
    ) -> Result<Report, ClientError> {
        let remote = match &session.remote {
            Some(remote) => remote.clone(),
            None => {
                let policy = RetryPolicy {
                    retries: self.retries,
                    ..RetryPolicy::default()
                };
                session
                    .remote
                    .insert(Remote::new(&self.connection, policy)?)
                    .clone()
            }
        };
        match &self.task {
            Task::Pull {
                url,
                into,
                limit,
                wait,
            } => {
                let into = local_collection(collections, into)?;
                let paging = Paging {
                    limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
                    wait: *wait,
                };
                pull(&remote, local, &parse_url(url)?, &into, paging, progress)
                    .await
                    .map(Report::Pull)
            }
            Task::Push {
                url,
                collection,
                skip_types,
            } => {
                let collection = local_collection(collections, collection)?;
                let target = match &session.push_target {
                    Some(target) => target,
                    None => session
                        .push_target
                        .insert(PushTarget::find(&remote, &parse_url(url)?).await?),
                };
                push(&remote, local, target, &collection, skip_types, progress)
                    .await
                    .map(Report::Push)
            }
        }
    }
}

impl Report {
    fn log(&self, task: &Task, seconds: f64) {
        let (job, url) = (task.kind(), task.shown_url());
        match self {
            Report::Pull(s) => tracing::info!(
                job,
                url,
                collections = s.collections,
                objects = s.objects,
                new = s.new_objects,
                envelopes = s.envelopes,
                duplicates = s.duplicates,
                failures = s.failures.len(),
                errors = s.errors.len(),
                seconds,
                "pull finished"
            ),
            Report::Push(s) => tracing::info!(
                job,
                url,
                objects = s.objects,
                accepted = s.succeeded,
                skipped = s.skipped,
                requests = s.requests,
                failures = s.failures.len(),
                seconds,
                "push finished"
            ),
        }
    }

    pub fn succeeded(&self) -> bool {
        match self {
            Report::Pull(summary) => summary.succeeded(),
            Report::Push(summary) => summary.succeeded(),
        }
    }

    /// The summary a person reads: a line of counts, then a line per failure and error.
    pub fn lines(&self) -> Vec<String> {
        let (head, failures, errors) = match self {
            Report::Pull(s) => (
                format!(
                    "pulled from {} collection{}: {}",
                    s.collections,
                    if s.collections == 1 { "" } else { "s" },
                    s.progress_line()
                ),
                &s.failures,
                &s.errors[..],
            ),
            Report::Push(s) => (
                format!("pushed: {}", s.progress_line()),
                &s.failures,
                &[][..],
            ),
        };
        std::iter::once(head)
            .chain(failures.iter().map(|f| format!("failure: {f}")))
            .chain(errors.iter().map(|e| format!("error: {e}")))
            .collect()
    }
}

/// The id of the local collection with this id or alias.
fn local_collection(collections: &CollectionNames, name: &str) -> Result<String, ClientError> {
    collections.id_of(name).map(str::to_owned).ok_or_else(|| {
        ClientError::NoCollection(format!("no local collection has the id or alias {name:?}"))
    })
}
