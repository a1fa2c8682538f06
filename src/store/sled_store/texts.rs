//! Reading texts: records in sled name their texts' places in the text log.

use std::io;
use std::path::Path;

use sled::Tree;

use super::records::DeadBytes;
use super::{SledStore, io_error, malformed};
use crate::store::keys;
use crate::store::text_log::{Checkpoint, Place, TextLog, Window};
use crate::store::{StoreError, StoreResult};

impl SledStore {
    /// A text from the log, read through `window`.
    pub(super) fn text(&self, place: Place, window: &mut Window) -> StoreResult<Vec<u8>> {
        self.log.read(place, window).map_err(|e| self.log_error(e))
    }

    pub(super) fn log_error(&self, error: io::Error) -> StoreError {
        log_error(&self.path, error)
    }

    /// The bytes of each segment's texts that deletes stopped naming (`M dead-bytes`).
    pub(super) fn dead_bytes(&self) -> StoreResult<DeadBytes> {
        match self.tree.get(keys::META_DEAD_BYTES).map_err(io_error)? {
            Some(value) => DeadBytes::decode(&value),
            None => Ok(DeadBytes::default()),
        }
    }
}

/// Opens the text log of the data directory `path`, checking what follows the end that the index `tree` has seen.
pub(super) fn open_log(path: &Path, tree: &Tree, segment_bytes: u32) -> StoreResult<TextLog> {
    let checkpoint = match tree.get(keys::META_LOG_END).map_err(io_error)? {
        Some(value) => {
            Some(Checkpoint::decode(&value).ok_or_else(|| malformed("text log checkpoint"))?)
        }
        None => None,
    };
    let retired = retired_segments(tree)?;
    TextLog::open(&path.join("texts"), checkpoint, &retired, segment_bytes)
        .map_err(|e| log_error(path, e))
}

/// The segments of the text log that compaction retired (`M retired-segments`).
pub(super) fn retired_segments(tree: &Tree) -> StoreResult<Vec<u32>> {
    let Some(value) = tree.get(keys::META_RETIRED_SEGMENTS).map_err(io_error)? else {
        return Ok(Vec::new());
    };
    if value.len() % 4 != 0 {
        return Err(malformed("retired segments"));
    }
    Ok(value
        .chunks_exact(4)
        .map(|n| u32::from_be_bytes(n.try_into().expect("4 bytes")))
        .collect())
}

/// A failure of the text log: damage (`InvalidData`) or a data directory that cannot be read or written.
fn log_error(path: &Path, error: io::Error) -> StoreError {
    match error.kind() {
        io::ErrorKind::InvalidData => StoreError::Corrupt {
            path: path.to_owned(),
            detail: error.to_string(),
        },
        _ => StoreError::data_directory(path, &error),
    }
}
