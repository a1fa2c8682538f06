//! The `Store` trait on PostgreSQL: the reads, and `apply` handed to `write.rs`; `read/walk.rs` runs the queries.
//!
//! Long walks read in chunks by keyset (`WHERE key > last ORDER BY key LIMIT n`), one query per chunk and no
//! transaction held between them: a reader never holds back writers or vacuum, and because writers of a
//! collection commit in `date_added` order (see `mod.rs`), chunks never skip an object.
//!
//! Every query is one round trip (`query_typed`: parse, bind and execute sent together, the parameters' types
//! given), and a page's first chunk is the page's size: a page of 1,000 objects is one query, not three. Round
//! trips, not PostgreSQL's work, were what made pages slow: each is several thread wake-ups (this process's
//! threads, the connection's task, the database's backend), which on a busy machine wait for a core.

use std::collections::HashMap;

use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{PostgresStore, listen, signed, successor, unsigned, write};
use crate::store::{
    CollectionSummary, OthersAdded, Store, StoreError, StoreIter, StoreResult, StoredEnvelope,
    StoredObject, StoredStatus, WriteOp, WriteOutcome,
};

mod walk;

use walk::{CHUNK, Param, bytea, int8, rows, text, walk};

const ENVELOPE_COLUMNS: &str = "id, version, position, collection, received, text";
const OBJECT_COLUMNS: &str = "stix_id, version, version_text, date_added, text";

impl PostgresStore {
    fn first<T>(
        &self,
        sql: &str,
        params: Vec<Param>,
        decode: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        rows(&self.pool, sql.to_owned(), params)?
            .first()
            .map(decode)
            .transpose()
    }
}

fn envelope_of(row: &Row) -> StoreResult<StoredEnvelope> {
    Ok(StoredEnvelope {
        id: row.get(0),
        version: u32::try_from(row.get::<_, i64>(1))
            .map_err(|_| StoreError::Malformed("envelope version".into()))?,
        position: unsigned(row.get(2), "envelope position")?,
        collection: row.get(3),
        received: unsigned(row.get(4), "received time")?,
        text: row.get(5),
    })
}

fn object_of(row: &Row) -> StoreResult<StoredObject> {
    Ok(StoredObject {
        id: row.get(0),
        version: row.get(1),
        version_text: row.get(2),
        date_added: unsigned(row.get(3), "date_added")?,
        text: row.get(4),
    })
}

/// A lower bound as a `bigint`: past the largest one, nothing is greater.
fn after_bound(after: u64) -> i64 {
    signed(after).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        self.pool.run(|shared| write::apply(shared, ops))
    }

    /// A commit in [`Store::apply`] is durable already (with `synchronous_commit` on, PostgreSQL's default).
    fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    fn envelope(&self, collection: &str, id: &str) -> StoreResult<Option<StoredEnvelope>> {
        let sql = format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE collection = $1 AND id = $2 \
             ORDER BY version DESC LIMIT 1"
        );
        self.first(&sql, vec![text(collection), text(id)], envelope_of)
    }

    fn envelope_version(
        &self,
        collection: &str,
        id: &str,
        version: u32,
    ) -> StoreResult<Option<StoredEnvelope>> {
        let sql = format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes \
             WHERE collection = $1 AND id = $2 AND version = $3"
        );
        let params = vec![text(collection), text(id), int8(i64::from(version))];
        self.first(&sql, params, envelope_of)
    }

    fn envelopes_after(
        &self,
        collection: &str,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope> {
        let start = after.map_or(-1, after_bound);
        let collection = collection.to_owned();
        walk(
            &self.pool,
            CHUNK,
            move |key: Option<&i64>, size| {
                let sql = format!(
                    "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE collection = $1 AND position > $2 \
                     ORDER BY position LIMIT {size}"
                );
                (
                    sql,
                    vec![text(collection.as_str()), int8(*key.unwrap_or(&start))],
                )
            },
            envelope_of,
            |e| signed(e.position).unwrap_or(i64::MAX),
        )
    }

    fn envelopes_before(
        &self,
        collection: &str,
        before: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope> {
        let start = before.map_or(i64::MAX, after_bound);
        let collection = collection.to_owned();
        walk(
            &self.pool,
            CHUNK,
            move |key: Option<&i64>, size| {
                let sql = format!(
                    "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE collection = $1 AND position < $2 \
                     ORDER BY position DESC LIMIT {size}"
                );
                (
                    sql,
                    vec![text(collection.as_str()), int8(*key.unwrap_or(&start))],
                )
            },
            envelope_of,
            |e| signed(e.position).unwrap_or(i64::MAX),
        )
    }

    fn envelopes(&self) -> StoreIter<'_, StoredEnvelope> {
        walk(
            &self.pool,
            CHUNK,
            |key: Option<&(String, i64)>, size| {
                let (collection, after) = key.cloned().unwrap_or((String::new(), -1));
                let sql = format!(
                    "SELECT {ENVELOPE_COLUMNS} FROM envelopes \
                     WHERE (collection, position) > ($1, $2) \
                     ORDER BY collection, position LIMIT {size}"
                );
                (sql, vec![text(collection), int8(after)])
            },
            envelope_of,
            |e| {
                let position = signed(e.position).unwrap_or(i64::MAX);
                (e.collection.clone(), position)
            },
        )
    }

    fn added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredObject> {
        self.added_after_expecting(collection, object_type, after, CHUNK)
    }

    fn added_after_expecting(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
        expected: usize,
    ) -> StoreIter<'_, StoredObject> {
        let start = after.map_or(-1, after_bound);
        let collection = collection.to_owned();
        let object_type = object_type.map(str::to_owned);
        walk(
            &self.pool,
            expected,
            move |key: Option<&i64>, size| {
                let after = *key.unwrap_or(&start);
                let mut params = vec![text(collection.as_str()), int8(after)];
                let by_type = match &object_type {
                    Some(object_type) => {
                        params.push(text(object_type.as_str()));
                        "AND type = $3"
                    }
                    None => "",
                };
                let sql = format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE collection = $1 AND date_added > $2 \
                     {by_type} ORDER BY date_added LIMIT {size}"
                );
                (sql, params)
            },
            object_of,
            |o| signed(o.date_added).unwrap_or(i64::MAX),
        )
    }

    fn collection_summary(&self, collection: &str) -> StoreResult<CollectionSummary> {
        let sql = "SELECT c.objects, c.envelopes, \
                          (SELECT max(date_added) FROM objects WHERE collection = $1) \
                   FROM (SELECT 1) AS one LEFT JOIN collections c ON c.id = $1";
        let summary = self.first(sql, vec![text(collection)], |row| {
            Ok(CollectionSummary {
                objects: unsigned(row.get::<_, Option<i64>>(0).unwrap_or(0), "count")?,
                envelopes: unsigned(row.get::<_, Option<i64>>(1).unwrap_or(0), "count")?,
                newest_added: row
                    .get::<_, Option<i64>>(2)
                    .map(|d| unsigned(d, "date_added"))
                    .transpose()?,
            })
        })?;
        Ok(summary.unwrap_or_default())
    }

    fn object(
        &self,
        collection: &str,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<StoredObject>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE collection = $1 AND stix_id = $2 AND version = $3"
        );
        let params = vec![text(collection), text(id), int8(version)];
        self.first(&sql, params, object_of)
    }

    fn object_versions(&self, collection: &str, id: &str) -> StoreResult<Vec<StoredObject>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE collection = $1 AND stix_id = $2 ORDER BY version"
        );
        let params = vec![text(collection), text(id)];
        rows(&self.pool, sql, params)?
            .iter()
            .map(object_of)
            .collect()
    }

    fn version_bounds(&self, collection: &str, id: &str) -> StoreResult<Option<(i64, i64)>> {
        let sql =
            "SELECT min(version), max(version) FROM objects WHERE collection = $1 AND stix_id = $2";
        let params = vec![text(collection), text(id)];
        let bounds = self.first(sql, params, |row| {
            Ok(row
                .get::<_, Option<i64>>(0)
                .zip(row.get::<_, Option<i64>>(1)))
        })?;
        Ok(bounds.flatten())
    }

    fn version_bounds_of(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> StoreResult<HashMap<String, (i64, i64)>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<String> = ids.into_iter().map(str::to_owned).collect();
        // Each id by the index, as the write path's reads (see `write/lock.rs`).
        let sql = "SELECT named.stix_id, bounds.first, bounds.last FROM unnest($2::text[]) AS named (stix_id) \
                   CROSS JOIN LATERAL (SELECT min(version) AS first, max(version) AS last FROM objects \
                                       WHERE collection = $1 AND stix_id = named.stix_id) AS bounds \
                   WHERE bounds.first IS NOT NULL";
        let params = vec![text(collection), (Box::new(ids) as _, Type::TEXT_ARRAY)];
        rows(&self.pool, sql.to_owned(), params)?
            .iter()
            .map(|row| Ok((row.get(0), (row.get(1), row.get(2)))))
            .collect()
    }

    fn has_multiple_versions(&self, collection: &str) -> StoreResult<bool> {
        let sql = "SELECT multi_version_ids > 0 FROM collections WHERE id = $1";
        let multiple = self.first(sql, vec![text(collection)], |row| Ok(row.get::<_, bool>(0)))?;
        Ok(multiple.unwrap_or(false))
    }

    fn all_objects(&self) -> StoreIter<'_, (String, StoredObject)> {
        walk(
            &self.pool,
            CHUNK,
            |key: Option<&(String, i64)>, size| {
                let (collection, after) = key.cloned().unwrap_or((String::new(), -1));
                let sql = format!(
                    "SELECT {OBJECT_COLUMNS}, collection FROM objects \
                     WHERE (collection, date_added) > ($1, $2) \
                     ORDER BY collection, date_added LIMIT {size}"
                );
                (sql, vec![text(collection), int8(after)])
            },
            |row| Ok((row.get::<_, String>(5), object_of(row)?)),
            |(collection, object)| {
                (
                    collection.clone(),
                    signed(object.date_added).unwrap_or(i64::MAX),
                )
            },
        )
    }

    fn status(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT text FROM statuses WHERE id = $1";
        self.first(sql, vec![text(id)], |row| Ok(row.get(0)))
    }

    fn statuses(&self) -> StoreIter<'_, StoredStatus> {
        walk(
            &self.pool,
            CHUNK,
            |key: Option<&String>, size| {
                let sql = format!(
                    "SELECT id, stored_at, text FROM statuses WHERE $1::text IS NULL OR id > $1 \
                     ORDER BY id LIMIT {size}"
                );
                (sql, vec![(Box::new(key.cloned()) as _, Type::TEXT)])
            },
            |row| {
                Ok(StoredStatus {
                    id: row.get(0),
                    stored_at: unsigned(row.get(1), "status time")?,
                    text: row.get(2),
                })
            },
            |status| status.id.clone(),
        )
    }

    fn note(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT value FROM notes WHERE key = $1";
        self.first(sql, vec![text(key)], |row| Ok(row.get(0)))
    }

    fn notes(&self) -> StoreIter<'_, (String, Vec<u8>)> {
        walk(
            &self.pool,
            CHUNK,
            |key: Option<&String>, size| {
                let sql = format!(
                    "SELECT key, value FROM notes WHERE $1::text IS NULL OR key > $1 \
                     ORDER BY key LIMIT {size}"
                );
                (sql, vec![(Box::new(key.cloned()) as _, Type::TEXT)])
            },
            |row| Ok((row.get::<_, String>(0), row.get::<_, Vec<u8>>(1))),
            |(key, _)| key.clone(),
        )
    }

    fn view(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT value FROM views WHERE key = $1";
        self.first(sql, vec![bytea(key.to_vec())], |row| Ok(row.get(0)))
    }

    fn view_range(&self, prefix: &[u8], after: Option<&[u8]>) -> StoreIter<'_, (Vec<u8>, Vec<u8>)> {
        let prefix = prefix.to_vec();
        let end = successor(&prefix);
        let after = after.map(<[u8]>::to_vec);
        walk(
            &self.pool,
            CHUNK,
            move |key: Option<&Vec<u8>>, size| {
                let sql = format!(
                    "SELECT key, value FROM views WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) \
                     AND ($3::bytea IS NULL OR key > $3) ORDER BY key LIMIT {size}"
                );
                let after = key.cloned().or_else(|| after.clone());
                (
                    sql,
                    vec![
                        bytea(prefix.clone()),
                        (Box::new(end.clone()) as _, Type::BYTEA),
                        (Box::new(after) as _, Type::BYTEA),
                    ],
                )
            },
            |row| Ok((row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1))),
            |(key, _)| key.clone(),
        )
    }

    fn cursor_secret(&self) -> StoreResult<[u8; 32]> {
        let fresh: Vec<u8> = uuid::Uuid::new_v4()
            .as_bytes()
            .iter()
            .chain(uuid::Uuid::new_v4().as_bytes())
            .copied()
            .collect();
        // Only the first node's secret is kept, whoever races.
        let sql = "WITH made AS (INSERT INTO meta (name, value) VALUES ('cursor-secret', $1) \
                                 ON CONFLICT (name) DO NOTHING RETURNING value) \
                   SELECT value FROM made UNION ALL SELECT value FROM meta WHERE name = 'cursor-secret'";
        let value = |row: &Row| Ok(row.get::<_, Vec<u8>>(0));
        let stored = match self.first(sql, vec![bytea(fresh)], value)? {
            Some(stored) => stored,
            // Another node made it while this statement waited, after its snapshot was taken.
            None => self
                .first(
                    "SELECT value FROM meta WHERE name = 'cursor-secret'",
                    Vec::new(),
                    value,
                )?
                .ok_or_else(|| StoreError::Malformed("cursor secret".into()))?,
        };
        stored
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Malformed("cursor secret".into()))
    }

    fn follow_others(&self, added: OthersAdded) {
        self.pool.spawn(|shared| listen::listen(shared, added));
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        let sql = "SELECT pg_database_size(current_database())";
        let size = self.first(sql, Vec::new(), |row| unsigned(row.get(0), "size"))?;
        Ok(size.unwrap_or(0))
    }
}
