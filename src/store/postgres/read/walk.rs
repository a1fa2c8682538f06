//! Queries in one round trip, and long walks read in chunks by keyset.

use std::collections::VecDeque;

use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::super::db_error;
use super::super::pool::Pool;
use crate::store::{StoreIter, StoreResult};

/// Rows per chunk of a walk, after the first.
pub(super) const CHUNK: usize = 1000;
/// The largest first chunk a reader may ask for.
const LARGEST_FIRST_CHUNK: usize = 10_001;

/// A query parameter, with its type.
pub(super) type Param = (Box<dyn ToSql + Send + Sync>, Type);

pub(super) fn text(value: impl Into<String>) -> Param {
    (Box::new(value.into()), Type::TEXT)
}

pub(super) fn int8(value: i64) -> Param {
    (Box::new(value), Type::INT8)
}

pub(super) fn bytea(value: Vec<u8>) -> Param {
    (Box::new(value), Type::BYTEA)
}

/// The rows of one query, in one round trip.
pub(super) fn rows(pool: &Pool, sql: String, params: Vec<Param>) -> StoreResult<Vec<Row>> {
    pool.run(|shared| async move {
        let client = shared.connection().await?;
        let params: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|(value, kind)| (value.as_ref() as &(dyn ToSql + Sync), kind.clone()))
            .collect();
        client.query_typed(&sql, &params).await.map_err(db_error)
    })
}

/// A walk in chunks: `chunk(key, size)` gives at most `size` rows after `key` (or from the start for `None`),
/// `first` of them in the first chunk and [`CHUNK`] in each after it; `key_of` gives the key a row leaves off
/// at.
pub(super) fn walk<'a, T, K>(
    pool: &'a Pool,
    first: usize,
    chunk: impl Fn(Option<&K>, usize) -> (String, Vec<Param>) + Send + 'a,
    decode: impl Fn(&Row) -> StoreResult<T> + Send + 'a,
    key_of: impl Fn(&T) -> K + Send + 'a,
) -> StoreIter<'a, T>
where
    T: Send + 'a,
    K: Send + 'a,
{
    let mut key: Option<K> = None;
    let mut buffer: VecDeque<T> = VecDeque::new();
    let mut done = false;
    let mut size = first.clamp(1, LARGEST_FIRST_CHUNK);
    Box::new(std::iter::from_fn(move || {
        if buffer.is_empty() && !done {
            let (sql, params) = chunk(key.as_ref(), size);
            let rows = rows(pool, sql, params);
            let rows = match rows {
                Ok(rows) => rows,
                Err(error) => {
                    done = true;
                    return Some(Err(error));
                }
            };
            done = rows.len() < size;
            size = CHUNK;
            for row in &rows {
                match decode(row) {
                    Ok(item) => buffer.push_back(item),
                    Err(error) => {
                        done = true;
                        return Some(Err(error));
                    }
                }
            }
            if let Some(last) = buffer.back() {
                key = Some(key_of(last));
            }
        }
        buffer.pop_front().map(Ok)
    }))
}
