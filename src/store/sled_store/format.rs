//! The layout version of the sled engine's data directory.

use std::path::Path;

use sled::Tree;

use super::{io_error, open_error};
use crate::store::keys;
use crate::store::{StoreError, StoreResult};

/// The layout this engine reads and writes (`M format`, see `keys.rs`). Data directories without it hold layout 1,
/// with the texts inside sled; layout 2 had several keys per text, layout 3 one key per text, layout 4 plain
/// statuses and views and no spliced texts, layout 5 group records of whole ids and fixed-width fields, layout 6
/// one envelope keyspace for every collection. A binary of an earlier layout refuses a directory of a later one
/// (an unknown format), which it would misread.
const FORMAT: u32 = 7;

/// Accepts a store of this engine's layout, marks a new one with it, and refuses an earlier layout with the way to
/// move it (a backup with the earlier binary, restored with this one).
pub(super) fn check(path: &Path, db: &sled::Db, tree: &Tree) -> StoreResult<()> {
    match tree.get(keys::META_FORMAT).map_err(io_error)? {
        Some(value) if *value == FORMAT.to_be_bytes() => Ok(()),
        Some(value) if earlier(&value) => Err(StoreError::EarlierLayout(path.to_owned())),
        Some(value) => Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!("unknown store format {value:?}, perhaps of a later stixgate"),
        }),
        None if tree.is_empty() => {
            tree.insert(keys::META_FORMAT, &FORMAT.to_be_bytes())
                .map_err(io_error)?;
            db.flush().map(drop).map_err(|e| open_error(path, e))
        }
        None => Err(StoreError::EarlierLayout(path.to_owned())),
    }
}

fn earlier(format: &[u8]) -> bool {
    <[u8; 4]>::try_from(format).is_ok_and(|format| u32::from_be_bytes(format) < FORMAT)
}
