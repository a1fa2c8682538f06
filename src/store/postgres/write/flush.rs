//! Writing out what a group worked out: one statement per table, arrays in, `unnest` in the database, all sent
//! at once.

use std::collections::HashMap;

use tokio_postgres::Transaction;
use tokio_postgres::types::{ToSql, Type};

use super::Group;
use crate::store::StoreResult;
use crate::store::postgres::listen::CHANNEL;
use crate::store::postgres::{db_error, signed};
use crate::store::type_of;

pub(super) async fn write(
    transaction: &Transaction<'_>,
    group: Group,
    node: &str,
) -> StoreResult<()> {
    let objects = ObjectColumns::of(&group);
    let envelopes = EnvelopeColumns::of(&group);
    let collections = CollectionColumns::of(&group);
    let keyed = KeyedColumns::of(&group);
    let notified = notifications(&group, node);
    // Sent at once and answered in one round trip; PostgreSQL runs them in this order.
    let mut statements: Vec<Statement<'_>> = Vec::new();
    if !group.deleted_objects.is_empty() {
        statements.push(statement(
            transaction,
            "DELETE FROM objects USING unnest($1::text[], $2::int8[]) AS gone (collection, date_added) \
                 WHERE objects.collection = gone.collection AND objects.date_added = gone.date_added",
            vec![
                (&objects.deleted_collections, Type::TEXT_ARRAY),
                (&objects.deleted_dates, Type::INT8_ARRAY),
            ],
        ));
    }
    if !objects.dates.is_empty() {
        statements.push(statement(
            transaction,
            "INSERT INTO objects (collection, date_added, stix_id, type, version, version_text, text) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], \
                                  $6::text[], $7::bytea[])",
            vec![
                (&objects.collections, Type::TEXT_ARRAY),
                (&objects.dates, Type::INT8_ARRAY),
                (&objects.ids, Type::TEXT_ARRAY),
                (&objects.types, Type::TEXT_ARRAY),
                (&objects.versions, Type::INT8_ARRAY),
                (&objects.version_texts, Type::TEXT_ARRAY),
                (&objects.texts, Type::BYTEA_ARRAY),
            ],
        ));
    }
    if !envelopes.ids.is_empty() {
        statements.push(statement(
            transaction,
            "INSERT INTO envelopes (id, version, position, collection, received, text) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::int8[], $6::bytea[])",
            vec![
                (&envelopes.ids, Type::TEXT_ARRAY),
                (&envelopes.versions, Type::INT8_ARRAY),
                (&envelopes.positions, Type::INT8_ARRAY),
                (&envelopes.collections, Type::TEXT_ARRAY),
                (&envelopes.received, Type::INT8_ARRAY),
                (&envelopes.texts, Type::BYTEA_ARRAY),
            ],
        ));
    }
    if !collections.ids.is_empty() {
        statements.push(statement(
            transaction,
            "UPDATE collections SET last_added = new.last_added, objects = new.objects, \
                    envelopes = new.envelopes, multi_version_ids = new.multi, \
                    next_position = new.next_position \
             FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
                  AS new (id, last_added, objects, envelopes, multi, next_position) \
             WHERE collections.id = new.id",
            vec![
                (&collections.ids, Type::TEXT_ARRAY),
                (&collections.last_added, Type::INT8_ARRAY),
                (&collections.objects, Type::INT8_ARRAY),
                (&collections.envelopes, Type::INT8_ARRAY),
                (&collections.multi, Type::INT8_ARRAY),
                (&collections.next_position, Type::INT8_ARRAY),
            ],
        ));
    }
    if !keyed.gone_statuses.is_empty() {
        statements.push(statement(
            transaction,
            "DELETE FROM statuses WHERE id = ANY($1)",
            vec![(&keyed.gone_statuses, Type::TEXT_ARRAY)],
        ));
    }
    if !keyed.status_ids.is_empty() {
        statements.push(statement(
            transaction,
            "INSERT INTO statuses (id, stored_at, text) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[]) \
             ON CONFLICT (id) DO UPDATE SET stored_at = excluded.stored_at, text = excluded.text",
            vec![
                (&keyed.status_ids, Type::TEXT_ARRAY),
                (&keyed.status_times, Type::INT8_ARRAY),
                (&keyed.status_texts, Type::BYTEA_ARRAY),
            ],
        ));
    }
    if !keyed.note_keys.is_empty() {
        statements.push(statement(
            transaction,
            "INSERT INTO notes (key, value) SELECT * FROM unnest($1::text[], $2::bytea[]) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![
                (&keyed.note_keys, Type::TEXT_ARRAY),
                (&keyed.note_values, Type::BYTEA_ARRAY),
            ],
        ));
    }
    if !keyed.gone_views.is_empty() {
        statements.push(statement(
            transaction,
            "DELETE FROM views WHERE key = ANY($1)",
            vec![(&keyed.gone_views, Type::BYTEA_ARRAY)],
        ));
    }
    if !keyed.view_keys.is_empty() {
        statements.push(statement(
            transaction,
            "INSERT INTO views (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![
                (&keyed.view_keys, Type::BYTEA_ARRAY),
                (&keyed.view_values, Type::BYTEA_ARRAY),
            ],
        ));
    }
    if !notified.is_empty() {
        statements.push(statement(
            transaction,
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
            vec![(&CHANNEL, Type::TEXT), (&notified, Type::TEXT_ARRAY)],
        ));
    }
    futures_util::future::try_join_all(statements)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// One statement of a group's writes, under way.
type Statement<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
>;

fn statement<'a>(
    transaction: &'a Transaction<'_>,
    sql: &'static str,
    params: Vec<(&'a (dyn ToSql + Sync), Type)>,
) -> Statement<'a> {
    Box::pin(async move { transaction.execute_typed(sql, &params).await })
}

/// The new and deleted object rows, as arrays.
struct ObjectColumns<'a> {
    collections: Vec<&'a str>,
    dates: Vec<i64>,
    ids: Vec<&'a str>,
    types: Vec<&'a str>,
    versions: Vec<i64>,
    version_texts: Vec<&'a str>,
    texts: Vec<&'a [u8]>,
    deleted_collections: Vec<&'a str>,
    deleted_dates: Vec<i64>,
}

impl<'a> ObjectColumns<'a> {
    fn of(group: &'a Group) -> Self {
        let rows = &group.new_objects;
        Self {
            collections: rows.iter().map(|r| r.collection.as_str()).collect(),
            dates: rows
                .iter()
                .map(|r| signed(r.object.date_added).unwrap_or(i64::MAX))
                .collect(),
            ids: rows.iter().map(|r| r.object.id.as_str()).collect(),
            types: rows.iter().map(|r| type_of(&r.object.id)).collect(),
            versions: rows.iter().map(|r| r.object.version).collect(),
            version_texts: rows
                .iter()
                .map(|r| r.object.version_text.as_str())
                .collect(),
            texts: rows.iter().map(|r| r.object.text.as_slice()).collect(),
            deleted_collections: group
                .deleted_objects
                .iter()
                .map(|(c, _)| c.as_str())
                .collect(),
            deleted_dates: group.deleted_objects.iter().map(|(_, d)| *d).collect(),
        }
    }
}

/// The new envelope rows, as arrays.
struct EnvelopeColumns<'a> {
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    positions: Vec<i64>,
    collections: Vec<&'a str>,
    received: Vec<i64>,
    texts: Vec<&'a [u8]>,
}

impl<'a> EnvelopeColumns<'a> {
    fn of(group: &'a Group) -> Self {
        let rows = &group.new_envelopes;
        Self {
            ids: rows.iter().map(|e| e.id.as_str()).collect(),
            versions: rows.iter().map(|e| i64::from(e.version)).collect(),
            positions: rows
                .iter()
                .map(|e| signed(e.position).unwrap_or(i64::MAX))
                .collect(),
            collections: rows.iter().map(|e| e.collection.as_str()).collect(),
            received: rows
                .iter()
                .map(|e| signed(e.received).unwrap_or(i64::MAX))
                .collect(),
            texts: rows.iter().map(|e| e.text.as_slice()).collect(),
        }
    }
}

/// The collections' rows: last `date_added`, counts, and how many ids have several versions now.
struct CollectionColumns<'a> {
    ids: Vec<&'a str>,
    last_added: Vec<i64>,
    objects: Vec<i64>,
    envelopes: Vec<i64>,
    multi: Vec<i64>,
    next_position: Vec<i64>,
}

impl<'a> CollectionColumns<'a> {
    fn of(group: &'a Group) -> Self {
        let mut several: HashMap<&str, i64> = HashMap::new();
        for (key, versions) in &group.versions {
            let before = group.had_several.get(key).copied().unwrap_or(false);
            let after = versions.len() > 1;
            *several.entry(key.0.as_str()).or_default() += i64::from(after) - i64::from(before);
        }
        let mut columns = Self {
            ids: Vec::new(),
            last_added: Vec::new(),
            objects: Vec::new(),
            envelopes: Vec::new(),
            multi: Vec::new(),
            next_position: Vec::new(),
        };
        for (id, row) in &group.collections {
            columns.ids.push(id.as_str());
            columns
                .last_added
                .push(signed(row.last_added).unwrap_or(i64::MAX));
            columns.objects.push(row.objects);
            columns.envelopes.push(row.envelopes);
            columns
                .next_position
                .push(signed(row.next_position).unwrap_or(i64::MAX));
            columns
                .multi
                .push(row.multi_version_ids + several.get(id.as_str()).copied().unwrap_or(0));
        }
        columns
    }
}

/// Statuses, notes and views: what is deleted, and what is put.
struct KeyedColumns<'a> {
    gone_statuses: Vec<&'a str>,
    status_ids: Vec<&'a str>,
    status_times: Vec<i64>,
    status_texts: Vec<&'a [u8]>,
    note_keys: Vec<&'a str>,
    note_values: Vec<&'a [u8]>,
    gone_views: Vec<&'a [u8]>,
    view_keys: Vec<&'a [u8]>,
    view_values: Vec<&'a [u8]>,
}

impl<'a> KeyedColumns<'a> {
    fn of(group: &'a Group) -> Self {
        let mut columns = Self {
            gone_statuses: Vec::new(),
            status_ids: Vec::new(),
            status_times: Vec::new(),
            status_texts: Vec::new(),
            note_keys: group.notes.keys().map(String::as_str).collect(),
            note_values: group.notes.values().map(Vec::as_slice).collect(),
            gone_views: Vec::new(),
            view_keys: Vec::new(),
            view_values: Vec::new(),
        };
        for (id, status) in &group.statuses {
            match status {
                None => columns.gone_statuses.push(id.as_str()),
                Some((at, text)) => {
                    columns.status_ids.push(id.as_str());
                    columns.status_times.push(*at);
                    columns.status_texts.push(text.as_slice());
                }
            }
        }
        for (key, value) in &group.views {
            match value {
                None => columns.gone_views.push(key.as_slice()),
                Some(value) => {
                    columns.view_keys.push(key.as_slice());
                    columns.view_values.push(value.as_slice());
                }
            }
        }
        columns
    }
}

/// The notifications that tell the other nodes' listeners (see `listen.rs`) which collections got objects or
/// envelopes, sent once the transaction commits: one per collection, whatever the group's size.
fn notifications(group: &Group, node: &str) -> Vec<String> {
    let collections: std::collections::BTreeSet<&str> = group
        .new_objects
        .iter()
        .map(|row| row.collection.as_str())
        .chain(group.new_envelopes.iter().map(|e| e.collection.as_str()))
        .collect();
    collections
        .iter()
        .map(|collection| format!("{node}\t{collection}"))
        .collect()
}
