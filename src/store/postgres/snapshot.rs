//! One moment of the database for a backup: a store whose one connection stays inside one REPEATABLE READ
//! transaction, so that every read of the backup, chunk after chunk and table after table, sees the same
//! snapshot while the nodes go on writing.

use super::pool::Pool;
use super::{PostgresOptions, PostgresStore, db_error};
use crate::store::{StoreError, StoreResult};

/// What identifies the snapshot's transaction: its server process and its start time (`now()` is the same
/// for a whole transaction).
pub struct Begun {
    backend: i32,
    started: String,
}

impl PostgresStore {
    /// A store that reads one snapshot of the database until [`PostgresStore::end_snapshot`]. Writes through
    /// it would also go into the snapshot's transaction: use it for reading only.
    pub fn open_snapshot(options: &PostgresOptions) -> StoreResult<(Self, Begun)> {
        // Checks the schema (or makes it), as any start does, then leaves its one connection inside the transaction.
        let store = Self::open(&PostgresOptions {
            pool_size: 1,
            ..options.clone()
        })?;
        let begun = identify(&store.pool, "BEGIN ISOLATION LEVEL REPEATABLE READ")?;
        Ok((store, begun))
    }

    /// Ends the snapshot. Fails when some read came from another transaction: the connection broke and the
    /// pool opened a new one, so the backup is not of one moment.
    pub fn end_snapshot(&self, begun: &Begun) -> StoreResult<()> {
        let now = identify(&self.pool, "")?;
        if (now.backend, &now.started) != (begun.backend, &begun.started) {
            return Err(StoreError::Io(
                "the connection to the database broke during the backup, so it is not one snapshot; \
                 take it again"
                    .into(),
            ));
        }
        self.pool.run(|shared| async move {
            let client = shared.connection().await?;
            client.batch_execute("COMMIT").await.map_err(db_error)
        })
    }
}

/// Runs `first` (if any), then names the transaction the connection is in.
fn identify(pool: &Pool, first: &'static str) -> StoreResult<Begun> {
    pool.run(move |shared| async move {
        let client = shared.connection().await?;
        if !first.is_empty() {
            client.batch_execute(first).await.map_err(db_error)?;
        }
        let row = client
            .query_one("SELECT pg_backend_pid(), now()::text", &[])
            .await
            .map_err(db_error)?;
        Ok(Begun {
            backend: row.get(0),
            started: row.get(1),
        })
    })
}
