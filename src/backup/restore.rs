//! Restoring a backup into an empty data directory, or into an empty PostgreSQL database.
//!
//! For sled, the records are written into a fresh directory beside the target and renamed onto it only once the
//! whole backup went in: a restore that fails leaves no half-filled directory behind. A database has no such
//! rename: a restore into one that fails says that the database must be emptied before the next try.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;

use super::{
    EndLine, EnvelopeLine, FORMAT, Header, Kind, NoteLine, ObjectLine, POSITIONS_PER_COLLECTION,
    SecretLine, StatusLine, Tag, Tally, VERSION,
};
use crate::envelope::EnvelopeId;
use crate::store::{
    NewObject, RESTORE_ORDER, SledStore, Store, StoreError, StoredEnvelope, StoredObject,
    StoredStatus, WriteOp, WriteOutcome,
};

/// Records per atomic write and flush: enough to make a restore fast, few enough to bound memory.
const CHUNK: usize = 4_000;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0} is not empty: restore only into an empty or missing data directory")]
    NotEmpty(PathBuf),
    #[error(
        "the database holds data already: restore only into an empty database (a failed restore leaves part of \
         the backup in it; drop and create the database again)"
    )]
    DatabaseNotEmpty,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: {reason}")]
    Line { line: u64, reason: String },
    #[error("the backup ends at line {0} without its end record: it is not whole")]
    Truncated(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Restores the backup read from `input` into `target`, which must be missing or empty.
pub fn restore(input: impl BufRead, target: &Path) -> Result<Tally, RestoreError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RestoreError::Io { path, source }
    };
    if target.exists() && target.read_dir().map_err(io(target))?.next().is_some() {
        return Err(RestoreError::NotEmpty(target.to_owned()));
    }
    // An existing (empty) directory may be named `.` or `..`, which have no name to put the staging one beside.
    let target = &match target.canonicalize() {
        Ok(absolute) => absolute,
        Err(_) => target.to_owned(),
    };
    let name = target.file_name().ok_or_else(|| RestoreError::Io {
        path: target.to_owned(),
        source: std::io::Error::other("not a directory one can restore into"),
    })?;
    let staging = target.with_file_name(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let restored = fill_directory(input, &staging);
    let result = restored.and_then(|tally| {
        std::fs::rename(&staging, target).map_err(io(target))?;
        Ok(tally)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Restores the backup read from `input` into `store`, a database that must hold no data yet.
pub fn restore_into(input: impl BufRead, store: &dyn Store) -> Result<Tally, RestoreError> {
    let empty = store.envelopes().next().is_none()
        && store.all_objects().next().is_none()
        && store.statuses().next().is_none()
        && store.notes().next().is_none();
    if !empty {
        return Err(RestoreError::DatabaseNotEmpty);
    }
    fill(input, store)
}

/// Writes every record into a new store in `directory`, and closes it.
fn fill_directory(input: impl BufRead, directory: &Path) -> Result<Tally, RestoreError> {
    fill(input, &SledStore::open(directory)?)
}

/// Writes every record into `store`.
fn fill(input: impl BufRead, store: &dyn Store) -> Result<Tally, RestoreError> {
    let mut reader = Reader::default();
    let mut ops = Vec::with_capacity(CHUNK);
    let mut lines = Vec::with_capacity(CHUNK);
    for text in input.split(b'\n') {
        reader.line += 1;
        let text = text.map_err(|e| reader.error(format!("it cannot be read: {e}")))?;
        if let Some(op) = reader.read(&text)? {
            ops.push(op);
            lines.push(reader.line);
        }
        if ops.len() == CHUNK {
            apply(store, std::mem::take(&mut ops), &mut lines)?;
        }
    }
    if !reader.ended {
        return Err(RestoreError::Truncated(reader.line));
    }
    // Cursors of such a backup may name any collection's position: no collection's next envelope comes before.
    if let Some(floor) = reader.global_floor {
        ops.push(WriteOp::RaiseEnvelopeFloor(floor));
        lines.push(reader.line);
    }
    apply(store, ops, &mut lines)?;
    store.flush()?;
    Ok(reader.tally)
}

/// Applies a chunk; a record the store refuses names its line.
fn apply(store: &dyn Store, ops: Vec<WriteOp>, lines: &mut Vec<u64>) -> Result<(), RestoreError> {
    let outcomes = store.apply(ops)?;
    for (outcome, &line) in outcomes.iter().zip(lines.iter()) {
        if !matches!(outcome, WriteOutcome::Stored { .. }) {
            return Err(RestoreError::Line {
                line,
                reason: format!("this record comes twice or out of order ({RESTORE_ORDER})"),
            });
        }
    }
    store.flush()?;
    lines.clear();
    Ok(())
}

#[derive(Default)]
struct Reader {
    line: u64,
    started: bool,
    /// In a backup whose envelope positions counted every collection: the position after its last envelope.
    global_floor: Option<u64>,
    /// Whether the header says positions count one collection.
    per_collection: bool,
    ended: bool,
    records: u64,
    tally: Tally,
}

impl Reader {
    fn error(&self, reason: String) -> RestoreError {
        RestoreError::Line {
            line: self.line,
            reason,
        }
    }

    /// Collection ids follow the rules of envelope ids, which keep them safe in store keys.
    fn check_collection(&self, collection: &str) -> Result<(), RestoreError> {
        EnvelopeId::parse(collection)
            .map(drop)
            .map_err(|e| self.error(format!("the collection id {e}")))
    }

    fn parse<T: DeserializeOwned>(&self, text: &[u8]) -> Result<T, RestoreError> {
        serde_json::from_slice(text).map_err(|e| self.error(format!("not a valid record: {e}")))
    }

    /// The write one line asks for; `None` for the first and the last line.
    fn read(&mut self, text: &[u8]) -> Result<Option<WriteOp>, RestoreError> {
        if self.ended {
            return if text.is_empty() {
                Ok(None)
            } else {
                Err(self.error("a record after the end record".into()))
            };
        }
        if !self.started {
            let header: Header = serde_json::from_slice(text)
                .ok()
                .filter(|h: &Header| h.format == FORMAT)
                .ok_or_else(|| {
                    self.error(format!(
                        "not a stixgate backup: the first line must be {{\"format\":\"{FORMAT}\",\"version\":{VERSION},...}}"
                    ))
                })?;
            if header.version != VERSION {
                return Err(self.error(format!(
                    "backup format version {} (this stixgate reads version {VERSION})",
                    header.version
                )));
            }
            self.started = true;
            self.per_collection =
                header.envelope_positions.as_deref() == Some(POSITIONS_PER_COLLECTION);
            return Ok(None);
        }
        let Tag { kind } = self.parse(text)?;
        let op = match kind {
            Kind::CursorSecret => {
                let line: SecretLine = self.parse(text)?;
                let secret = BASE64
                    .decode(&line.secret)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        self.error("the cursor secret is not 32 bytes in base64".into())
                    })?;
                WriteOp::SetCursorSecret(secret)
            }
            Kind::Envelope => {
                let line: EnvelopeLine = self.parse(text)?;
                EnvelopeId::parse(line.id.as_str())
                    .map_err(|e| self.error(format!("the envelope id {e}")))?;
                self.check_collection(&line.collection)?;
                self.tally.envelopes += 1;
                if !self.per_collection {
                    let after = line.position.saturating_add(1);
                    self.global_floor = Some(self.global_floor.unwrap_or(0).max(after));
                }
                WriteOp::RestoreEnvelope(StoredEnvelope {
                    id: line.id,
                    version: line.version,
                    position: line.position,
                    collection: line.collection,
                    received: line.received,
                    text: line.text.into_bytes(),
                })
            }
            Kind::Object => {
                let line: ObjectLine = self.parse(text)?;
                self.check_collection(&line.collection)?;
                // What the text says must be what the record says: the store keys the object by them.
                let read = NewObject::from_text(line.text.into_bytes()).map_err(|e| {
                    self.error(format!("the object is not a valid STIX object: {e}"))
                })?;
                if (read.id.as_str(), read.version, read.version_text.as_str())
                    != (line.id.as_str(), line.version, line.version_text.as_str())
                {
                    return Err(self.error(
                        "the object's id, version or version_text is not what its text says".into(),
                    ));
                }
                self.tally.objects += 1;
                WriteOp::RestoreObject {
                    collection: line.collection,
                    object: StoredObject {
                        id: read.id,
                        version: read.version,
                        version_text: read.version_text,
                        date_added: line.date_added,
                        text: read.text,
                    },
                }
            }
            Kind::Status => {
                let line: StatusLine = self.parse(text)?;
                self.tally.statuses += 1;
                WriteOp::RestoreStatus(StoredStatus {
                    id: line.id,
                    stored_at: line.stored_at,
                    text: line.text.into_bytes(),
                })
            }
            Kind::Note => {
                let line: NoteLine = self.parse(text)?;
                self.tally.notes += 1;
                WriteOp::PutNote {
                    key: line.key,
                    value: line.value.into_bytes(),
                }
            }
            Kind::End => {
                let line: EndLine = self.parse(text)?;
                if line.records != self.records {
                    return Err(self.error(format!(
                        "the end record counts {} records, but {} came before it",
                        line.records, self.records
                    )));
                }
                self.ended = true;
                return Ok(None);
            }
        };
        self.records += 1;
        Ok(Some(op))
    }
}
