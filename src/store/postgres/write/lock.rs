//! What a group names, the locks it takes and what it reads before it decides.

use std::collections::BTreeSet;

use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

use super::{Collection, Group, Version};
use crate::store::postgres::{db_error, unsigned};
use crate::store::{StoreError, StoreResult, WriteOp};

/// The collections, envelope ids and STIX ids a group names, sorted and without repeats.
pub(super) struct Names {
    pub(super) collections: Vec<String>,
    /// (collection, envelope id) pairs, as two arrays.
    envelope_collections: Vec<String>,
    envelope_ids: Vec<String>,
    /// (collection, STIX id) pairs, as two arrays.
    object_collections: Vec<String>,
    object_ids: Vec<String>,
}

impl Names {
    pub(super) fn of(ops: &[WriteOp]) -> Self {
        let mut collections = BTreeSet::new();
        let mut envelope_ids = BTreeSet::new();
        let mut objects = BTreeSet::new();
        for op in ops {
            match op {
                WriteOp::PutEnvelope {
                    envelope,
                    collection,
                    objects: new,
                    ..
                } => {
                    collections.insert(collection);
                    envelope_ids.insert((collection, envelope.id().as_str()));
                    objects.extend(new.iter().map(|o| (collection, &o.id)));
                }
                WriteOp::PutObject { collection, object } => {
                    collections.insert(collection);
                    objects.insert((collection, &object.id));
                }
                WriteOp::DeleteObject { collection, id, .. } => {
                    collections.insert(collection);
                    objects.insert((collection, id));
                }
                WriteOp::RestoreEnvelope(envelope) => {
                    collections.insert(&envelope.collection);
                    envelope_ids.insert((&envelope.collection, envelope.id.as_str()));
                }
                WriteOp::RestoreObject { collection, object } => {
                    collections.insert(collection);
                    objects.insert((collection, &object.id));
                }
                _ => {}
            }
        }
        let (object_collections, object_ids) = objects
            .into_iter()
            .map(|(c, id)| (c.clone(), id.clone()))
            .unzip();
        let (envelope_collections, envelope_ids) = envelope_ids
            .into_iter()
            .map(|(c, id)| (c.clone(), id.to_owned()))
            .unzip();
        Self {
            collections: collections.into_iter().cloned().collect(),
            envelope_collections,
            envelope_ids,
            object_collections,
            object_ids,
        }
    }
}

/// Takes the group's locks, then reads what its ops decide on: all sent at once (PostgreSQL runs them in order,
/// so the reads run once the locks are held), answered in one round trip.
///
/// The reads look each named id up by its index (a lateral subquery the planner cannot turn into a join). As
/// joins with the named ids, the planner, told of 2,000 ids, hashed the whole table instead: 146 ms per group at
/// 100,000 objects and growing with the table, against 12 to 25 ms by the index.
pub(super) async fn lock_and_read(
    transaction: &Transaction<'_>,
    names: &Names,
) -> StoreResult<Group> {
    let floor = async {
        if names.envelope_ids.is_empty() {
            return Ok(None);
        }
        transaction
            .query_typed_one(
                "SELECT value FROM counters WHERE name = 'envelope_position'",
                &[],
            )
            .await
            .map(Some)
    };
    let collections = async {
        if names.collections.is_empty() {
            return Ok(Vec::new());
        }
        transaction
            .query_typed(
                "SELECT id, last_added, objects, envelopes, multi_version_ids, next_position \
                 FROM collections \
                 WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                &[(&names.collections, Type::TEXT_ARRAY)],
            )
            .await
    };
    // The database's clock, read once the locks are held, so that it is later than what earlier holders read.
    let clock = transaction.query_typed_one(
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
        &[],
    );
    let envelopes = async {
        if names.envelope_ids.is_empty() {
            return Ok(Vec::new());
        }
        transaction
            .query_typed(
                "SELECT named.collection, named.id, newest.version, newest.text \
                 FROM unnest($1::text[], $2::text[]) AS named (collection, id) \
                 CROSS JOIN LATERAL (SELECT version, text FROM envelopes \
                                     WHERE envelopes.collection = named.collection \
                                       AND envelopes.id = named.id \
                                     ORDER BY version DESC LIMIT 1) AS newest",
                &[
                    (&names.envelope_collections, Type::TEXT_ARRAY),
                    (&names.envelope_ids, Type::TEXT_ARRAY),
                ],
            )
            .await
    };
    let objects = async {
        if names.object_ids.is_empty() {
            return Ok(Vec::new());
        }
        transaction
            .query_typed(
                "SELECT o.collection, o.stix_id, o.version, o.date_added \
                 FROM unnest($1::text[], $2::text[]) AS named (collection, stix_id) \
                 CROSS JOIN LATERAL (SELECT collection, stix_id, version, date_added FROM objects \
                                     WHERE objects.collection = named.collection \
                                       AND objects.stix_id = named.stix_id OFFSET 0) AS o",
                &[
                    (&names.object_collections, Type::TEXT_ARRAY),
                    (&names.object_ids, Type::TEXT_ARRAY),
                ],
            )
            .await
    };
    let (floor, collections, clock, envelopes, objects) =
        tokio::try_join!(floor, collections, clock, envelopes, objects).map_err(db_error)?;

    let envelope_floor = match floor {
        Some(row) => unsigned(row.get(0), "envelope floor")?,
        None => 0,
    };
    let mut group = Group {
        now: unsigned(clock.get(0), "database clock")?,
        envelope_floor,
        ..Group::default()
    };
    for row in collections {
        let collection = Collection {
            last_added: unsigned(row.get(1), "last date_added")?,
            objects: row.get(2),
            envelopes: row.get(3),
            multi_version_ids: row.get(4),
            next_position: unsigned(row.get(5), "next position")?,
        };
        group.collections.insert(row.get(0), collection);
    }
    for row in envelopes {
        let version = u32::try_from(row.get::<_, i64>(2))
            .map_err(|_| StoreError::Malformed("envelope version".into()))?;
        let key = (row.get(0), row.get(1));
        group.envelopes.insert(key, (version, row.get(3)));
    }
    for row in objects {
        let key = (row.get(0), row.get(1));
        let date_added = row.get(3);
        group
            .versions
            .entry(key)
            .or_default()
            .insert(row.get(2), Version::Stored { date_added });
    }
    for (key, versions) in &group.versions {
        group.had_several.insert(key.clone(), versions.len() > 1);
    }
    Ok(group)
}
