//! Job leases in the `leases` table (`schema.sql`), on a connection of their own, so that a busy pool
//! never delays a renewal past its term.

use std::time::Duration;

use super::pool::Pool;
use super::{PostgresOptions, db_error, unsigned};
use crate::store::{Lease, Leases, StoreError, StoreResult};

/// Takes the free and expired leases and renews the node's own, in one statement. PostgreSQL locks the row of
/// a job that two nodes take at once: the second re-checks the condition against the first one's row, and
/// takes nothing.
const TAKE: &str = "
    INSERT INTO leases AS lease (job, holder, expires)
    SELECT job, $2::text, now() + $3::float8 * interval '1 second' FROM unnest($1::text[]) AS job
    ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
        WHERE lease.expires < now() OR lease.holder = excluded.holder
    RETURNING job";

const HOLDERS: &str = "
    SELECT job, holder, (extract(epoch FROM expires) * 1000000)::bigint FROM leases
    WHERE job = ANY($1) AND expires >= now()";

pub struct PostgresLeases {
    pool: Pool,
}

impl PostgresLeases {
    /// Opens the leases' own connection; the schema must be made already (by [`super::PostgresStore::open`]).
    pub fn open(options: &PostgresOptions) -> StoreResult<Self> {
        let options = PostgresOptions {
            pool_size: 1,
            ..options.clone()
        };
        Ok(Self {
            pool: Pool::new(&options)?,
        })
    }
}

impl Leases for PostgresLeases {
    fn take(&self, node: &str, jobs: &[String], term: Duration) -> StoreResult<Vec<String>> {
        let (node, jobs, seconds) = (node.to_owned(), jobs.to_vec(), term.as_secs_f64());
        self.pool.run(move |shared| async move {
            // A renewal later than the term is no use; one that hangs must not hold up the next.
            let take = async {
                let client = shared.connection().await?;
                let rows = client
                    .query(TAKE, &[&jobs, &node, &seconds])
                    .await
                    .map_err(db_error)?;
                Ok(rows.iter().map(|row| row.get(0)).collect())
            };
            tokio::time::timeout(term, take)
                .await
                .map_err(|_| StoreError::Io("taking the job leases timed out".into()))?
        })
    }

    fn release(&self, node: &str) -> StoreResult<()> {
        let node = node.to_owned();
        self.pool.run(move |shared| async move {
            let client = shared.connection().await?;
            client
                .execute("DELETE FROM leases WHERE holder = $1", &[&node])
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn holders(&self, jobs: &[String]) -> StoreResult<Option<Vec<Lease>>> {
        let jobs = jobs.to_vec();
        self.pool.run(move |shared| async move {
            let client = shared.connection().await?;
            let rows = client.query(HOLDERS, &[&jobs]).await.map_err(db_error)?;
            let leases = rows
                .iter()
                .map(|row| {
                    Ok(Lease {
                        job: row.get(0),
                        holder: row.get(1),
                        expires: unsigned(row.get(2), "lease expiry")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some(leases))
        })
    }

    fn shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
