//! Federation with other TAXII 2.1 servers. The client: `pull` copies remote collections into the store, `push`
//! sends a local collection to a remote one; the command line, the `[[peer]]` schedules of `serve` and its
//! admin endpoint all run these as [`Exchange`]s. The peers: their settings, their schedules (one
//! [`PeerJob`] each) and their state ([`Peers`]).
//!
//! Both keep a checkpoint per remote collection in the store's notes, written in the same durable write as
//! the data it covers, so that an interrupted run resumes where it stopped.

mod checkpoint;
mod connection;
mod discover;
mod error;
mod exchange;
mod pages;
mod pull;
mod push;
mod remote;
mod retry;
mod schedule;
mod settings;
mod status;

pub use checkpoint::{Provenance, read_provenance};
pub use connection::{Auth, Connection};
pub use discover::{RemoteCollection, parse_url, resolve};
pub use error::ClientError;
pub use exchange::{Exchange, Report, Session, Task};
pub use pages::Paging;
pub use pull::{PullSummary, pull};
pub use push::{PushSummary, PushTarget, push};
pub use remote::Remote;
pub use retry::RetryPolicy;
pub use schedule::{PeerJob, lease_name};
pub use settings::{PeerDirection, PeerMode, PeerSettings};
pub use status::{PeerState, Peers};

use std::sync::Arc;

use crate::store::{Store, Writer};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("stixgate/", env!("CARGO_PKG_VERSION"));

/// The local side of a job: the store to read from and the writer to write through.
#[derive(Clone)]
pub struct Local {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
}

/// What a job reports as it goes, for a progress bar: called after every page or batch with the totals so far.
pub trait Progress: Send + Sync {
    fn update(&self, message: &str);
}

/// Progress that nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: &str) {}
}
