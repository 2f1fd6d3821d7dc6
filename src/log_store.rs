//! Which event store a process uses: the embedded SQLite log in the data dir (the
//! default) or a PostgreSQL database shared by several nodes (`--store postgres://…`).
//! Beside a PostgreSQL log the rest of the shared state is in the same database (see
//! `app.rs`); the data dir then keeps only what each node rebuilds: read models and the
//! search index. Secrets (master key, signing keys) come from files either way (ADR 011).

use crate::data_dir::{DataDir, DataDirError};
use laras_adapters::postgres_log::{PgEventStore, PgLogScan};
use laras_adapters::postgres_state::{PgShared, PgTreeStore};
use laras_adapters::sqlite_log::SqliteEventStore;
use laras_adapters::tree_store::SqliteTreeStore;
use laras_commands::audit::{AuditError, TreeStore};
use laras_commands::store::{EventStore, Position, StoreError, StoredEnvelope};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// Where the log is.
#[derive(Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// `ledger.sqlite` in the data dir.
    Embedded,
    /// A `postgres://` URL (may hold a password: never printed).
    Postgres(String),
}

impl std::fmt::Debug for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => write!(f, "Embedded"),
            Self::Postgres(_) => write!(f, "Postgres(***)"),
        }
    }
}

/// A log read in position order by synchronous callers (verify, export, listings).
pub type Scan = Box<dyn Iterator<Item = Result<StoredEnvelope, StoreError>> + Send>;

impl LogLocation {
    /// Opens the data dir a read-only command needs: for the embedded log it must hold a
    /// ledger; otherwise its signing keys (the trust anchors) are all that is read.
    pub fn existing_data_dir(&self, root: &Path, signing_dir: Option<&Path>) -> Result<DataDir, DataDirError> {
        match self {
            Self::Embedded => DataDir::existing(root).map(|d| d.with_signing_dir(signing_dir)),
            Self::Postgres(_) => DataDir::with_keys(root, signing_dir),
        }
    }

    pub fn scan(&self, data: &DataDir) -> Result<Scan, StoreError> {
        Ok(match self {
            Self::Embedded => Box::new(SqliteEventStore::scan(&data.ledger())?),
            Self::Postgres(url) => Box::new(PgLogScan::open(url)?),
        })
    }

    /// How many events the log holds (positions are gap-free from 1).
    pub fn count(&self, data: &DataDir) -> Result<u64, StoreError> {
        match self {
            Self::Embedded => SqliteEventStore::count(&data.ledger()),
            Self::Postgres(url) => PgLogScan::head(url),
        }
    }

    /// The Merkle trees beside this log, for commands that read or add tree heads.
    pub fn trees(&self, data: &DataDir) -> Result<Arc<dyn TreeStore>, AuditError> {
        Ok(match self {
            Self::Embedded => Arc::new(SqliteTreeStore::open(&data.audit())?),
            Self::Postgres(url) => {
                Arc::new(PgTreeStore::new(PgShared::open(url).map_err(|e| AuditError::Storage(e.to_string()))?))
            }
        })
    }

    pub async fn open(&self, data: &DataDir) -> Result<LogStore, StoreError> {
        Ok(match self {
            Self::Embedded => LogStore::Embedded(Arc::new(SqliteEventStore::open(&data.ledger())?)),
            Self::Postgres(url) => LogStore::Postgres(Arc::new(PgEventStore::open(url).await?)),
        })
    }
}

/// An open log, with what the port leaves out: flushing on close, and commit counts.
#[derive(Clone)]
pub enum LogStore {
    Embedded(Arc<SqliteEventStore>),
    Postgres(Arc<PgEventStore>),
}

impl LogStore {
    pub fn port(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Embedded(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    pub fn head(&self) -> watch::Receiver<Position> {
        self.port().head()
    }

    /// Group commits so far (for benchmarks).
    pub fn commits(&self) -> u64 {
        match self {
            Self::Embedded(s) => s.metrics().commits,
            Self::Postgres(s) => s.metrics().commits,
        }
    }

    /// Stops taking appends; every acknowledged append is durable when this returns.
    pub async fn close(&self) {
        match self {
            Self::Embedded(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}
