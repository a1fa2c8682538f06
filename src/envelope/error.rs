use super::id::IdError;
use crate::quote::{cut, shown};

/// Why one record (one envelope or bare event) was refused. Each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {}", cut(.0))]
    InvalidJson(String),
    #[error("duplicate key {} in {}", shown(key), cut(location))]
    DuplicateKey { key: String, location: String },
    #[error("the input holds no records")]
    Empty,
    #[error("the record is not a JSON object")]
    NotAnObject,
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("field `{field}` {problem}")]
    BadId {
        field: &'static str,
        problem: IdError,
    },
    #[error("payload key {} breaks IntelMQ's key grammar ^[a-z_][a-z_0-9]+(\\.[a-z_0-9]+)*$", shown(.0))]
    BadPayloadKey(String),
    #[error("field `raw` is not valid base64: {0}")]
    BadRaw(String),
    #[error("field `__type` must be \"Event\" or \"Report\", not {}", shown(.0))]
    BadMessageType(String),
    #[error(
        "the record is {0}, not an IEP04 envelope or IntelMQ event; POST it to a TAXII collection's objects endpoint"
    )]
    Stix(StixContent),
    #[error(
        "the record has no IntelMQ field: {0}; a bare event needs at least one IntelMQ 3.5 field such as \"source.ip\" or an \"extra.\" key"
    )]
    NoIntelmqField(String),
    #[error("{0}")]
    FlatTooLarge(#[from] crate::envelope::intelmq::TooLarge),
}

/// STIX or TAXII content, which the TAXII endpoints take and the envelope routes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StixContent {
    Bundle,
    TaxiiEnvelope,
}

impl std::fmt::Display for StixContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StixContent::Bundle => "a STIX bundle",
            StixContent::TaxiiEnvelope => "a TAXII envelope",
        })
    }
}

/// A [`RecordError`] with the line of the input where the record starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LocatedError {
    pub line: usize,
    pub error: RecordError,
}
