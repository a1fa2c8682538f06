//! Which engine keeps the data (`[store]`), and opening it: for serving, for a backup's snapshot, for leases.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::lease::Unshared;
use super::{
    Leases, PostgresLeases, PostgresOptions, PostgresStore, SledOptions, SledStore, SslMode, Store,
    StoreError, StoreResult,
};

/// Which engine keeps the data, as `[store]` configures it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub engine: Engine,
    /// sled only: its page cache in MiB, which bounds much of the store's memory.
    pub cache_mb: u64,
    /// sled only: where the text log starts a new segment, in MiB; compaction reclaims space a segment at a time.
    pub segment_mb: u32,
    /// PostgreSQL only: `postgres://user:password@host:port/database`. Secret: never logged or shown whole.
    pub url: Option<String>,
    /// PostgreSQL only: connections this process keeps at most.
    pub pool_size: usize,
    pub sslmode: SslMode,
    /// PostgreSQL only: PEM certificates to trust for `sslmode = "verify-full"`.
    pub ca: Option<PathBuf>,
    /// This node's name in the leases of background jobs; by default made at start from the host name, the
    /// process id and a random part.
    pub node_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Embedded, in the data directory: one process at a time.
    Sled,
    /// A PostgreSQL database that several stixgate processes share.
    Postgres,
}

impl StoreSettings {
    /// What `serve` would refuse in these settings, found without connecting.
    pub fn check(&self) -> StoreResult<()> {
        match self.engine {
            Engine::Sled if !(1..=1024).contains(&self.segment_mb) => {
                Err(StoreError::Settings(format!(
                    "store.segment_mb must be from 1 to 1024 (MiB), not {}",
                    self.segment_mb
                )))
            }
            Engine::Sled => Ok(()),
            Engine::Postgres => self.postgres().and_then(|options| options.check()),
        }
    }

    fn sled(&self) -> SledOptions {
        SledOptions {
            cache_mb: self.cache_mb,
            segment_mb: self.segment_mb,
        }
    }

    /// The PostgreSQL options, or why they are incomplete.
    fn postgres(&self) -> StoreResult<PostgresOptions> {
        let url = self.url.clone().ok_or_else(|| {
            StoreError::Settings("store.engine = \"postgres\" needs store.url".into())
        })?;
        Ok(PostgresOptions {
            url,
            pool_size: self.pool_size,
            sslmode: self.sslmode,
            ca: self.ca.clone(),
        })
    }
}

/// Opens the configured engine: sled in `data`, or the PostgreSQL database (then `data` holds only what is
/// this process's own, such as the admin endpoint's `admin.json`).
pub fn open(settings: &StoreSettings, data: &Path) -> StoreResult<Arc<dyn Store>> {
    Ok(match settings.engine {
        Engine::Sled => Arc::new(SledStore::open_with_options(data, settings.sled())?),
        Engine::Postgres => Arc::new(PostgresStore::open(&settings.postgres()?)?),
    })
}

/// A store opened to read one moment of it, for a backup, while others may write.
pub struct Snapshot {
    store: Arc<dyn Store>,
    end: Box<dyn FnOnce() -> StoreResult<()> + Send>,
}

impl Snapshot {
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Ends the snapshot; fails when the reads did not all come from one moment of the store.
    pub fn end(self) -> StoreResult<()> {
        (self.end)()
    }
}

/// Opens the configured engine for [`Snapshot`] reads: sled as [`open`] does (its lock keeps every writer
/// out), PostgreSQL inside one REPEATABLE READ transaction.
pub fn open_snapshot(settings: &StoreSettings, data: &Path) -> StoreResult<Snapshot> {
    Ok(match settings.engine {
        Engine::Sled => Snapshot {
            store: open(settings, data)?,
            end: Box::new(|| Ok(())),
        },
        Engine::Postgres => {
            let (store, begun) = PostgresStore::open_snapshot(&settings.postgres()?)?;
            let store = Arc::new(store);
            let ender = Arc::clone(&store);
            Snapshot {
                store,
                end: Box::new(move || ender.end_snapshot(&begun)),
            }
        }
    })
}

/// The leases of the background jobs, for a store opened by [`open`] (which made their table).
pub fn leases(settings: &StoreSettings) -> StoreResult<Arc<dyn Leases>> {
    Ok(match settings.engine {
        Engine::Sled => Arc::new(Unshared),
        Engine::Postgres => Arc::new(PostgresLeases::open(&settings.postgres()?)?),
    })
}
