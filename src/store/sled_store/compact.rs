//! Compaction of the text log: the texts of deleted objects (and the whole records a crashed batch left after
//! the log's end) are dead bytes; a sealed segment with at least half of its bytes dead has its live records
//! copied to the log's end, and is then retired. Which segments to look at comes from `M dead-bytes`, which
//! every delete's batch moves, so that looking costs nothing while nothing is deleted.
//!
//! What is live in a segment: the texts the group records name (`G` and `R` entries), and the object texts that
//! live spliced envelope records name (`text_log`'s format), even when their object was deleted. A spliced record
//! names only records before it, so those that name a text of the segment are in the segment or after it.
//!
//! One step compacts one segment, with nothing else writing (the writer runs it, `Writer::compact`):
//! 1. its live plain records are copied to the log's end, in their order; then every live spliced record that
//!    names one of them, or that is in the segment, is written anew there, naming the copy of its inner text;
//! 2. the texts are made durable, then one atomic batch rewrites every group record that names a moved text and
//!    adds the segment to `M retired-segments`, and sled is flushed;
//! 3. the segment's file is removed (its handle stays open a while for readers, `TextLog::retire`).
//!
//! A crash before the batch leaves the copies as dead bytes after the log's end; a crash after it leaves the
//! segment's file, which the next open removes because the segment is listed as retired. Either way every
//! record the index names is whole. Positions (`date_added`, seq) never change, so neither do the in-memory
//! indexes, cursors or pages: only where a text is.

use std::collections::{BTreeSet, HashMap};

use sled::{Batch, IVec};

use super::group_entries::{Envelopes, Objects};
use super::groups::{self, EntryKind};
use super::texts::retired_segments;
use super::{SledStore, io_error, malformed};
use crate::store::keys;
use crate::store::text_log::{Place, Record, Splice, Window};
use crate::store::{Compaction, StoreResult};

/// A sealed segment is compacted once at least this share (in percent) of its bytes is dead.
const DEAD_PERCENT: u64 = 50;

/// The group records of one keyspace that name a moved text, kept as read.
type Touched = Vec<(IVec, IVec)>;

impl SledStore {
    /// Compacts every sealed segment whose bytes are at least [`DEAD_PERCENT`] dead, as `M dead-bytes` counts
    /// them. The caller keeps every other write out while it runs.
    pub(super) fn compact_texts(&self) -> StoreResult<Compaction> {
        self.log.release_retired();
        let current = self.log.current_segment();
        let dead = self.dead_bytes()?;
        let sizes = self.log.segment_sizes().map_err(|e| self.log_error(e))?;
        let mut compaction = Compaction::default();
        for (segment, size) in sizes {
            let dead = dead.0.get(&segment).copied().unwrap_or(0);
            if segment >= current || dead * 100 < size * DEAD_PERCENT {
                continue;
            }
            // Its live texts are copied before its file is removed.
            self.check_room(size)?;
            if let Some(moved) = self.compact_segment(segment, size)? {
                compaction.texts_moved += moved;
                compaction.segments.push(segment);
                compaction.bytes_freed += size;
            }
        }
        Ok(compaction)
    }

    /// The records of the keyspace `prefix` with an entry for whose place `names` says true.
    fn records_naming<K: EntryKind>(
        &self,
        prefix: &[u8],
        names: &mut dyn FnMut(Place) -> bool,
    ) -> StoreResult<Touched> {
        let mut touched = Vec::new();
        for record in self.tree.scan_prefix(prefix) {
            let (key, value) = record.map_err(io_error)?;
            let mut named = false;
            for entry in groups::entries::<K>(groups::key_position(&key)?, &value) {
                named |= names(K::place(&entry?));
            }
            if named {
                touched.push((key, value));
            }
        }
        Ok(touched)
    }

    /// Moves the live records of the sealed `segment`, `size` bytes long, to the log's end and retires it;
    /// returns the records written anew. When more of it is live than the dead bytes said (splices name
    /// deleted objects' texts), it is left as it is, its dead bytes counted exactly, and `None` returned.
    fn compact_segment(&self, segment: u32, size: u64) -> StoreResult<Option<u64>> {
        let bytes = self
            .log
            .read_segment(segment)
            .map_err(|e| self.log_error(e))?;
        let record_at = |place: Place| self.record_at(&bytes, place);
        let mut window = Window::default();
        // The plain records to copy, and the spliced records to write anew, in log order.
        let mut plain = BTreeSet::new();
        let mut spliced = BTreeSet::new();
        let mut failed = None;
        let objects = self.records_naming::<Objects>(&[keys::OBJECT_GROUP], &mut |place| {
            place.segment == segment && {
                plain.insert(place);
                true
            }
        })?;
        let envelopes =
            self.records_naming::<Envelopes>(&[keys::ENVELOPE_GROUP], &mut |place| {
                let record = match place.segment {
                    s if s == segment => record_at(place),
                    s if s > segment => self
                        .log
                        .raw(place, &mut window)
                        .map_err(|e| self.log_error(e)),
                    _ => return false,
                };
                match record {
                    Ok(Record::Plain(_)) if place.segment == segment => {
                        plain.insert(place);
                        true
                    }
                    Ok(Record::Plain(_)) => false,
                    Ok(Record::Spliced(splice)) if splice.inner.segment == segment => {
                        plain.insert(splice.inner);
                        spliced.insert(place);
                        true
                    }
                    Ok(Record::Spliced(_)) if place.segment == segment => {
                        spliced.insert(place);
                        true
                    }
                    Ok(Record::Spliced(_)) => false,
                    Err(error) => {
                        failed.get_or_insert(error);
                        false
                    }
                }
            })?;
        if let Some(error) = failed {
            return Err(error);
        }

        let mut dead = self.dead_bytes()?;
        let live: u64 = plain
            .iter()
            .chain(spliced.iter().filter(|place| place.segment == segment))
            .map(Place::record_size)
            .sum();
        if live * 100 > size * (100 - DEAD_PERCENT) {
            dead.0.insert(segment, size - live);
            self.tree
                .insert(keys::META_DEAD_BYTES, dead.encode())
                .map_err(|e| self.write_error(e))?;
            return Ok(None);
        }
        dead.0.remove(&segment);
        // The spliced records of later segments written anew die where they were.
        for place in spliced.iter().filter(|place| place.segment != segment) {
            dead.add(place.segment, place.record_size());
        }

        let mut staged = self.log.stage();
        let mut moved = HashMap::new();
        for &place in &plain {
            let Record::Plain(text) = record_at(place)? else {
                return Err(malformed("a spliced text names a spliced one"));
            };
            moved.insert(place, staged.push(text));
        }
        for &place in &spliced {
            let record = if place.segment == segment {
                record_at(place)?
            } else {
                self.log
                    .raw(place, &mut window)
                    .map_err(|e| self.log_error(e))?
            };
            let Record::Spliced(splice) = record else {
                return Err(malformed("a spliced text changed"));
            };
            let inner = moved.get(&splice.inner).copied().unwrap_or(splice.inner);
            moved.insert(place, staged.push_spliced(&Splice { inner, ..splice }));
        }

        let mut batch = Batch::default();
        rewrite::<Objects>(&mut batch, &objects, &moved)?;
        rewrite::<Envelopes>(&mut batch, &envelopes, &moved)?;
        let mut retired = retired_segments(&self.tree)?;
        retired.push(segment);
        let retired: Vec<u8> = retired.iter().flat_map(|n| n.to_be_bytes()).collect();
        batch.insert(keys::META_RETIRED_SEGMENTS, retired);
        batch.insert(keys::META_DEAD_BYTES, dead.encode());
        if !staged.is_empty() {
            batch.insert(keys::META_LOG_END, &staged.end().encode()[..]);
            self.log.commit(staged).map_err(|e| self.log_error(e))?;
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        self.db.flush().map_err(|e| self.write_error(e))?;
        self.log.retire(segment).map_err(|e| self.log_error(e))?;
        tracing::info!(
            segment,
            moved = moved.len(),
            "compacted a segment of the text log"
        );
        Ok(Some(moved.len() as u64))
    }
}

impl SledStore {
    /// The record at `place` of a segment whose bytes are `bytes`.
    fn record_at<'b>(&self, bytes: &'b [u8], place: Place) -> StoreResult<Record<'b>> {
        Record::at(bytes, place).map_err(|e| self.log_error(e))
    }
}

/// Puts the group records `touched` in `batch` with their entries' places moved as `moved` says.
fn rewrite<K: EntryKind>(
    batch: &mut Batch,
    touched: &Touched,
    moved: &HashMap<Place, Place>,
) -> StoreResult<()> {
    for (key, value) in touched {
        let first = groups::key_position(key)?;
        let mut entries = groups::entries::<K>(first, value).collect::<StoreResult<Vec<_>>>()?;
        for entry in &mut entries {
            if let Some(&to) = moved.get(&K::place(entry)) {
                K::set_place(entry, to);
            }
        }
        batch.insert(key.clone(), groups::encode::<K>(first, &entries));
    }
    Ok(())
}
