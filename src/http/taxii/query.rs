//! Pages of a collection: filters applied in date_added order, with a keyset cursor.
//!
//! A page walks an index (the whole collection, one type, or the versions of the requested ids) from its
//! position, so its cost depends on the page, not on the size of the collection.

use std::collections::HashMap;
use std::iter::Peekable;
use std::ops::ControlFlow;

use crate::store::{ObjectRef, Store, StoreIter, StoreResult, StoredObject};
use crate::taxii::cursor::CursorKey;
use crate::taxii::filter::{Filters, VersionFilter};

use super::super::error::ApiError;

/// What a page keeps of each object version it gives.
pub trait Collect {
    fn take(&mut self, object: ObjectRef<'_>);
}

impl Collect for Vec<StoredObject> {
    fn take(&mut self, object: ObjectRef<'_>) {
        self.push(object.to_stored());
    }
}

/// One page of object versions, oldest addition first: what `C` kept of them.
pub struct Page<C> {
    pub objects: C,
    /// How many it holds.
    pub count: usize,
    /// The date_added of its first and of its last object.
    pub added: Option<(u64, u64)>,
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

/// The page of `collection` that `filters` ask for, at most `limit` objects, kept in `objects`.
pub fn page<C: Collect>(
    store: &dyn Store,
    collection: &str,
    filters: &Filters,
    limit: usize,
    cursor_key: &CursorKey,
    objects: C,
) -> Result<Page<C>, ApiError> {
    let after = start(filters, collection, cursor_key)?;
    let versions = filters.versions.clone().unwrap_or_else(VersionFilter::last);
    let mut page = Filling {
        page: Page {
            objects,
            count: 0,
            added: None,
            more: false,
            next: None,
        },
        limit,
        versions: &versions,
        single_versions_only: false,
    };
    if !filters.wants_stix_21() {
        return Ok(page.page);
    }
    page.single_versions_only = !store.has_multiple_versions(collection)?;
    // The page and one more, which tells whether there is more.
    let expected = limit + 1;
    let one_type = match filters.types.as_deref() {
        None => Some(None),
        Some([one]) => Some(Some(one.as_str())),
        Some(_) => None,
    };
    match one_type {
        // The common listing: the objects are lent by the store and given to the page as they are read.
        Some(object_type) if filters.ids.is_none() && !page.needs_bounds() => {
            let mut offer = |object: ObjectRef<'_>| page.offer(object, &HashMap::new());
            store.visit_added_after(collection, object_type, after, expected, &mut offer)?;
        }
        _ => {
            let mut candidates = candidates(store, collection, filters, after, expected)?;
            // In batches of what the page still lacks, so that the versions' bounds are looked up once per batch.
            loop {
                let batch = candidates
                    .by_ref()
                    .take(expected - page.page.count)
                    .collect::<StoreResult<Vec<StoredObject>>>()?;
                if batch.is_empty() {
                    break;
                }
                let bounds = if page.needs_bounds() {
                    let ids: Vec<&str> = batch.iter().map(|o| o.id.as_str()).collect();
                    store.version_bounds_of(collection, &ids)?
                } else {
                    HashMap::new()
                };
                let stopped = batch
                    .iter()
                    .try_for_each(|candidate| page.offer(candidate.borrowed(), &bounds));
                if stopped.is_break() {
                    break;
                }
            }
        }
    }
    let mut page = page.page;
    page.next = page
        .added
        .filter(|_| page.more)
        .map(|(_, last)| cursor_key.seal(collection, last));
    Ok(page)
}

/// A page being filled.
struct Filling<'v, C> {
    page: Page<C>,
    limit: usize,
    versions: &'v VersionFilter,
    single_versions_only: bool,
}

impl<C: Collect> Filling<'_, C> {
    /// Whether `match[version]` needs the first and last version of each candidate's object.
    fn needs_bounds(&self) -> bool {
        (self.versions.first || self.versions.last) && !self.single_versions_only
    }

    /// Takes `candidate` if it passes `match[version]` (`bounds` holds the first and last version of its object
    /// when [`Filling::needs_bounds`]); breaks once the page is full and one more passed, which tells that there
    /// is more.
    fn offer(
        &mut self,
        candidate: ObjectRef<'_>,
        bounds: &HashMap<String, (i64, i64)>,
    ) -> ControlFlow<()> {
        if !wanted(&candidate, self.versions, self.single_versions_only, bounds) {
            return ControlFlow::Continue(());
        }
        let page = &mut self.page;
        if page.count == self.limit {
            page.more = true;
            return ControlFlow::Break(());
        }
        page.count += 1;
        let first = page.added.map_or(candidate.date_added, |(first, _)| first);
        page.added = Some((first, candidate.date_added));
        page.objects.take(candidate);
        ControlFlow::Continue(())
    }
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

/// Whether an entry passes `match[version]`; `bounds` holds the first and last version of its object when
/// [`Filling::needs_bounds`].
fn wanted(
    entry: &ObjectRef<'_>,
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
    let Some((first, last)) = bounds.get(entry.id) else {
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
