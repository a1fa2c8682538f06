//! `[[peer]]`: the remote TAXII collections that `serve` exchanges with on a schedule.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Connection, Exchange, RetryPolicy, Task};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    /// What the status endpoint and the metrics call it; the URL when absent.
    pub name: Option<String>,
    /// The remote collection (for a push), or a discovery URL, API root or collection (for a pull).
    pub url: String,
    /// The local collection (id or alias); `intake.collection` when absent.
    pub collection: Option<String>,
    pub direction: PeerDirection,
    /// Seconds between runs; each wait is drawn between 90 % and 110 % of it. A live peer polls at this
    /// interval only when the remote does not offer the live extension.
    pub interval: u64,
    #[serde(default)]
    pub mode: PeerMode,
    /// Object types not pushed.
    #[serde(default)]
    pub skip_types: Vec<String>,
    /// Objects asked for per page when pulling.
    pub page_size: Option<usize>,
    /// Tries after the first one, for connection errors, 429 and 5xx.
    pub retries: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerDirection {
    Pull,
    Push,
    Both,
}

/// When a peer's jobs run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerMode {
    /// A run every `interval`: the pull, then the push.
    #[default]
    Poll,
    /// The pull and the push each on their own: the pull runs again as soon as it ends, each page request
    /// held by a stixgate remote until objects arrive; the push runs whenever objects are stored here.
    Live,
}

/// What a live peer asks a remote to wait: under the server's cap of 60 s and the idle timeouts of proxies in
/// between, so that an idle follow is one request every half minute.
pub const LIVE_WAIT_SECONDS: u64 = 30;

impl PeerSettings {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// The jobs of one run, in order: the pull before the push, so that a push does not send back at once
    /// what the pull just brought.
    pub fn exchanges(&self, intake_collection: &str) -> Vec<Exchange> {
        let local = self.collection.as_deref().unwrap_or(intake_collection);
        let pull = Task::Pull {
            url: self.url.clone(),
            into: local.to_owned(),
            limit: self.page_size,
            wait: (self.mode == PeerMode::Live).then_some(LIVE_WAIT_SECONDS),
        };
        let push = Task::Push {
            url: self.url.clone(),
            collection: local.to_owned(),
            skip_types: self.skip_types.clone(),
        };
        let tasks = match self.direction {
            PeerDirection::Pull => vec![pull],
            PeerDirection::Push => vec![push],
            PeerDirection::Both => vec![pull, push],
        };
        tasks
            .into_iter()
            .map(|task| Exchange {
                task,
                connection: self.connection(),
                retries: self.retries.unwrap_or(RetryPolicy::default().retries),
            })
            .collect()
    }

    fn connection(&self) -> Connection {
        Connection {
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            ca: self.ca.clone(),
            proxy: self.proxy.clone(),
        }
    }
}
