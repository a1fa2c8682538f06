//! The schema, by versioned migrations kept in `migrations/` and applied at startup, in one transaction under an
//! advisory lock, so that nodes starting together migrate once.

use tokio_postgres::Client;

use super::db_error;
use crate::store::{StoreError, StoreResult};

/// Every migration, in order; the schema's version is the number of those applied.
const MIGRATIONS: [&str; 3] = [
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_leases.sql"),
    include_str!("migrations/0003_envelopes_per_collection.sql"),
];

/// Any fixed number: the advisory lock that migrating nodes take in turn.
const MIGRATION_LOCK: i64 = 0x5354_4958_4741_5445;

/// Brings the schema to the version this stixgate knows; refuses one that is newer.
pub(super) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS stixgate_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(db_error)?;
    let row = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM stixgate_schema", &[])
        .await
        .map_err(db_error)?;
    let found: i32 = row.get(0);
    let known = i32::try_from(MIGRATIONS.len()).expect("few migrations");
    if found > known {
        return Err(StoreError::NewerSchema { found, known });
    }
    for (version, migration) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        transaction
            .batch_execute(migration)
            .await
            .map_err(db_error)?;
        transaction
            .execute(
                "INSERT INTO stixgate_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(db_error)?;
        tracing::info!(version, "migrated the PostgreSQL schema");
    }
    transaction.commit().await.map_err(db_error)
}
