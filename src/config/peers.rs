//! `[[peer]]` as a whole configuration sees it: credentials lifted out of URLs, unique names, and each peer's
//! jobs checked against the local collections.

use std::collections::HashSet;

use super::{ConfigError, Settings};

impl Settings {
    /// Moves a peer URL's `user:password@` into its `user` and `password`, so that the URL can be shown
    /// (in `/peers`, logs, errors and metric labels) without them.
    pub(super) fn lift_peer_credentials(mut self) -> Result<Self, ConfigError> {
        for (index, peer) in self.peer.iter_mut().enumerate() {
            crate::secret::lift_url_credentials(
                &mut peer.url,
                &mut peer.user,
                &mut peer.password,
                peer.token.as_deref(),
            )
            .map_err(|problem| {
                ConfigError::at(format!("peer[{index}].url"), format!("peer: {problem}"))
            })?;
        }
        Ok(self)
    }

    pub(super) fn validate_peers(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (index, peer) in self.peer.iter().enumerate() {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::at(
                    format!("peer[{index}]{key}"),
                    format!("peer {:?}: {message}", peer.name()),
                ))
            };
            if !names.insert(peer.name()) {
                return invalid(
                    ".name",
                    "the name is used by another peer; give each a `name`".into(),
                );
            }
            if peer.interval == 0 {
                return invalid(".interval", "interval must be at least 1 (seconds)".into());
            }
            for job in peer.exchanges(&self.intake.collection) {
                if let Err(error) = job.check(&self.collection_names()) {
                    return invalid("", error.to_string());
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

    use crate::config::Settings;
    use crate::federation::Task;

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
            let jobs = settings.peer[0].exchanges(&settings.intake.collection);
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
            let jobs = settings.peer[0].exchanges(&settings.intake.collection);
            assert!(
                matches!(jobs[0].task, Task::Pull { wait: Some(_), .. }),
                "a live pull asks the remote to wait: {:?}",
                jobs[0].task
            );
            // A live push, and a live pull and push together, load too: the mode does not change the jobs.
            jail.create_file("live-both.toml", &peer("mode = \"live\"\n"))?;
            let settings = Settings::load(Some(Path::new("live-both.toml"))).unwrap();
            let jobs = settings.peer[0].exchanges(&settings.intake.collection);
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
