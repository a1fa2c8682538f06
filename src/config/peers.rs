//! `[[peer]]`: the remote TAXII collections that `serve` exchanges with on a schedule.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Settings};
use crate::client::{Connection, Job, RetryPolicy, Task};

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
    pub fn jobs(&self, intake_collection: &str) -> Vec<Job> {
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
            .map(|task| Job {
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

impl Settings {
    /// Moves a peer URL's `user:password@` into its `user` and `password`, so that the URL can be shown
    /// (in `/peers`, logs, errors and metric labels) without them.
    pub(super) fn lift_peer_credentials(mut self) -> Result<Self, ConfigError> {
        for peer in &mut self.peer {
            crate::secret::lift_url_credentials(
                &mut peer.url,
                &mut peer.user,
                &mut peer.password,
                peer.token.as_deref(),
            )
            .map_err(|problem| ConfigError::Invalid(format!("peer: {problem}")))?;
        }
        Ok(self)
    }

    pub(super) fn validate_peers(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for peer in &self.peer {
            let invalid = |message: String| {
                Err(ConfigError::Invalid(format!(
                    "peer {:?}: {message}",
                    peer.name()
                )))
            };
            if !names.insert(peer.name()) {
                return invalid("the name is used by another peer; give each a `name`".into());
            }
            if peer.interval == 0 {
                return invalid("interval must be at least 1 (seconds)".into());
            }
            for job in peer.jobs(&self.intake.collection) {
                if let Err(error) = job.check(self) {
                    return invalid(error.to_string());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use crate::client::Task;
    use crate::config::Settings;

    #[test]
    fn peers_load_and_their_mistakes_are_named() {
        Jail::expect_with(|jail| {
            let peer = |extra: &str| {
                format!(
                    "[[peer]]\nurl = \"https://b.example/api/collections/x/\"\ndirection = \"both\"\n\
                     interval = 60\n{extra}"
                )
            };
            jail.create_file("good.toml", &peer("user = \"a\"\npassword = \"p\"\n"))?;
            let settings = Settings::load(Some(Path::new("good.toml"))).unwrap();
            let jobs = settings.peer[0].jobs(&settings.intake.collection);
            assert_eq!(jobs.len(), 2, "both: a pull, then a push");
            assert!(matches!(jobs[0].task, Task::Pull { .. }));
            assert_eq!(
                settings.peer[0].name(),
                "https://b.example/api/collections/x/"
            );
            assert!(matches!(jobs[0].task, Task::Pull { wait: None, .. }));
            let live = peer("mode = \"live\"\n").replace("\"both\"", "\"pull\"");
            jail.create_file("live.toml", &live)?;
            let settings = Settings::load(Some(Path::new("live.toml"))).unwrap();
            let jobs = settings.peer[0].jobs(&settings.intake.collection);
            assert!(
                matches!(jobs[0].task, Task::Pull { wait: Some(_), .. }),
                "a live pull asks the remote to wait: {:?}",
                jobs[0].task
            );
            // A live push, and a live pull and push together, load too: the mode does not change the jobs.
            jail.create_file("live-both.toml", &peer("mode = \"live\"\n"))?;
            let settings = Settings::load(Some(Path::new("live-both.toml"))).unwrap();
            let jobs = settings.peer[0].jobs(&settings.intake.collection);
            assert!(matches!(jobs[0].task, Task::Pull { wait: Some(_), .. }));
            assert!(matches!(jobs[1].task, Task::Push { .. }));
            for (extra, expected) in [
                ("user = \"a\"\n", "a user needs a password"),
                (
                    "collection = \"nope\"\n",
                    "no local collection has the id or alias \"nope\"",
                ),
                ("interval = 0\n", "interval must be at least 1"),
                ("mode = \"often\"\n", "often"),
                ("colour = \"red\"\n", "colour"),
            ] {
                let text = peer(extra).replace("interval = 60\ninterval = 0", "interval = 0");
                jail.create_file("bad.toml", &text)?;
                let error = Settings::load(Some(Path::new("bad.toml")))
                    .unwrap_err()
                    .to_string();
                assert!(error.contains(expected), "{extra}: {error}");
            }
            jail.create_file("twice.toml", &format!("{}{}", peer(""), peer("")))?;
            let error = Settings::load(Some(Path::new("twice.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("used by another peer"), "{error}");
            Ok(())
        });
    }
}
