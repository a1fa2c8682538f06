//! Room on the data directory's file system, checked before each group and each compaction step.
//!
//! A write that fails for want of space is harmless in the text log: it is cut back to its last durable length
//! and the next group writes there again (`text_log`). sled is not so forgiving: once one of its writes fails,
//! it keeps the error and fails every later write and flush of that open database, space or not, until it is
//! opened again (sled 0.34's "global error"). So the engine refuses a group with [`StoreError::DiskFull`] while
//! less than [`RESERVE_BYTES`] are free, before writing anything: sled then finds room for the group's index
//! batch, and writes resume by themselves once space is freed. Only something else filling the last
//! [`RESERVE_BYTES`] between the check and sled's write can still stop sled; its later errors then say so
//! ([`stopped_index`]) once there is room again, and a restart recovers.

use std::path::Path;

use super::SledStore;
use crate::store::{StoreError, StoreResult};

/// Free space kept for sled: it writes its log a 512 KiB segment at a time, and the index batch of even a
/// large group (20,000 ops) takes a few MiB at most.
pub const RESERVE_BYTES: u64 = 8 << 20;

impl SledStore {
    /// Fails with [`StoreError::DiskFull`] unless `needed` bytes and the reserve are free.
    pub(super) fn check_room(&self, needed: u64) -> StoreResult<()> {
        let free = fs2::available_space(&self.path)
            .map_err(|error| StoreError::data_directory(&self.path, &error))?;
        if free < needed.saturating_add(RESERVE_BYTES) {
            return Err(StoreError::DiskFull(self.path.clone()));
        }
        Ok(())
    }
}

/// What sled's kept error means once there is room again: only a restart clears it.
pub(super) fn stopped_index(path: &Path) -> StoreError {
    StoreError::DataDirectory {
        path: path.to_owned(),
        problem: "the index stopped writing when a write found the disk full, and space was freed since; \
                  restart stixgate (nothing acknowledged is lost)"
            .to_owned(),
    }
}
