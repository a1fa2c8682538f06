//! The PostgreSQL engine: every node of a cluster of stixgate processes reads and writes one database.
//!
//! `pool.rs` connects (TLS, pool, the runtime the connections run on), `schema.rs` makes the schema,
//! `write.rs` applies a writer group in one transaction, `read.rs` answers the reads, `lease.rs` keeps the leases
//! of the background jobs, `snapshot.rs` holds one moment of the database for a backup.
//!
//! Ordering across nodes: every write to a collection first locks the collection's row in `collections` and
//! takes `date_added` from it (`max(now, last + 1)`, with the database's clock), and its envelopes' positions
//! (`next_position`: positions count one collection). PostgreSQL releases row locks only once the holder's commit
//! is visible, so the next writer of a collection commits after the previous one: the committed objects and
//! envelopes of a collection are always a prefix in `date_added` (position) order, and a reader paging by them
//! never skips one.

mod lease;
mod listen;
mod pool;
mod read;
mod schema;
mod snapshot;
mod write;

use crate::store::{StoreError, StoreResult};

pub use lease::PostgresLeases;
use pool::Pool;
pub use pool::{PostgresOptions, SslMode};

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the database and makes its schema if it is empty. Fails when the database cannot be reached
    /// or holds a schema of another version than this stixgate's.
    pub fn open(options: &PostgresOptions) -> StoreResult<Self> {
        let pool = Pool::new(options)?;
        pool.run(|shared| async move {
            let mut client = shared.connection().await?;
            schema::prepare(&mut client).await
        })?;
        Ok(Self { pool })
    }
}

/// The message of a PostgreSQL error: the server's own words when it sent some (tokio-postgres shows only
/// "db error" for those), else the error with its causes (a TLS handshake's says why the certificate failed).
pub(super) fn describe_error(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        message.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    // A local PostgreSQL often has no TLS, and the default `sslmode` asks for it.
    if message.contains(SERVER_WITHOUT_TLS) {
        message.push_str(
            " (to connect without TLS, as to a database on this host, set store.sslmode = \"disable\", \
             or STIXGATE_STORE__SSLMODE=disable)",
        );
    }
    message
}

/// tokio-postgres's words when the server answers that it speaks no TLS.
const SERVER_WITHOUT_TLS: &str = "server does not support TLS";

fn db_error(error: tokio_postgres::Error) -> StoreError {
    StoreError::Io(Box::new(DatabaseError(error)))
}

/// A PostgreSQL error as the store reports it: with [`describe_error`]'s message, and its SQLSTATE kept for
/// [`must_retry`].
#[derive(Debug)]
struct DatabaseError(tokio_postgres::Error);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe_error(&self.0))
    }
}

impl std::error::Error for DatabaseError {}

/// Whether a failed transaction was rolled back for a conflict with another one, so that running it again is
/// safe and likely to succeed: a deadlock, or a serialization failure.
fn must_retry(error: &StoreError) -> bool {
    use tokio_postgres::error::SqlState;
    let StoreError::Io(source) = error else {
        return false;
    };
    source
        .downcast_ref::<DatabaseError>()
        .and_then(|e| e.0.code())
        .is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
}

/// The largest time or position a `bigint` column stores.
const LARGEST: u64 = i64::MAX.unsigned_abs();

/// A stored time or position as PostgreSQL's `bigint`; the few values above it cannot be stored.
fn signed(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// A value read from a `bigint` column that holds only non-negative numbers.
fn unsigned(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Malformed(format!("negative {what}")))
}

/// The smallest byte string greater than every string starting with `prefix`; `None` when there is none.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod successor_tests {
    use super::successor;

    #[test]
    fn the_successor_of_a_prefix_bounds_every_key_that_starts_with_it() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(successor(b""), None);
    }
}

#[cfg(test)]
#[path = "../../../tests/support/pg_cluster.rs"]
pub(crate) mod pg_cluster;

#[cfg(test)]
mod tests;
