//! Leases of background jobs: which node runs a job that must run once among all the nodes on one store.
//!
//! An engine that several processes share (PostgreSQL) keeps them in the database, with expiries from its
//! clock; an engine that one process owns (sled) needs none, so every lease is that process's for ever.

use std::time::Duration;

use super::StoreResult;

/// Who holds a job's lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job: String,
    /// The id of the node that holds it.
    pub holder: String,
    /// When it ends unless renewed, in microseconds since the Unix epoch, by the store's clock.
    pub expires: u64,
}

/// The leases of background jobs, kept where every node sees them.
pub trait Leases: Send + Sync {
    /// Takes, for `node` and for `term`, the leases of those of `jobs` that are free, expired or held by
    /// `node` already (then they are renewed), all at once; returns the jobs whose lease `node` holds now.
    fn take(&self, node: &str, jobs: &[String], term: Duration) -> StoreResult<Vec<String>>;

    /// Gives up every lease `node` holds, so that other nodes need not wait for them to expire.
    fn release(&self, node: &str) -> StoreResult<()>;

    /// The leases of `jobs` held now; `None` when leases are not shared (one process runs every job).
    fn holders(&self, jobs: &[String]) -> StoreResult<Option<Vec<Lease>>>;

    /// Whether several processes share these leases; when not, one process runs every job and no lease is
    /// ever given up or taken over, so there is nothing to tell about them.
    fn shared(&self) -> bool;
}

/// The leases of a store that one process owns: it holds all of them.
pub struct Unshared;

impl Leases for Unshared {
    fn take(&self, _node: &str, jobs: &[String], _term: Duration) -> StoreResult<Vec<String>> {
        Ok(jobs.to_vec())
    }

    fn release(&self, _node: &str) -> StoreResult<()> {
        Ok(())
    }

    fn holders(&self, _jobs: &[String]) -> StoreResult<Option<Vec<Lease>>> {
        Ok(None)
    }

    fn shared(&self) -> bool {
        false
    }
}
