//! The schema: made on an empty database at startup, in one transaction under an advisory lock, so that nodes
//! starting together make it once; a database of any other schema version is refused.
//!
//! Until the first release, schemas before the current one are refused, not migrated: such a database moves by a
//! backup taken with the stixgate that made it, restored into an empty database with this one (the backup format
//! carries its version, so that a backup is read the same across the change).

use tokio_postgres::Client;

use super::db_error;
use crate::store::{StoreError, StoreResult};

/// The schema this stixgate makes and reads: version 3 (earlier ones had envelope ids unique across collections,
/// and no leases).
const SCHEMA: &str = include_str!("schema.sql");
const VERSION: i32 = 3;

/// Any fixed number: the advisory lock that starting nodes take in turn.
const SCHEMA_LOCK: i64 = 0x5354_4958_4741_5445;

/// Makes the schema on an empty database; accepts one of this version; refuses an earlier or a later one.
pub(super) async fn prepare(client: &mut Client) -> StoreResult<()> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
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
    let known = VERSION;
    match found {
        VERSION => {}
        0 => {
            transaction.batch_execute(SCHEMA).await.map_err(db_error)?;
            transaction
                .execute(
                    "INSERT INTO stixgate_schema (version) VALUES ($1)",
                    &[&VERSION],
                )
                .await
                .map_err(db_error)?;
            tracing::info!(version = VERSION, "made the PostgreSQL schema");
        }
        found if found > known => return Err(StoreError::NewerSchema { found, known }),
        found => return Err(StoreError::EarlierSchema { found, known }),
    }
    transaction.commit().await.map_err(db_error)
}
