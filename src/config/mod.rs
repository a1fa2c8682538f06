//! Settings: the embedded default, a TOML file, `STIXGATE_*` environment variables, in that order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::federation::PeerSettings;
use crate::ingest::{IntakeSettings, MintMode};
use crate::intelmq::IntelmqSettings;
use crate::logging::LogFormat;
use crate::mapping::{Tables, TablesError};
use crate::misp::MispSettings;
use crate::store::{CollectionNames, StoreSettings};

mod effective;
mod errors;
mod intelmq;
mod misp;
mod peers;
mod place;
mod proxies;
mod public_url;
mod users;

pub use effective::{REDACTED, effective};
pub use proxies::{AddressBlock, client_address, is_trusted_proxy};
pub use public_url::{PublicUrl, is_host_and_port};
pub use users::{Principal, UserSettings};

/// The embedded default configuration, printed by `stixgate serve --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// `STIXGATE_CONFIG` names the file itself, and `STIXGATE_PASSWORD` and `STIXGATE_TOKEN` are the credentials
/// of `pull` and `push`: the command line reads them, not here.
const ENV_PREFIX: &str = "STIXGATE_";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub data: PathBuf,
    /// Which engine keeps the data: sled in `data`, or a PostgreSQL database shared by several nodes.
    pub store: StoreSettings,
    pub max_content_length: usize,
    /// Seconds a request body may stall (no bytes arriving) before the request is answered 408.
    pub body_timeout: u64,
    pub log: String,
    pub log_format: LogFormat,
    /// Seconds that requests in flight get to finish after SIGTERM (long polls and streams end at once).
    pub shutdown_timeout: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client; it is ignored from anyone else.
    pub trusted_proxies: Vec<AddressBlock>,
    /// The address clients reach this server at, for the absolute URLs of discovery and the operator page;
    /// when unset, the request's own (`Host`, or a trusted proxy's headers).
    pub public_url: Option<PublicUrl>,
    pub tls: Option<TlsSettings>,
    /// A directory whose `intelmq-stix.toml` replaces the embedded mapping tables.
    pub mapping_dir: Option<PathBuf>,
    pub users: Vec<UserSettings>,
    pub taxii: TaxiiSettings,
    pub intake: IntakeSettings,
    pub api_roots: Vec<ApiRootSettings>,
    /// Remote TAXII collections that `serve` pulls from or pushes to on a schedule.
    pub peer: Vec<PeerSettings>,
    pub intelmq: IntelmqSettings,
    pub misp: MispSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether `/metrics` answers anonymous requests; when false, only admins may read it.
    pub public: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiSettings {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default_page_size: usize,
    pub max_page_size: usize,
    pub status_retention_hours: u64,
    pub allow_public_anonymous_write: bool,
    pub envelopes_from_posts: PostedEnvelopes,
}

/// Which objects of a TAXII POST also become envelopes, through the reverse mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostedEnvelopes {
    /// Carriers give their exact envelope; foreign indicators and observed-data an IntelMQ envelope.
    All,
    /// Carriers only: the envelopes of other stixgate instances, as federation needs.
    Carriers,
    /// None: objects are stored and served, no envelope is made.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRootSettings {
    pub path: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(default)]
    pub collections: Vec<CollectionSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSettings {
    pub id: String,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub anonymous_read: bool,
    #[serde(default)]
    pub anonymous_write: bool,
}

/// What a principal may do with a collection (TAXII `can_read` / `can_write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

impl Access {
    /// A collection one may neither read nor write is hidden: it answers 404.
    pub fn visible(self) -> bool {
        self.read || self.write
    }
}

impl CollectionSettings {
    pub fn access(&self, principal: &Principal) -> Access {
        let listed = |names: &[String], name: &str| names.iter().any(|n| n == "*" || n == name);
        match principal {
            Principal::Anonymous => Access {
                read: self.anonymous_read,
                write: self.anonymous_write,
            },
            Principal::User(name) => Access {
                read: self.anonymous_read || listed(&self.read, name),
                write: self.anonymous_write || listed(&self.write, name),
            },
            Principal::Operator => Access {
                read: true,
                write: true,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// What is wrong, said where it is written: `file:line:column: ...`, or the environment variable.
    #[error("configuration: {0}")]
    Reported(String),
    #[error("configuration: {0}")]
    Invalid(String),
    /// What a check after loading refuses, with the key whose value it refuses, as TOML writes it
    /// (`peer[0].interval`), so that the report can say where that value is written.
    #[error("configuration: {message}")]
    InvalidKey { key: String, message: String },
}

impl ConfigError {
    pub(super) fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::InvalidKey {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Settings {
    /// The embedded default, then `file` if given, then `STIXGATE_*` variables.
    /// An error names where the mistake is written: the file's line and column, or the environment variable.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let settings: Settings = extracted(file)?;
        settings
            .validate()
            .map_err(|error| errors::refused(error, file))?;
        settings
            .lift_peer_credentials()
            .map_err(|error| errors::refused(error, file))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let invalid_at = |key: &str, message: String| Err(ConfigError::at(key, message));
        if self.max_content_length == 0 {
            return invalid_at(
                "max_content_length",
                "max_content_length must be greater than 0".into(),
            );
        }
        if !(1..=3600).contains(&self.shutdown_timeout) {
            return invalid_at(
                "shutdown_timeout",
                "shutdown_timeout must be between 1 and 3600 seconds".into(),
            );
        }
        if self.body_timeout == 0 {
            return invalid_at(
                "body_timeout",
                "body_timeout must be at least 1 (seconds)".into(),
            );
        }
        if let Err(error) = self.store.check() {
            return invalid(error.to_string());
        }
        if self.taxii.default_page_size == 0
            || self.taxii.default_page_size > self.taxii.max_page_size
        {
            return invalid_at(
                "taxii.default_page_size",
                "taxii.default_page_size must be between 1 and taxii.max_page_size".into(),
            );
        }
        if self.taxii.status_retention_hours < 24 {
            return invalid_at(
                "taxii.status_retention_hours",
                "taxii.status_retention_hours must be at least 24 (TAXII 2.1 §4.3)".into(),
            );
        }
        self.validate_users()?;
        if self.intake.mint == MintMode::Cycat && self.intake.instance.trim().is_empty() {
            return invalid_at(
                "intake.instance",
                "intake.instance must name the instance when intake.mint is \"cycat\"".into(),
            );
        }
        let mut ids = HashSet::new();
        let mut paths = HashSet::new();
        for (root_index, root) in self.api_roots.iter().enumerate() {
            let path = format!("api_roots[{root_index}].path");
            if root.path.is_empty() || !root.path.split('/').all(is_url_segment) {
                return invalid_at(
                    &path,
                    format!(
                        "api_roots.path {:?} must be one or more URL segments of [A-Za-z0-9._~-] separated by /",
                        root.path
                    ),
                );
            }
            if !paths.insert(root.path.as_str()) {
                return invalid_at(
                    &path,
                    format!("api_roots.path {:?} is used twice", root.path),
                );
            }
            let mut aliases = HashSet::new();
            for (collection_index, collection) in root.collections.iter().enumerate() {
                let key = |name: &str| {
                    format!("api_roots[{root_index}].collections[{collection_index}].{name}")
                };
                if uuid::Uuid::try_parse(&collection.id).is_err() {
                    return invalid_at(
                        &key("id"),
                        format!("collection id {:?} must be a UUID", collection.id),
                    );
                }
                if !ids.insert(collection.id.as_str()) {
                    return invalid_at(
                        &key("id"),
                        format!("collection id {:?} is used twice", collection.id),
                    );
                }
                let lists = [("read", &collection.read), ("write", &collection.write)];
                for (list, name) in lists
                    .iter()
                    .flat_map(|(list, names)| names.iter().map(move |n| (list, n)))
                {
                    if name != "*" && !self.users.iter().any(|u| &u.name == name) {
                        return invalid_at(
                            &key(list),
                            format!(
                                "collection {:?} names the unknown user {name:?}",
                                collection.id
                            ),
                        );
                    }
                }
                if let Some(alias) = &collection.alias {
                    if !is_url_segment(alias) {
                        return invalid_at(
                            &key("alias"),
                            format!("collection alias {alias:?} must be one URL segment"),
                        );
                    }
                    if !aliases.insert(alias.as_str()) {
                        return invalid_at(
                            &key("alias"),
                            format!(
                                "collection alias {alias:?} is used twice in api root {:?}",
                                root.path
                            ),
                        );
                    }
                }
            }
        }
        self.validate_peers()?;
        self.validate_intelmq()?;
        self.validate_misp()?;
        if self.collection(&self.intake.collection).is_none() {
            return invalid_at(
                "intake.collection",
                format!(
                    "intake.collection {:?} names no collection (by id or alias) of any api root; an [[api_roots]] \
                 list in a file replaces the default's, with its collections",
                    self.intake.collection
                ),
            );
        }
        Ok(())
    }

    pub fn public_anonymous_write(&self) -> Option<String> {
        let loopback = self
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or_else(|_| self.listen.starts_with("localhost:"));
        if loopback || self.taxii.allow_public_anonymous_write {
            return None;
        }
        let open = self
            .api_roots
            .iter()
            .flat_map(|r| &r.collections)
            .find(|c| c.anonymous_write)?;
        Some(format!(
            "refusing to listen on {} with anonymous writes allowed on collection {:?}: anyone on the network \
             could write. Set anonymous_write = false on it, or taxii.allow_public_anonymous_write = true to \
             force it",
            self.listen, open.id
        ))
    }

    /// The collection with this id, or with this alias in any API root.
    /// Every collection's id and alias, for the rooms that take names of collections but not the whole
    /// configuration.
    pub fn collection_names(&self) -> CollectionNames {
        let all = self.api_roots.iter().flat_map(|root| &root.collections);
        CollectionNames::new(all.map(|c| (c.id.clone(), c.alias.clone())))
    }

    pub fn collection(&self, id_or_alias: &str) -> Option<&CollectionSettings> {
        let all = || self.api_roots.iter().flat_map(|root| &root.collections);
        all()
            .find(|c| c.id == id_or_alias)
            .or_else(|| all().find(|c| c.alias.as_deref() == Some(id_or_alias)))
    }

    /// The mapping tables: from `mapping_dir` when set, else the embedded ones.
    pub fn mapping_tables(&self) -> Result<Tables, TablesError> {
        match &self.mapping_dir {
            Some(dir) => Tables::load(dir),
            None => Ok(Tables::embedded()),
        }
    }
}

/// The layers merged, not yet read into [`Settings`]. A table in a higher layer is merged key by key into the
/// one below; a list (`[[api_roots]]`, `[[users]]`, `[[peer]]`, ...) replaces the one below as a whole.
fn layers(file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
    if let Some(file) = file {
        if !file.is_file() {
            return Err(ConfigError::Invalid(format!(
                "the configuration file {} does not exist",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    Ok(figment.merge(
        Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&["config", "password", "token"]),
    ))
}

/// The layers read into `T`, or what is wrong with them in the operator's words.
fn extracted<T: serde::de::DeserializeOwned>(file: Option<&Path>) -> Result<T, ConfigError> {
    let layers = layers(file)?;
    let read_again = |again: &Figment| again.extract::<T>().err();
    layers
        .extract()
        .map_err(|error| errors::not_loaded(error, file, &layers, &read_again))
}

pub(crate) fn is_url_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use crate::envelope::{Minting, Shape};
    use crate::store::DuplicatePolicy;
    use figment::Jail;

    #[test]
    fn the_embedded_default_loads_and_is_valid() {
        Jail::expect_with(|_| {
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings.listen, "127.0.0.1:8080");
            assert!(settings.collection("intelmq").is_some());
            assert_eq!(settings.intake.rules().minting, Minting::Uuid4);
            Ok(())
        });
    }

    #[test]
    fn a_file_and_environment_variables_override_the_default() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "listen = \"127.0.0.1:9000\"\n[intake]\nmint = \"cycat\"\n",
            )?;
            jail.set_env("STIXGATE_DATA", "/tmp/elsewhere");
            jail.set_env("STIXGATE_INTAKE__BARE_SHAPE", "decided");
            let settings = Settings::load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(settings.listen, "127.0.0.1:9000");
            assert_eq!(settings.data, PathBuf::from("/tmp/elsewhere"));
            assert_eq!(settings.intake.bare_shape, Shape::Decided);
            assert_eq!(settings.intake.mint, MintMode::Cycat);
            assert_eq!(settings.intake.duplicate_policy, DuplicatePolicy::KeepFirst);
            Ok(())
        });
    }

    #[test]
    fn mistakes_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "lisen = \"x\"\n")?;
            let error = Settings::load(Some(Path::new("typo.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("lisen"), "{error}");
            jail.create_file("bad.toml", "[intake]\ncollection = \"nope\"\n")?;
            let error = Settings::load(Some(Path::new("bad.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("\"nope\" names no collection"), "{error}");
            let error = Settings::load(Some(Path::new("missing.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("does not exist"), "{error}");
            Ok(())
        });
    }
}
