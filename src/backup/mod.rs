//! The backup format and how it is written: everything a store holds that cannot be made again, as NDJSON.
//!
//! The first line names the format and its version: `{"format":"stixgate-backup","version":1,...}`. Then one
//! record per line, each with a `kind`: the `cursor-secret`, every `object` version of every collection in order
//! of addition, every `envelope` version with its collection, collection after collection, each in the order
//! they were stored (a backup of an earlier version has the envelopes first, and in one order for every
//! collection, with positions counted across collections; it restores as well, its positions kept), every TAXII
//! `status` and every
//! `note` (client checkpoints, provenance). The last line is `{"kind":"end","records":N}`, so that a backup
//! that broke off is never taken for a whole one. Stored texts travel as JSON strings, exactly, so that every
//! line is one line of valid JSON whatever the text holds. Derived views (the MISP feeds) are left out: the
//! server makes them again from the envelopes.

mod restore;

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

pub use restore::{RestoreError, restore, restore_into};

pub const FORMAT: &str = "stixgate-backup";
pub const VERSION: u32 = 1;

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// The stixgate version that wrote it, for the reader's information.
    #[serde(default)]
    stixgate: String,
    /// When the backup was taken (RFC 3339), for the reader's information.
    #[serde(default)]
    created: String,
    /// `"collection"`: each collection's envelope positions count that collection alone. Absent in a backup of a
    /// stixgate whose positions counted every collection, which restores with a floor under every collection's
    /// next position (see [`crate::store::WriteOp::RaiseEnvelopeFloor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    envelope_positions: Option<String>,
}

/// [`Header::envelope_positions`] of this stixgate's backups.
const POSITIONS_PER_COLLECTION: &str = "collection";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    CursorSecret,
    Envelope,
    Object,
    Status,
    Note,
    End,
}

/// Every record line is read as this first, then as the record its kind names. (serde's tagged enums buffer
/// numbers in a way serde_json's `arbitrary_precision` does not survive.)
#[derive(Debug, Deserialize)]
struct Tag {
    kind: Kind,
}

#[derive(Debug, Serialize, Deserialize)]
struct SecretLine {
    kind: Kind,
    /// Base64 of the 32 bytes.
    secret: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeLine {
    kind: Kind,
    id: String,
    version: u32,
    position: u64,
    collection: String,
    /// Microseconds since the Unix epoch.
    received: u64,
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ObjectLine {
    kind: Kind,
    collection: String,
    /// Microseconds since the Unix epoch.
    date_added: u64,
    id: String,
    version: i64,
    version_text: String,
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StatusLine {
    kind: Kind,
    id: String,
    /// Microseconds since the Unix epoch.
    stored_at: u64,
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NoteLine {
    kind: Kind,
    key: String,
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct EndLine {
    kind: Kind,
    /// Records between the first line and this one.
    records: u64,
}

/// What a backup or a restore went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub envelopes: u64,
    pub objects: u64,
    pub statuses: u64,
    pub notes: u64,
}

impl Tally {
    fn records(&self) -> u64 {
        // The cursor secret is a record too.
        1 + self.envelopes + self.objects + self.statuses + self.notes
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} envelope versions, {} object versions, {} statuses, {} notes",
            self.envelopes, self.objects, self.statuses, self.notes
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the backup failed: {0}")]
    Write(#[from] io::Error),
    #[error("the stored {0} is not UTF-8 text, so it cannot be carried in the backup")]
    NotUtf8(String),
    #[error("the backup broke off: {0}")]
    Incomplete(String),
}

/// Writes a backup of everything in `store` to `out`. For one consistent backup, nothing may write to the
/// store meanwhile (run it through [`crate::store::Writer::exclusive`] while a server runs), or `store` reads
/// one moment of it ([`crate::store::open_snapshot`]).
pub fn write(store: &dyn Store, out: &mut dyn Write) -> Result<Tally, BackupError> {
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        stixgate: env!("CARGO_PKG_VERSION").to_owned(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        envelope_positions: Some(POSITIONS_PER_COLLECTION.to_owned()),
    };
    line(out, &header)?;
    let mut tally = Tally::default();
    let secret = SecretLine {
        kind: Kind::CursorSecret,
        secret: BASE64.encode(store.cursor_secret()?),
    };
    line(out, &secret)?;
    // Objects before envelopes, so that a restore finds the object text an envelope embeds and stores the
    // envelope spliced onto it, as the server did (`text_log`).
    for object in store.all_objects() {
        let (collection, mut object) = object?;
        let text = std::mem::take(&mut object.text);
        let text = utf8(text, || {
            format!("object {} of collection {collection}", object.id)
        })?;
        line(
            out,
            &ObjectLine {
                kind: Kind::Object,
                collection,
                date_added: object.date_added,
                id: object.id,
                version: object.version,
                version_text: object.version_text,
                text,
            },
        )?;
        tally.objects += 1;
    }
    for envelope in store.envelopes() {
        let mut envelope = envelope?;
        let text = std::mem::take(&mut envelope.text);
        let text = utf8(text, || {
            format!("envelope {:?} version {}", envelope.id, envelope.version)
        })?;
        line(
            out,
            &EnvelopeLine {
                kind: Kind::Envelope,
                id: envelope.id,
                version: envelope.version,
                position: envelope.position,
                collection: envelope.collection,
                received: envelope.received,
                text,
            },
        )?;
        tally.envelopes += 1;
    }
    for status in store.statuses() {
        let status = status?;
        let text = utf8(status.text, || format!("status {}", status.id))?;
        line(
            out,
            &StatusLine {
                kind: Kind::Status,
                id: status.id,
                stored_at: status.stored_at,
                text,
            },
        )?;
        tally.statuses += 1;
    }
    for note in store.notes() {
        let (key, value) = note?;
        let value = utf8(value, || format!("note {key:?}"))?;
        line(
            out,
            &NoteLine {
                kind: Kind::Note,
                key,
                value,
            },
        )?;
        tally.notes += 1;
    }
    let end = EndLine {
        kind: Kind::End,
        records: tally.records(),
    };
    line(out, &end)?;
    out.flush()?;
    Ok(tally)
}

/// Checks that a backup received as bytes is whole: its last line is the end record and counts the
/// `lines` before it, less the first.
pub fn check_end(last_line: &[u8], lines: u64) -> Result<(), BackupError> {
    let end: EndLine = serde_json::from_slice(last_line)
        .ok()
        .filter(|end: &EndLine| end.kind == Kind::End)
        .ok_or_else(|| BackupError::Incomplete("its last line is not the end record".into()))?;
    if Some(end.records) != lines.checked_sub(1) {
        return Err(BackupError::Incomplete(format!(
            "it ends after {} records, but {} came",
            end.records,
            lines.saturating_sub(1)
        )));
    }
    Ok(())
}

fn line(out: &mut dyn Write, record: &impl Serialize) -> Result<(), BackupError> {
    serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn utf8(text: Vec<u8>, what: impl FnOnce() -> String) -> Result<String, BackupError> {
    String::from_utf8(text).map_err(|_| BackupError::NotUtf8(what()))
}
