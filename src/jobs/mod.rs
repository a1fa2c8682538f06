//! Background jobs and their supervisor. Every background job implements [`Job`]: the peers' schedules, the
//! IntelMQ pushes and TCP intake, the MISP feeds' maintainer, the envelope maker, and the store's upkeep (the
//! pruning of statuses and the compaction of the embedded store's texts, which live here).
//!
//! Most jobs must run once among all the nodes that share a store ([`Scope::Lease`]): each such job has a lease
//! in the store, named after it. A node runs a job only while it holds the job's lease:
//! its [`keeper`] takes the free and expired leases and renews its own every few seconds, all in one call, and
//! starts or stops the jobs as their leases come and go. A node that dies stops renewing, so its leases expire
//! and the next node to ask takes them; a node that cannot renew (its database went away) stops its jobs before
//! their leases end, so that two nodes never run one job. On sled every lease is always the one process's.
//!
//! A job is stopped by dropping its future, as at shutdown: every job keeps its progress in the store
//! (checkpoints, notes), so the node that takes it over goes on from there.

mod keeper;
mod upkeep;

pub use upkeep::{CompactTexts, PruneStatuses};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{Leases, StoreResult};
use keeper::{Keeper, Timing};

/// A background job, as the [`Supervisor`] runs it.
pub trait Job: Send + Sync + 'static {
    /// What the job is called: the name of its lease, and what `/peers` and the operator page list.
    fn name(&self) -> String;

    /// Where the job runs.
    fn scope(&self) -> Scope {
        Scope::Lease
    }

    /// Runs the job until the future is dropped: when this node loses the job's lease, or stops. A job keeps
    /// its progress in the store (checkpoints, notes), so that the next run, here or on another node, goes on
    /// from there.
    fn run(self: Arc<Self>) -> BoxFuture<'static, ()>;
}

/// Where a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On one node at a time: the one that holds the job's lease (on sled, the one process).
    Lease,
    /// On every node, with no lease: what each node offers by itself, such as a listener.
    EveryNode,
}

/// This node as the leases know it: its id, and where the leases are kept.
#[derive(Clone)]
pub struct Node {
    id: Arc<str>,
    leases: Arc<dyn Leases>,
    /// The names of the jobs this node may run, in the order they were added, with where each runs.
    jobs: Arc<Mutex<Vec<(String, Scope)>>>,
}

/// Who runs a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The id of the node that holds the job's lease.
    pub node: String,
    /// When the lease ends unless renewed (microseconds since the Unix epoch); `None` when leases are not
    /// shared and this process runs every job.
    pub expires: Option<u64>,
}

impl Node {
    /// This node, named `id` or, without one, by its host name, process id and a random part (unique among
    /// the nodes, and across restarts).
    pub fn new(id: Option<&str>, leases: Arc<dyn Leases>) -> Self {
        let id = id.map_or_else(made_id, str::to_owned);
        Self {
            id: id.into(),
            leases,
            jobs: Arc::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every job this node may run, with who runs it now (`None`: no node holds its lease), as
    /// [`Node::holders`] says. Blocks: call it off the async threads.
    pub fn roster(&self) -> StoreResult<Vec<(String, Option<Holder>)>> {
        let jobs = self.jobs.lock().expect("no panics under this lock").clone();
        let leased: Vec<String> = jobs
            .iter()
            .filter(|(_, scope)| *scope == Scope::Lease)
            .map(|(job, _)| job.clone())
            .collect();
        let mut holders = self.holders(&leased)?;
        Ok(jobs
            .into_iter()
            .map(|(job, scope)| {
                let holder = match scope {
                    Scope::Lease => holders.remove(&job),
                    Scope::EveryNode => Some(Holder {
                        node: self.id.to_string(),
                        expires: None,
                    }),
                };
                (job, holder)
            })
            .collect())
    }

    /// Who holds the leases of `jobs` now, as the store says, so that every node answers the same; a job
    /// that no node holds is left out. Blocks: call it off the async threads.
    pub fn holders(&self, jobs: &[String]) -> StoreResult<HashMap<String, Holder>> {
        Ok(match self.leases.holders(jobs)? {
            Some(leases) => leases
                .into_iter()
                .map(|lease| {
                    let holder = Holder {
                        node: lease.holder,
                        expires: Some(lease.expires),
                    };
                    (lease.job, holder)
                })
                .collect(),
            None => jobs
                .iter()
                .map(|job| {
                    let holder = Holder {
                        node: self.id.to_string(),
                        expires: None,
                    };
                    (job.clone(), holder)
                })
                .collect(),
        })
    }
}

fn made_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "stixgate".into());
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

type JobFuture = BoxFuture<'static, ()>;

/// The supervisor of this node's jobs: each runs while the node holds its lease, or all the time for a job
/// of every node.
pub struct Supervisor {
    node: Node,
    /// The leased jobs, with whether this node holds each one's lease.
    jobs: Vec<(String, watch::Sender<bool>)>,
    supervisors: Vec<JobFuture>,
}

/// The running jobs and their keeper, to stop at shutdown.
pub struct Running {
    node: Node,
    supervisors: Vec<JoinHandle<()>>,
    keeper: Option<JoinHandle<()>>,
    stopping: watch::Sender<bool>,
}

impl Supervisor {
    pub fn new(node: Node) -> Self {
        Self {
            node,
            jobs: Vec::new(),
            supervisors: Vec::new(),
        }
    }

    /// Runs `job` where its [`Scope`] says: a leased job whenever this node holds its lease (dropped when the
    /// lease is lost, started again when it comes back), a job of every node from the start.
    pub fn add(&mut self, job: Arc<dyn Job>) {
        let (name, scope) = (job.name(), job.scope());
        self.node
            .jobs
            .lock()
            .expect("no panics under this lock")
            .push((name.clone(), scope));
        if scope == Scope::EveryNode {
            self.supervisors.push(job.run());
            return;
        }
        let start = move || Arc::clone(&job).run();
        let (held, mut seen) = watch::channel(false);
        let (job, node) = (name.clone(), self.node.id.clone());
        let shared = self.node.leases.shared();
        self.supervisors.push(Box::pin(async move {
            loop {
                if seen.wait_for(|held| *held).await.is_err() {
                    return;
                }
                if shared {
                    tracing::info!(job, node = &*node, "this node holds the job's lease: the job runs here");
                } else {
                    tracing::info!(job, "the job runs here");
                }
                tokio::select! {
                    () = start() => return,
                    lost = seen.wait_for(|held| !*held) => {
                        if lost.is_err() {
                            return;
                        }
                        tracing::warn!(job, node = &*node, "this node no longer holds the job's lease: the job stopped here");
                    }
                }
            }
        }));
        self.jobs.push((name, held));
    }

    /// Starts the keeper of the leases and the jobs' supervisors.
    pub fn start(self) -> Running {
        if self.node.leases.shared() {
            tracing::info!(
                node = self.node.id(),
                jobs = self.jobs.len(),
                "this node's id in the leases of background jobs"
            );
        } else {
            tracing::info!(
                jobs = self.jobs.len(),
                "every background job runs in this process: no other process shares its store"
            );
        }
        let supervisors = self.supervisors.into_iter().map(tokio::spawn).collect();
        let (stopping, stop_seen) = watch::channel(false);
        let keeper = (!self.jobs.is_empty()).then(|| {
            let keeper = Keeper::new(self.node.clone(), self.jobs, Timing::configured());
            tokio::spawn(keeper.keep(stop_seen))
        });
        Running {
            node: self.node,
            supervisors,
            keeper,
            stopping,
        }
    }
}

impl Running {
    /// Stops every job and gives up this node's leases, so that other nodes take the jobs over at once.
    pub async fn stop(self) {
        for task in &self.supervisors {
            task.abort();
        }
        for task in self.supervisors {
            let _ = task.await;
        }
        if let Some(mut keeper) = self.keeper {
            self.stopping.send_replace(true);
            if tokio::time::timeout(RELEASE_PATIENCE, &mut keeper)
                .await
                .is_err()
            {
                keeper.abort();
            }
        }
        let node = self.node;
        let release = tokio::task::spawn_blocking(move || node.leases.release(&node.id));
        match tokio::time::timeout(RELEASE_PATIENCE, release).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "could not give up this node's job leases; they expire on their own");
            }
            _ => tracing::warn!(
                "giving up this node's job leases took too long; they expire on their own"
            ),
        }
    }
}

/// How long a stopping node waits for a renewal under way, and then tries to give up its leases.
const RELEASE_PATIENCE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::FutureExt;
    use tokio::sync::mpsc;

    use super::*;
    use crate::store::Unshared;

    /// A job that says when it starts, and marks when its run is dropped.
    struct Probe {
        name: &'static str,
        scope: Scope,
        started: mpsc::UnboundedSender<&'static str>,
        dropped: Arc<AtomicBool>,
    }

    struct MarkOnDrop(Arc<AtomicBool>);

    impl Drop for MarkOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Job for Probe {
        fn name(&self) -> String {
            self.name.into()
        }

        fn scope(&self) -> Scope {
            self.scope
        }

        fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
            async move {
                let _mark = MarkOnDrop(Arc::clone(&self.dropped));
                let _ = self.started.send(self.name);
                std::future::pending::<()>().await;
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn the_supervisor_runs_leased_jobs_and_jobs_of_every_node_lists_both_and_stops_them() {
        let node = Node::new(Some("n1"), Arc::new(Unshared));
        let mut supervisor = Supervisor::new(node.clone());
        let (started, mut seen) = mpsc::unbounded_channel();
        let dropped: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::default()).collect();
        for (name, scope, dropped) in [
            ("leased", Scope::Lease, &dropped[0]),
            ("listener", Scope::EveryNode, &dropped[1]),
        ] {
            supervisor.add(Arc::new(Probe {
                name,
                scope,
                started: started.clone(),
                dropped: Arc::clone(dropped),
            }));
        }
        let running = supervisor.start();
        let mut names = Vec::new();
        for _ in 0..2 {
            let name = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
            names.push(name.expect("both jobs start").unwrap());
        }
        names.sort_unstable();
        assert_eq!(names, ["leased", "listener"]);
        let roster = node.roster().unwrap();
        let listed: Vec<(&str, Option<&str>)> = roster
            .iter()
            .map(|(job, holder)| (job.as_str(), holder.as_ref().map(|h| h.node.as_str())))
            .collect();
        assert_eq!(
            listed,
            [("leased", Some("n1")), ("listener", Some("n1"))],
            "in the order added, each run by this node"
        );
        running.stop().await;
        assert!(dropped.iter().all(|d| d.load(Ordering::SeqCst)), "stopped");
    }
}
