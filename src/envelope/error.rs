use super::id::IdError;

/// Why one record (one envelope or bare event) was refused. Each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("duplicate key {key:?} in {location}")]
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
    #[error("payload key {0:?} breaks IntelMQ's key grammar ^[a-z_][a-z_0-9]+(\\.[a-z_0-9]+)*$")]
    BadPayloadKey(String),
    #[error("field `raw` is not valid base64: {0}")]
    BadRaw(String),
    #[error("field `__type` must be \"Event\" or \"Report\", not {0:?}")]
    BadMessageType(String),
}

/// A [`RecordError`] with the line of the input where the record starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LocatedError {
    pub line: usize,
    pub error: RecordError,
}
