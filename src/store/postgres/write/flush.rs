//! Writing out what a group worked out: one statement per table, arrays in, `unnest` in the database.

use tokio_postgres::Transaction;

use super::Group;
use crate::store::StoreResult;
use crate::store::postgres::{db_error, signed};
use crate::store::type_of;

pub(super) async fn write(transaction: &Transaction<'_>, group: Group) -> StoreResult<()> {
    if !group.deleted_objects.is_empty() {
        let (collections, dates): (Vec<String>, Vec<i64>) =
            group.deleted_objects.iter().cloned().unzip();
        transaction
            .execute(
                "DELETE FROM objects USING unnest($1::text[], $2::int8[]) AS gone (collection, date_added) \
                     WHERE objects.collection = gone.collection AND objects.date_added = gone.date_added",
                &[&collections, &dates],
            )
            .await
            .map_err(db_error)?;
    }
    if !group.new_objects.is_empty() {
        let rows = &group.new_objects;
        let collections: Vec<&str> = rows.iter().map(|r| r.collection.as_str()).collect();
        let dates: Vec<i64> = rows
            .iter()
            .map(|r| signed(r.object.date_added).unwrap_or(i64::MAX))
            .collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.object.id.as_str()).collect();
        let types: Vec<&str> = rows.iter().map(|r| type_of(&r.object.id)).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.object.version).collect();
        let version_texts: Vec<&str> = rows
            .iter()
            .map(|r| r.object.version_text.as_str())
            .collect();
        let texts: Vec<&[u8]> = rows.iter().map(|r| r.object.text.as_slice()).collect();
        transaction
            .execute(
                "INSERT INTO objects (collection, date_added, stix_id, type, version, version_text, text) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], \
                                      $6::text[], $7::bytea[])",
                &[&collections, &dates, &ids, &types, &versions, &version_texts, &texts],
            )
            .await
            .map_err(db_error)?;
    }
    if !group.new_envelopes.is_empty() {
        let rows = &group.new_envelopes;
        let ids: Vec<&str> = rows.iter().map(|e| e.id.as_str()).collect();
        let versions: Vec<i64> = rows.iter().map(|e| i64::from(e.version)).collect();
        let positions: Vec<i64> = rows
            .iter()
            .map(|e| signed(e.position).unwrap_or(i64::MAX))
            .collect();
        let collections: Vec<&str> = rows.iter().map(|e| e.collection.as_str()).collect();
        let received: Vec<i64> = rows
            .iter()
            .map(|e| signed(e.received).unwrap_or(i64::MAX))
            .collect();
        let texts: Vec<&[u8]> = rows.iter().map(|e| e.text.as_slice()).collect();
        transaction
            .execute(
                "INSERT INTO envelopes (id, version, position, collection, received, text) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::int8[], $6::bytea[])",
                &[&ids, &versions, &positions, &collections, &received, &texts],
            )
            .await
            .map_err(db_error)?;
    }
    if let Some(next) = group.next_position {
        transaction
            .execute(
                "UPDATE counters SET value = $1 WHERE name = 'envelope_position'",
                &[&next],
            )
            .await
            .map_err(db_error)?;
    }
    write_collections(transaction, &group).await?;
    write_keyed(transaction, &group).await
}

/// The collections' rows: last `date_added`, counts, and how many ids have several versions now.
async fn write_collections(transaction: &Transaction<'_>, group: &Group) -> StoreResult<()> {
    if group.collections.is_empty() {
        return Ok(());
    }
    let mut several: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (key, versions) in &group.versions {
        let before = group.had_several.get(key).copied().unwrap_or(false);
        let after = versions.len() > 1;
        *several.entry(key.0.as_str()).or_default() += i64::from(after) - i64::from(before);
    }
    let mut ids = Vec::new();
    let mut last_added = Vec::new();
    let mut objects = Vec::new();
    let mut envelopes = Vec::new();
    let mut multi = Vec::new();
    for (id, row) in &group.collections {
        ids.push(id.as_str());
        last_added.push(row.last_added);
        objects.push(row.objects);
        envelopes.push(row.envelopes);
        multi.push(row.multi_version_ids + several.get(id.as_str()).copied().unwrap_or(0));
    }
    transaction
        .execute(
            "UPDATE collections SET last_added = new.last_added, objects = new.objects, \
                    envelopes = new.envelopes, multi_version_ids = new.multi \
             FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) \
                  AS new (id, last_added, objects, envelopes, multi) \
             WHERE collections.id = new.id",
            &[&ids, &last_added, &objects, &envelopes, &multi],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Statuses, notes and views: deletes, then upserts.
async fn write_keyed(transaction: &Transaction<'_>, group: &Group) -> StoreResult<()> {
    let gone: Vec<&str> = group
        .statuses
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if !gone.is_empty() {
        transaction
            .execute("DELETE FROM statuses WHERE id = ANY($1)", &[&gone])
            .await
            .map_err(db_error)?;
    }
    let kept: Vec<(&str, i64, &[u8])> = group
        .statuses
        .iter()
        .filter_map(|(id, s)| {
            s.as_ref()
                .map(|(at, text)| (id.as_str(), *at, text.as_slice()))
        })
        .collect();
    if !kept.is_empty() {
        let ids: Vec<&str> = kept.iter().map(|s| s.0).collect();
        let times: Vec<i64> = kept.iter().map(|s| s.1).collect();
        let texts: Vec<&[u8]> = kept.iter().map(|s| s.2).collect();
        transaction
            .execute(
                "INSERT INTO statuses (id, stored_at, text) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[]) \
                 ON CONFLICT (id) DO UPDATE SET stored_at = excluded.stored_at, text = excluded.text",
                &[&ids, &times, &texts],
            )
            .await
            .map_err(db_error)?;
    }
    if !group.notes.is_empty() {
        let keys: Vec<&str> = group.notes.keys().map(String::as_str).collect();
        let values: Vec<&[u8]> = group.notes.values().map(Vec::as_slice).collect();
        transaction
            .execute(
                "INSERT INTO notes (key, value) SELECT * FROM unnest($1::text[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&keys, &values],
            )
            .await
            .map_err(db_error)?;
    }
    let gone: Vec<&[u8]> = group
        .views
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_slice())
        .collect();
    if !gone.is_empty() {
        transaction
            .execute("DELETE FROM views WHERE key = ANY($1)", &[&gone])
            .await
            .map_err(db_error)?;
    }
    let (keys, values): (Vec<&[u8]>, Vec<&[u8]>) = group
        .views
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.as_slice(), v.as_slice())))
        .unzip();
    if !keys.is_empty() {
        transaction
            .execute(
                "INSERT INTO views (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&keys, &values],
            )
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
