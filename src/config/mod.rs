//! Settings: the embedded default, a TOML file, `STIXGATE_*` environment variables, in that order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::client::{Connection, Job, RetryPolicy, Task};
use crate::envelope::{IntakeRules, Minting, Shape};
use crate::intelmq::{FieldList, FieldsError};
use crate::mapping::{Tables, TablesError};
use crate::store::DuplicatePolicy;

mod misp;

pub use misp::{GroupBy, MispDistribution, MispFeedSettings, MispSettings, TlpLevel};

/// The embedded default configuration, printed by `stixgate serve --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// `STIXGATE_CONFIG` names the file itself and is read by the command line, not here.
const ENV_PREFIX: &str = "STIXGATE_";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub data: PathBuf,
    pub max_content_length: usize,
    pub log: String,
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

/// IntelMQ's bots that speak neither HTTP nor TAXII to stixgate's routes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelmqSettings {
    /// A listener for IntelMQ's `tcp` output bot; none when absent.
    pub tcp: Option<IntelmqTcpSettings>,
    /// IntelMQ `api` collectors that `serve` pushes new events to.
    #[serde(default)]
    pub push: Vec<IntelmqPushSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelmqTcpSettings {
    pub listen: String,
    /// The collection (id or alias) events are stored into; `intake.collection` when absent.
    pub collection: Option<String>,
    /// What ends each event when the bot sends text (its `separator`, with `counterpart_is_intelmq: false`).
    #[serde(default = "newline")]
    pub separator: String,
}

fn newline() -> String {
    "\n".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelmqPushSettings {
    /// The collector's URL, such as `http://intelmq.example:5000/intelmq/push`.
    pub url: String,
    /// The local collection (id or alias) whose events are pushed; `intake.collection` when absent.
    pub collection: Option<String>,
    /// Seconds between runs.
    pub interval: u64,
    /// The receiver's fields: a JSON file in the form of IntelMQ's `harmonization.conf`; IntelMQ 3.5's
    /// fields when absent.
    pub fields: Option<PathBuf>,
}

/// A push entry's field list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FieldFileError {
    #[error("cannot read the field list {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: FieldsError },
}

impl IntelmqPushSettings {
    /// The local collection, as configured (id or alias).
    pub fn collection<'a>(&'a self, intake_collection: &'a str) -> &'a str {
        self.collection.as_deref().unwrap_or(intake_collection)
    }

    /// The fields the receiver accepts.
    pub fn field_list(&self) -> Result<FieldList, FieldFileError> {
        let Some(path) = &self.fields else {
            return Ok(FieldList::intelmq_35());
        };
        let text = std::fs::read_to_string(path).map_err(|source| FieldFileError::Read {
            path: path.clone(),
            source,
        })?;
        FieldList::parse(&text).map_err(|source| FieldFileError::Invalid {
            path: path.clone(),
            source,
        })
    }
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
pub struct UserSettings {
    pub name: String,
    /// An argon2 PHC string.
    pub password: Option<String>,
    /// SHA-256 digests (hex) of bearer tokens.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// May see the server's operations: `/peers`, and `/metrics` when it is not public.
    #[serde(default)]
    pub admin: bool,
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
pub struct IntakeSettings {
    pub collection: String,
    pub mint: MintMode,
    pub instance: String,
    pub bare_shape: Shape,
    pub duplicate_policy: DuplicatePolicy,
    pub intelmq_values: IntelmqValues,
}

/// How the values of IntelMQ payloads are held to IntelMQ's harmonization at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntelmqValues {
    /// Stored as received; sanitised as IntelMQ would when delivered to it, and left out where it would refuse.
    Lenient,
    /// A value IntelMQ would refuse, or would store differently, refuses the record, with the field named.
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MintMode {
    Uuid4,
    Cycat,
    Hash,
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
    /// Seconds between runs; each wait is drawn between 90 % and 110 % of it.
    pub interval: u64,
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

/// Who is asking: nobody in particular, a configured user, or the command line on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(String),
    /// Whoever holds the admin token of the data directory (`admin.json`): it may read the store's files
    /// anyway, so it may do everything.
    Operator,
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
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// The embedded default, then `file` if given, then `STIXGATE_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
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
        let settings: Settings = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        settings.lift_peer_credentials()
    }

    /// Moves a peer URL's `user:password@` into its `user` and `password`, so that the URL can be shown
    /// (in `/peers`, logs, errors and metric labels) without them.
    fn lift_peer_credentials(mut self) -> Result<Self, ConfigError> {
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

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.max_content_length == 0 {
            return invalid("max_content_length must be greater than 0".into());
        }
        if self.taxii.default_page_size == 0
            || self.taxii.default_page_size > self.taxii.max_page_size
        {
            return invalid(
                "taxii.default_page_size must be between 1 and taxii.max_page_size".into(),
            );
        }
        if self.taxii.status_retention_hours < 24 {
            return invalid(
                "taxii.status_retention_hours must be at least 24 (TAXII 2.1 §4.3)".into(),
            );
        }
        self.validate_users()?;
        if self.intake.mint == MintMode::Cycat && self.intake.instance.trim().is_empty() {
            return invalid(
                "intake.instance must name the instance when intake.mint is \"cycat\"".into(),
            );
        }
        let mut ids = HashSet::new();
        let mut paths = HashSet::new();
        for root in &self.api_roots {
            if root.path.is_empty() || !root.path.split('/').all(is_url_segment) {
                return invalid(format!(
                    "api_roots.path {:?} must be one or more URL segments of [A-Za-z0-9._~-] separated by /",
                    root.path
                ));
            }
            if !paths.insert(root.path.as_str()) {
                return invalid(format!("api_roots.path {:?} is used twice", root.path));
            }
            let mut aliases = HashSet::new();
            for collection in &root.collections {
                if uuid::Uuid::try_parse(&collection.id).is_err() {
                    return invalid(format!("collection id {:?} must be a UUID", collection.id));
                }
                if !ids.insert(collection.id.as_str()) {
                    return invalid(format!("collection id {:?} is used twice", collection.id));
                }
                for name in collection.read.iter().chain(&collection.write) {
                    if name != "*" && !self.users.iter().any(|u| &u.name == name) {
                        return invalid(format!(
                            "collection {:?} names the unknown user {name:?}",
                            collection.id
                        ));
                    }
                }
                if let Some(alias) = &collection.alias {
                    if !is_url_segment(alias) {
                        return invalid(format!(
                            "collection alias {alias:?} must be one URL segment"
                        ));
                    }
                    if !aliases.insert(alias.as_str()) {
                        return invalid(format!(
                            "collection alias {alias:?} is used twice in api root {:?}",
                            root.path
                        ));
                    }
                }
            }
        }
        self.validate_peers()?;
        self.validate_intelmq()?;
        self.validate_misp()?;
        if self.collection(&self.intake.collection).is_none() {
            return invalid(format!(
                "intake.collection {:?} names no collection (by id or alias) of any api root",
                self.intake.collection
            ));
        }
        Ok(())
    }

    fn validate_users(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let mut names = HashSet::new();
        for user in &self.users {
            if user.name.is_empty() || user.name.contains(':') || user.name == "*" {
                return invalid(format!(
                    "user name {:?} must be non-empty, without ':', and not \"*\"",
                    user.name
                ));
            }
            if !names.insert(user.name.as_str()) {
                return invalid(format!("user {:?} is configured twice", user.name));
            }
            if let Some(hash) = &user.password
                && argon2::PasswordHash::new(hash).is_err()
            {
                return invalid(format!(
                    "the password of user {:?} is not an argon2 hash; make one with `stixgate hash-password`",
                    user.name
                ));
            }
            if let Some(bad) = user
                .tokens
                .iter()
                .find(|t| t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return invalid(format!(
                    "token {bad:?} of user {:?} is not a SHA-256 in hex; `stixgate new-token` prints one",
                    user.name
                ));
            }
        }
        Ok(())
    }

    fn validate_peers(&self) -> Result<(), ConfigError> {
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

    fn validate_intelmq(&self) -> Result<(), ConfigError> {
        let unknown =
            |collection: &str| format!("no collection has the id or alias {collection:?}");
        if let Some(tcp) = &self.intelmq.tcp {
            let invalid =
                |message: String| Err(ConfigError::Invalid(format!("intelmq.tcp: {message}")));
            if let Some(collection) = &tcp.collection
                && self.collection(collection).is_none()
            {
                return invalid(unknown(collection));
            }
            if tcp.separator.is_empty() {
                return invalid("separator must not be empty".into());
            }
        }
        let mut entries = HashSet::new();
        for push in &self.intelmq.push {
            let invalid = |message: String| {
                Err(ConfigError::Invalid(format!(
                    "intelmq.push {:?}: {message}",
                    push.url
                )))
            };
            match reqwest::Url::parse(&push.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return invalid("url must be an http:// or https:// URL".into()),
            }
            let collection = push.collection(&self.intake.collection);
            if self.collection(collection).is_none() {
                return invalid(unknown(collection));
            }
            // The entry's cursor is kept under its URL and collection: two such entries would share it.
            if !entries.insert((push.url.as_str(), collection)) {
                return invalid("another entry pushes the same collection to this url".into());
            }
            if push.interval == 0 {
                return invalid("interval must be at least 1 (seconds)".into());
            }
            if let Err(error) = push.field_list() {
                return invalid(error.to_string());
            }
        }
        Ok(())
    }

    /// Whether serving on `listen` would open anonymous writes to the network.
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
    /// Whether `principal` may see the server's operations (`/peers`, a private `/metrics`).
    pub fn is_admin(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Anonymous => false,
            Principal::User(name) => self.users.iter().any(|u| u.admin && &u.name == name),
            Principal::Operator => true,
        }
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

    pub fn intake_rules(&self) -> IntakeRules {
        let minting = match self.intake.mint {
            MintMode::Uuid4 => Minting::Uuid4,
            MintMode::Cycat => Minting::Cycat {
                instance: self.intake.instance.clone(),
            },
            MintMode::Hash => Minting::Hash,
        };
        IntakeRules {
            minting,
            bare_shape: self.intake.bare_shape,
        }
    }
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
    use figment::Jail;

    #[test]
    fn the_embedded_default_loads_and_is_valid() {
        Jail::expect_with(|_| {
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings.listen, "127.0.0.1:8080");
            assert!(settings.collection("intelmq").is_some());
            assert_eq!(settings.intake_rules().minting, Minting::Uuid4);
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
            for (extra, expected) in [
                ("user = \"a\"\n", "a user needs a password"),
                (
                    "collection = \"nope\"\n",
                    "no local collection has the id or alias \"nope\"",
                ),
                ("interval = 0\n", "interval must be at least 1"),
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

    #[test]
    fn intelmq_entries_load_and_their_mistakes_name_the_entry() {
        Jail::expect_with(|jail| {
            let push = |extra: &str| {
                format!(
                    "[[intelmq.push]]\nurl = \"http://q.example:5000/intelmq/push\"\ninterval = 5\n{extra}"
                )
            };
            jail.create_file(
                "good.toml",
                &format!("[intelmq.tcp]\nlisten = \"127.0.0.1:5170\"\n{}", push("")),
            )?;
            let settings = Settings::load(Some(Path::new("good.toml"))).unwrap();
            assert_eq!(settings.intelmq.tcp.unwrap().separator, "\n");
            assert_eq!(settings.intelmq.push.len(), 1);
            assert!(
                Settings::load(None).unwrap().intelmq.tcp.is_none(),
                "off by default"
            );
            jail.create_file(
                "fields.json",
                "{\"event\": {\"Bad Key\": {\"type\": \"String\"}}, \"report\": {}}",
            )?;
            for (text, expected) in [
                (
                    push("interval = 0\n").replace("interval = 5\n", ""),
                    "interval must be at least 1",
                ),
                (
                    push("collection = \"nope\"\n"),
                    "no collection has the id or alias \"nope\"",
                ),
                (
                    push("fields = \"missing.json\"\n"),
                    "cannot read the field list",
                ),
                (push("fields = \"fields.json\"\n"), "is not an IntelMQ key"),
                (
                    push("").replace("http://q.example:5000", "ftp://q"),
                    "http:// or https://",
                ),
                (
                    format!("{}{}", push(""), push("")),
                    "same collection to this url",
                ),
            ] {
                jail.create_file("bad.toml", &text)?;
                let error = Settings::load(Some(Path::new("bad.toml")))
                    .unwrap_err()
                    .to_string();
                assert!(error.contains(expected), "{text}: {error}");
                if !text.contains("ftp://") {
                    assert!(
                        error.contains("intelmq.push \"http://q.example:5000/intelmq/push\""),
                        "{error}"
                    );
                }
            }
            jail.create_file(
                "tcp.toml",
                "[intelmq.tcp]\nlisten = \"127.0.0.1:0\"\ncollection = \"nope\"\n",
            )?;
            let error = Settings::load(Some(Path::new("tcp.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("intelmq.tcp: no collection"), "{error}");
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
