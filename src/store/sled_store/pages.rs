//! Pages of objects lent to a visitor: each group record's wanted entries are decoded once, and their texts,
//! which the writer put in the log together, are read with one `pread` into one window and lent from there.

use std::ops::ControlFlow;

use super::group_entries::{ObjectEntry, Objects};
use super::groups::{self, Bound};
use super::{SledStore, io_error};
use crate::store::keys;
use crate::store::text_log::Window;
use crate::store::type_of;
use crate::store::{ObjectRef, StoreResult};

/// A window read ahead for a page holds this much at most.
const MAX_AHEAD: usize = 4 << 20;

impl SledStore {
    /// Gives `visit` the object versions of `collection` (of `object_type` only, when given) at `from` or later,
    /// oldest first, until it breaks; about `expected` are wanted, so that the texts read ahead are theirs.
    pub(super) fn visit_objects(
        &self,
        collection: &str,
        object_type: Option<&str>,
        from: u64,
        expected: usize,
        visit: &mut dyn FnMut(ObjectRef<'_>) -> ControlFlow<()>,
    ) -> StoreResult<()> {
        let prefix = keys::object_groups(collection);
        let start = match groups::holding(&self.tree, &prefix, from)? {
            Some((key, _)) => key.to_vec(),
            None => keys::group(&prefix, from),
        };
        let mut window = Window::default();
        let mut left = expected;
        for record in self.tree.range(start..keys::prefix_end(&prefix)) {
            let (key, value) = record.map_err(io_error)?;
            let first = groups::key_position(&key)?;
            let mut wanted = groups::wanted::<Objects>(first, &value, Bound::From(from))?;
            wanted.retain(|entry| object_type.is_none_or(|t| type_of(&entry.id) == t));
            for (i, entry) in wanted.iter().enumerate() {
                // The texts still expected, or the rest of the record once as many as expected were given.
                let coming = if left == 0 { wanted.len() } else { i + left };
                let ahead = span(&wanted[i..coming.min(wanted.len())]);
                let text = self
                    .log
                    .read_in(entry.place, &mut window, ahead)
                    .map_err(|e| self.log_error(e))?;
                if visit(entry.borrowed(&text)).is_break() {
                    return Ok(());
                }
                left = left.saturating_sub(1);
            }
        }
        Ok(())
    }
}

/// Bytes from the first entry's record to the end of the last one's, when they are in one segment in that order
/// (as the texts of one group are), at most [`MAX_AHEAD`]; else none beyond the first's.
fn span(entries: &[ObjectEntry]) -> usize {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return 0;
    };
    let from = u64::from(first.place.offset);
    if last.place.segment != first.place.segment || last.place.end() <= from {
        return 0;
    }
    usize::try_from(last.place.end() - from).map_or(MAX_AHEAD, |span| span.min(MAX_AHEAD))
}
