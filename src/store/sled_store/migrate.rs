//! Carries a data directory of an earlier layout over when it is opened: layout 3 (one `A` key per object version,
//! one `N` key per envelope version) to layout 4 (group records), and layout 4 to layout 5 (packed statuses and
//! views, see [`from_layout_4`]).
//!
//! Layout 3 to 4: The texts stay where they are in the text log: only sled's
//! keys are rewritten. A layout 3 value holds the fields of a layout 4 entry that follow its position.
//!
//! Crash rules: each batch writes group records and removes the layout 3 keys they replace, atomically, taking the
//! oldest keys left; the format becomes 4 only after the last batch, once no layout 3 key is left. A migration that
//! stopped halfway is taken up again on the next open, from the keys left: they are all later than the group
//! records written so far, so the records stay in order.

use sled::{Batch, IVec, Tree};

use super::groups::{self, EntryKind, Envelopes, GROUP_ENTRIES, Objects};
use super::packed::{pack, pack_status};
use super::{io_error, malformed};
use crate::store::StoreResult;
use crate::store::fields::Fields;
use crate::store::keys;

/// Layout 3 keys a batch takes at most.
const BATCH_KEYS: usize = 64 * GROUP_ENTRIES;
/// Status and view records a batch packs at most (tens of kilobytes each).
const PACK_BATCH: usize = 256;

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
            decoded.push((collection, Objects::decode(date_added, &mut fields)?));
        }
        for same_collection in decoded.chunk_by(|(a, _), (b, _)| a == b) {
            let prefix = keys::object_groups(same_collection[0].0);
            let entries: Vec<_> = same_collection.iter().map(|(_, entry)| *entry).collect();
            groups::put::<Objects>(&mut batch, &prefix, &entries);
        }
        return apply(tree, batch, &objects);
    }
    let envelopes = take(tree, keys::LAYOUT_3_ENVELOPE_ORDER)?;
    let mut entries = Vec::with_capacity(envelopes.len());
    for (key, value) in &envelopes {
        let seq = Fields::new(&key[1..], "layout 3 order key").u64()?;
        let mut fields = Fields::new(value, "layout 3 envelope record");
        entries.push(Envelopes::decode(seq, &mut fields)?);
    }
    groups::put::<Envelopes>(&mut batch, &keys::envelope_groups(), &entries);
    apply(tree, batch, &envelopes)
}

/// Packs every status and view record of a layout 4 tree (`packed.rs`), then marks the tree with `format`.
/// Layout 5 reads the texts of layout 4 as they are: it only adds a kind of text log record (`text_log`'s
/// spliced records), which layout 4 never wrote.
///
/// Crash rules: each batch packs the next records in key order and moves `M layout-5-packed-through` (the last key
/// it packed) with them, atomically; the format becomes 5, and that key goes, in the last batch. A migration that
/// stopped halfway is taken up again on the next open after the key named there.
pub(super) fn from_layout_4(db: &sled::Db, tree: &Tree, format: u32) -> StoreResult<()> {
    tracing::info!("carrying the store over from layout 4 to layout {format}; this runs once");
    let mut through = tree.get(keys::META_PACKED_THROUGH).map_err(io_error)?;
    let mut packed = 0;
    while let Some(last) = pack_batch(tree, through.as_deref())? {
        packed += PACK_BATCH;
        through = Some(last);
    }
    let mut batch = Batch::default();
    batch.remove(keys::META_PACKED_THROUGH);
    batch.insert(keys::META_FORMAT, &format.to_be_bytes());
    tree.apply_batch(batch).map_err(io_error)?;
    db.flush().map_err(io_error)?;
    tracing::info!(
        packed_at_most = packed,
        "the store is now of layout {format}"
    );
    Ok(())
}

/// Packs the status and view records after the key `through` (all, without one), [`PACK_BATCH`] at most, in one
/// atomic batch that records the last; returns that key, `None` once none is left.
pub(super) fn pack_batch(tree: &Tree, through: Option<&[u8]>) -> StoreResult<Option<IVec>> {
    let start = match through {
        // The smallest key after `through`.
        Some(through) => [through, &[0]].concat(),
        None => vec![keys::STATUS],
    };
    let mut batch = Batch::default();
    let mut last = None;
    let records = tree.range(start..keys::prefix_end(&[keys::VIEW]));
    for entry in records.take(PACK_BATCH) {
        let (key, value) = entry.map_err(io_error)?;
        match key.first() {
            Some(&keys::STATUS) => {
                let mut fields = Fields::new(&value, "status");
                let stored_at = fields.u64()?;
                batch.insert(&key, pack_status(stored_at, fields.rest()));
            }
            Some(&keys::VIEW) => batch.insert(&key, pack(&value)),
            _ => {}
        }
        last = Some(key);
    }
    let Some(last) = last else {
        return Ok(None);
    };
    batch.insert(keys::META_PACKED_THROUGH, &last);
    tree.apply_batch(batch).map_err(io_error)?;
    Ok(Some(last))
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
