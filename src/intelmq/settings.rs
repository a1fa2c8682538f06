//! `[intelmq]`: the IntelMQ bots that speak neither HTTP nor TAXII to stixgate's routes.

use std::path::PathBuf;

use serde::Deserialize;

use crate::envelope::intelmq::{FieldList, FieldsError};

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
