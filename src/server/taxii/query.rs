//! Pages of a collection: filters applied in date_added order, with a keyset cursor.
//!
//! A page walks an index (the whole collection, one type, or the versions of the requested ids) from its
//! position, so its cost depends on the page, not on the size of the collection.

use std::collections::HashMap;
use std::iter::Peekable;

use crate::store::{Store, StoreIter, StoreResult, StoredObject};
use crate::taxii::cursor::CursorKey;
use crate::taxii::filter::{Filters, VersionFilter};

use super::super::error::ApiError;

/// One page of object versions, oldest addition first.
pub struct Page {
    pub objects: Vec<StoredObject>,
    pub more: bool,
    pub next: Option<String>,
}

/// Where a page starts: after `added_after` and after the `next` cursor, whichever is later.
pub fn start(
    filters: &Filters,
    collection: &str,
    cursor_key: &CursorKey,
) -> Result<Option<u64>, ApiError> {
    let after = filters
        .added_after
        .map(|t| u64::try_from(t.micros()).unwrap_or(0));
    let cursor = filters
        .next
        .as_deref()
        .map(|next| cursor_key.open(collection, next))
        .transpose()?;
    Ok(after.max(cursor))
}

/// The page of `collection` that `filters` ask for, at most `limit` objects.
pub fn page(
    store: &dyn Store,
    collection: &str,
    filters: &Filters,
    limit: usize,
    cursor_key: &CursorKey,
) -> Result<Page, ApiError> {
    let after = start(filters, collection, cursor_key)?;
    if !filters.wants_stix_21() {
        return Ok(Page {
            objects: Vec::new(),
            more: false,
            next: None,
        });
    }
    let versions = filters.versions.clone().unwrap_or_else(VersionFilter::last);
    let single_versions_only = !store.has_multiple_versions(collection)?;
    let mut objects = Vec::with_capacity(limit.min(1024));
    let mut more = false;
    // The page and one more, which tells whether there is more.
    let mut candidates = candidates(store, collection, filters, after, limit + 1)?;
    // In batches of what the page still lacks, so that the versions' bounds are looked up once per batch.
    'page: loop {
        let batch = candidates
            .by_ref()
            .take(limit + 1 - objects.len())
            .collect::<StoreResult<Vec<StoredObject>>>()?;
        if batch.is_empty() {
            break;
        }
        let bounds = if needs_bounds(&versions, single_versions_only) {
            let ids: Vec<&str> = batch.iter().map(|o| o.id.as_str()).collect();
            store.version_bounds_of(collection, &ids)?
        } else {
            HashMap::new()
        };
        for candidate in batch {
            if !wanted(&candidate, &versions, single_versions_only, &bounds) {
                continue;
            }
            if objects.len() == limit {
                more = true;
                break 'page;
            }
            objects.push(candidate);
        }
    }
    let next = objects
        .last()
        .filter(|_| more)
        .map(|last: &StoredObject| cursor_key.seal(collection, last.date_added));
    Ok(Page {
        objects,
        more,
        next,
    })
}

/// The object versions to consider, in date_added order.
fn candidates<'a>(
    store: &'a dyn Store,
    collection: &str,
    filters: &Filters,
    after: Option<u64>,
    expected: usize,
) -> StoreResult<StoreIter<'a, StoredObject>> {
    if let Some(ids) = &filters.ids {
        let mut entries = Vec::new();
        for id in ids {
            let wanted_type = filters
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|t| t == id.object_type()));
            if !wanted_type {
                continue;
            }
            let versions = store.object_versions(collection, id.as_str())?;
            entries.extend(
                versions
                    .into_iter()
                    .filter(|o| after.is_none_or(|after| o.date_added > after)),
            );
        }
        entries.sort_unstable_by_key(|e| e.date_added);
        return Ok(Box::new(entries.into_iter().map(Ok)));
    }
    match &filters.types {
        None => Ok(store.added_after_expecting(collection, None, after, expected)),
        Some(types) => {
            let indexes = types
                .iter()
                .map(|t| {
                    store
                        .added_after_expecting(collection, Some(t), after, expected)
                        .peekable()
                })
                .collect();
            Ok(Box::new(Merge(indexes)))
        }
    }
}

/// Whether `match[version]` needs the first and last version of each entry's object.
fn needs_bounds(versions: &VersionFilter, single_versions_only: bool) -> bool {
    (versions.first || versions.last) && !single_versions_only
}

/// Whether an entry passes `match[version]`; `bounds` holds the first and last version of its object when
/// [`needs_bounds`].
fn wanted(
    entry: &StoredObject,
    versions: &VersionFilter,
    single_versions_only: bool,
    bounds: &HashMap<String, (i64, i64)>,
) -> bool {
    if versions.all || versions.exact.iter().any(|t| t.micros() == entry.version) {
        return true;
    }
    if !versions.first && !versions.last {
        return false;
    }
    if single_versions_only {
        return true;
    }
    let Some((first, last)) = bounds.get(&entry.id) else {
        return false;
    };
    (versions.first && entry.version == *first) || (versions.last && entry.version == *last)
}

/// Several type indexes merged into one in date_added order (date_added is unique in a collection).
struct Merge<'a>(Vec<Peekable<StoreIter<'a, StoredObject>>>);

impl Iterator for Merge<'_> {
    type Item = StoreResult<StoredObject>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, u64)> = None;
        for (i, index) in self.0.iter_mut().enumerate() {
            match index.peek() {
                None => {}
                Some(Err(_)) => return index.next(),
                Some(Ok(entry)) if best.is_none_or(|(_, at)| entry.date_added < at) => {
                    best = Some((i, entry.date_added))
                }
                Some(Ok(_)) => {}
            }
        }
        let (i, _) = best?;
        self.0[i].next()
    }
}
