//! Carries a data directory of an earlier layout over when it is opened: layout 3 (one `A` key per object version,
//! one `N` key per envelope version) to layout 4 (group records), layout 4 to layout 5 (packed statuses and
//! views, see [`from_layout_4`]), and layout 5 to layout 6 (compact group records, see [`from_layout_5`]).
//!
//! Layout 3 to 4: The texts stay where they are in the text log: only sled's
//! keys are rewritten. A layout 3 value holds the fields of a layout 4 entry that follow its position.
//!
//! Crash rules: each batch writes group records and removes the layout 3 keys they replace, atomically, taking the
//! oldest keys left; the format becomes 4 only after the last batch, once no layout 3 key is left. A migration that
//! stopped halfway is taken up again on the next open, from the keys left: they are all later than the group
//! records written so far, so the records stay in order.

use sled::{Batch, IVec, Tree};

use super::groups::{self, Envelopes, GROUP_ENTRIES, Objects};
use super::groups_5::{self, Layout5};
use super::packed::{pack, pack_status};
use super::{io_error, malformed};
use crate::store::StoreResult;
use crate::store::fields::Fields;
use crate::store::keys;

/// Layout 3 keys a batch takes at most.
const BATCH_KEYS: usize = 64 * GROUP_ENTRIES;
/// Status and view records a batch packs at most (tens of kilobytes each).
const PACK_BATCH: usize = 256;
/// Group records a batch writes again at most (up to 60 kilobytes each in layout 5).
const REGROUP_BATCH: usize = 64;

/// Rewrites every layout 3 key of `tree` into group records, then marks the tree with `format`.
pub(super) fn from_layout_3(db: &sled::Db, tree: &Tree, format: u32) -> StoreResult<()> {
    tracing::info!("carrying the store over from layout 3 to layout {format}; this runs once");
    let mut keys_moved = 0;
    loop {
        let moved = migrate_batch(tree)?;
        if moved == 0 {
            break;
        }
        keys_moved += moved;
    }
    tree.insert(keys::META_FORMAT, &format.to_be_bytes())
        .map_err(io_error)?;
    db.flush().map_err(io_error)?;
    tracing::info!(keys_moved, "the store is now of layout {format}");
    Ok(())
}

/// Moves the oldest layout 3 keys left (objects first, then envelopes) into group records, in one atomic batch;
/// returns how many it moved, 0 once none is left.
pub(super) fn migrate_batch(tree: &Tree) -> StoreResult<usize> {
    let objects = take(tree, keys::LAYOUT_3_ADDED)?;
    let mut batch = Batch::default();
    if !objects.is_empty() {
        let mut decoded = Vec::with_capacity(objects.len());
        for (key, value) in &objects {
            let (collection, date_added) = keys::parse_collection_key(keys::LAYOUT_3_ADDED, key)
                .ok_or_else(|| malformed("layout 3 added key"))?;
            // A layout 3 value holds the same fields as a layout 4 entry after its position.
            let mut fields = Fields::new(value, "layout 3 object record");
            decoded.push((collection, Objects::decode_5(date_added, &mut fields)?));
        }
        for same_collection in decoded.chunk_by(|(a, _), (b, _)| a == b) {
            let prefix = keys::object_groups(same_collection[0].0);
            let entries: Vec<_> = same_collection
                .iter()
                .map(|(_, entry)| entry.clone())
                .collect();
            groups_5::put::<Objects>(&mut batch, &prefix, &entries);
        }
        return apply(tree, batch, &objects);
    }
    let envelopes = take(tree, keys::LAYOUT_3_ENVELOPE_ORDER)?;
    let mut entries = Vec::with_capacity(envelopes.len());
    for (key, value) in &envelopes {
        let seq = Fields::new(&key[1..], "layout 3 order key").u64()?;
        let mut fields = Fields::new(value, "layout 3 envelope record");
        entries.push(Envelopes::decode_5(seq, &mut fields)?);
    }
    groups_5::put::<Envelopes>(&mut batch, &keys::envelope_groups(), &entries);
    apply(tree, batch, &envelopes)
}

/// Packs every status and view record of a layout 4 tree (`packed.rs`), then marks the tree with `format`.
/// Layout 5 reads the texts of layout 4 as they are: it only adds a kind of text log record (`text_log`'s
/// spliced records), which layout 4 never wrote.
pub(super) fn from_layout_4(db: &sled::Db, tree: &Tree, format: u32) -> StoreResult<()> {
    tracing::info!("carrying the store over from layout 4 to layout {format}; this runs once");
    let packed = PACKING.all(db, tree, format)?;
    tracing::info!(packed, "the store is now of layout {format}");
    Ok(())
}

/// Writes every group record of a layout 5 tree again in layout 6's form (`groups.rs`), then marks the tree with
/// `format`. The texts, keys and entries stay what they were.
pub(super) fn from_layout_5(db: &sled::Db, tree: &Tree, format: u32) -> StoreResult<()> {
    tracing::info!("carrying the store over from layout 5 to layout {format}; this runs once");
    let rewritten = REGROUPING.all(db, tree, format)?;
    tracing::info!(rewritten, "the store is now of layout {format}");
    Ok(())
}

/// Layout 4 to 5.
const PACKING: Rewrite = Rewrite {
    first: keys::STATUS,
    last: keys::VIEW,
    records: PACK_BATCH,
    through: keys::META_PACKED_THROUGH,
    rewrite: pack_record,
};

/// Layout 5 to 6.
const REGROUPING: Rewrite = Rewrite {
    first: keys::OBJECT_GROUP,
    last: keys::ENVELOPE_GROUP,
    records: REGROUP_BATCH,
    through: keys::META_REGROUPED_THROUGH,
    rewrite: regroup_record,
};

fn pack_record(key: &[u8], value: &[u8], batch: &mut Batch) -> StoreResult<()> {
    match key.first() {
        Some(&keys::STATUS) => {
            let mut fields = Fields::new(value, "status");
            let stored_at = fields.u64()?;
            batch.insert(key, pack_status(stored_at, fields.rest()));
        }
        Some(&keys::VIEW) => batch.insert(key, pack(value)),
        _ => {}
    }
    Ok(())
}

fn regroup_record(key: &[u8], value: &[u8], batch: &mut Batch) -> StoreResult<()> {
    let value = match key.first() {
        Some(&keys::OBJECT_GROUP) => regrouped::<Objects>(key, value)?,
        Some(&keys::ENVELOPE_GROUP) => regrouped::<Envelopes>(key, value)?,
        _ => return Ok(()),
    };
    batch.insert(key, value);
    Ok(())
}

/// A layout 5 group record's value in layout 6's form.
fn regrouped<K: Layout5>(key: &[u8], value: &[u8]) -> StoreResult<Vec<u8>> {
    let first = groups::key_position(key)?;
    Ok(groups::encode::<K>(
        first,
        &groups_5::entries::<K>(first, value)?,
    ))
}

/// A migration that rewrites, in key order, the records of the keyspaces from the tag `first` to the tag `last`
/// (and any between, which `rewrite` passes over), a batch at a time.
///
/// Crash rules: each batch rewrites the next records and moves the meta key `through` (the last key it took)
/// with them, atomically; the format becomes the new one, and `through` goes, in the last batch. A migration that
/// stopped halfway is taken up again on the next open after the key named there.
struct Rewrite {
    first: u8,
    last: u8,
    /// Records a batch takes at most.
    records: usize,
    through: &'static [u8],
    /// Puts a record's new value in the batch, or nothing for a key it leaves as it is.
    rewrite: fn(&[u8], &[u8], &mut Batch) -> StoreResult<()>,
}

impl Rewrite {
    /// Rewrites every record left, then marks the tree with `format`; returns at most how many it took.
    fn all(&self, db: &sled::Db, tree: &Tree, format: u32) -> StoreResult<usize> {
        let mut through = tree.get(self.through).map_err(io_error)?;
        let mut taken = 0;
        while let Some(last) = self.batch(tree, through.as_deref())? {
            taken += self.records;
            through = Some(last);
        }
        let mut batch = Batch::default();
        batch.remove(self.through);
        batch.insert(keys::META_FORMAT, &format.to_be_bytes());
        tree.apply_batch(batch).map_err(io_error)?;
        db.flush().map_err(io_error)?;
        Ok(taken)
    }

    /// Rewrites the records after the key `through` (all, without one), in one atomic batch that records the
    /// last key it took; returns that key, `None` once none is left.
    fn batch(&self, tree: &Tree, through: Option<&[u8]>) -> StoreResult<Option<IVec>> {
        let start = match through {
            // The smallest key after `through`.
            Some(through) => [through, &[0]].concat(),
            None => vec![self.first],
        };
        let mut batch = Batch::default();
        let mut last = None;
        let records = tree.range(start..keys::prefix_end(&[self.last]));
        for entry in records.take(self.records) {
            let (key, value) = entry.map_err(io_error)?;
            (self.rewrite)(&key, &value, &mut batch)?;
            last = Some(key);
        }
        let Some(last) = last else {
            return Ok(None);
        };
        batch.insert(self.through, &last);
        tree.apply_batch(batch).map_err(io_error)?;
        Ok(Some(last))
    }
}

/// The oldest layout 3 keys of `tag` left, at most a batch of them.
fn take(tree: &Tree, tag: u8) -> StoreResult<Vec<(IVec, IVec)>> {
    tree.scan_prefix([tag])
        .take(BATCH_KEYS)
        .collect::<Result<_, _>>()
        .map_err(io_error)
}

fn apply(tree: &Tree, mut batch: Batch, moved: &[(IVec, IVec)]) -> StoreResult<usize> {
    for (key, _) in moved {
        batch.remove(key);
    }
    tree.apply_batch(batch).map_err(io_error)?;
    Ok(moved.len())
}

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "migrate_4_tests.rs"]
mod layout_4_tests;

#[cfg(test)]
#[path = "migrate_5_tests.rs"]
mod layout_5_tests;
