//! What several nodes share beside the log, in the log's PostgreSQL database: contact
//! data keys (wrapped by the master key), API-key digests, sealed channel tokens, the
//! Merkle trees and their signed heads, process checkpoints and leases, sealed media files.
//!
//! The tables come with the log's migrations (`postgres_log::schema`, version 2), applied
//! under its advisory lock. The master key never enters the database: each node brings
//! it from its own file, and a fingerprint derived from it makes a node with another
//! master key refuse to start. Most ports here are synchronous (their callers are), so
//! their queries run on a small runtime of this module's own ([`Bridge`]) and the caller
//! waits, as it would for an SQLite file.

mod api_keys;
mod bridge;
mod contact_keys;
mod credentials;
mod import;
mod key_cache;
mod media;
mod runtime;
#[cfg(test)]
mod runtime_contract;
#[cfg(test)]
mod tests;
mod tree_store;

pub use api_keys::PgApiKeys;
pub use bridge::Bridge;
pub use contact_keys::PgKeyStore;
pub use credentials::PgCredentials;
pub use import::{DataDirFiles, SharedCopied};
pub use media::PgMediaStore;
pub use runtime::PgRuntime;
pub use tree_store::PgTreeStore;

use crate::postgres_log::{config, connect, schema};
use laras_domain::sealed::SecretKey;
use std::sync::Arc;

/// Connections for the shared state (the log keeps its own pool).
const POOL_SIZE: usize = 4;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SharedStateError {
    #[error("the shared state failed: {0}")]
    Storage(String),
    #[error(
        "this node's master key is not the one the database's keys are wrapped with; give every node the same master key file"
    )]
    OtherMasterKey,
}

pub(crate) fn storage(e: impl std::fmt::Display) -> SharedStateError {
    SharedStateError::Storage(e.to_string())
}

/// Held (as a session-level advisory lock) while a node introduces what a fresh database
/// gets once: the master key's fingerprint and the first signing key. Arbitrary but fixed,
/// and not the migrations' lock.
const INTRODUCTION_LOCK: i64 = 0x6c61_7261_735f_696e;

/// A pool on the shared database, driven by its own runtime.
#[derive(Clone)]
pub struct PgShared {
    pool: deadpool_postgres::Pool,
    bridge: Arc<Bridge>,
    config: tokio_postgres::Config,
}

/// While held, no other node is between opening the shared state and recording the log's
/// first signing key: nodes that start together on a fresh database introduce the keys
/// one after another, the later ones finding what the first made (the master key's
/// fingerprint, the key in the log, its secret in the shared folder). The lock is the
/// session's of a connection of its own, so it ends with the connection if the node dies.
pub struct Introduction {
    client: Option<tokio_postgres::Client>,
    bridge: Arc<Bridge>,
}

impl Introduction {
    /// Ends the introduction: the next node waiting goes on.
    pub fn finish(mut self) -> Result<(), SharedStateError> {
        let Some(client) = self.client.take() else { return Ok(()) };
        self.bridge.run(async move {
            client.execute("SELECT pg_advisory_unlock($1)", &[&INTRODUCTION_LOCK]).await.map(|_| ()).map_err(storage)
        })?
    }
}

impl Drop for Introduction {
    fn drop(&mut self) {
        // Dropping the client closes its session, and the session's lock with it.
        drop(self.client.take());
    }
}

impl PgShared {
    /// Connects and brings the schema up to date (safe when several nodes start at once).
    pub fn open(url: &str) -> Result<Self, SharedStateError> {
        let bridge = Arc::new(Bridge::new().map_err(storage)?);
        let config = config(url).map_err(storage)?;
        let pool = bridge.run({
            let config = config.clone();
            async move {
                let mut admin = connect(&config).await.map_err(storage)?;
                schema::migrate(&mut admin).await.map_err(storage)?;
                let manager = deadpool_postgres::Manager::from_config(
                    config,
                    tokio_postgres::NoTls,
                    deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
                );
                deadpool_postgres::Pool::builder(manager).max_size(POOL_SIZE).build().map_err(storage)
            }
        })??;
        Ok(Self { pool, bridge, config })
    }

    /// Waits until no other node is introducing the database's keys, then holds that
    /// turn until [`Introduction::finish`] (or its drop).
    pub fn introduce(&self) -> Result<Introduction, SharedStateError> {
        let config = self.config.clone();
        let client = self.bridge.run(async move {
            let client = connect(&config).await.map_err(storage)?;
            client.execute("SELECT pg_advisory_lock($1)", &[&INTRODUCTION_LOCK]).await.map_err(storage)?;
            Ok::<_, SharedStateError>(client)
        })??;
        Ok(Introduction { client: Some(client), bridge: self.bridge.clone() })
    }

    /// Runs `work` with a pooled connection on the bridge and waits for its answer.
    pub(crate) fn with<T, F, Fut>(&self, work: F) -> Result<T, SharedStateError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, SharedStateError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let client = pool.get().await.map_err(|e| SharedStateError::Storage(format!("no connection: {e}")))?;
            work(client).await
        })?
    }

    /// [`with`](Self::with) for async callers: the caller's task awaits, no thread blocks.
    pub(crate) async fn with_async<T, F, Fut>(&self, work: F) -> Result<T, SharedStateError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, SharedStateError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.bridge
            .spawn(async move {
                let client = pool.get().await.map_err(|e| SharedStateError::Storage(format!("no connection: {e}")))?;
                work(client).await
            })
            .await?
    }

    /// Records the master key's fingerprint on first use and checks it on every later start.
    pub fn check_master_key(&self, master: &SecretKey) -> Result<(), SharedStateError> {
        let fingerprint = crate::contact_keys::derive(master, &[b"laras.master-key-check.v1"]).as_bytes().to_vec();
        let stored = self.with(move |c| async move {
            c.execute(
                "INSERT INTO master_key_check (only_row, fingerprint) VALUES (true, $1) ON CONFLICT DO NOTHING",
                &[&fingerprint],
            )
            .await
            .map_err(storage)?;
            let row = c.query_one("SELECT fingerprint FROM master_key_check", &[]).await.map_err(storage)?;
            Ok((row.get::<_, Vec<u8>>(0), fingerprint))
        })?;
        if stored.0 != stored.1 {
            return Err(SharedStateError::OtherMasterKey);
        }
        Ok(())
    }

    /// Whether the database already holds keys wrapped by some master key.
    pub fn holds_wrapped_keys(&self) -> Result<bool, SharedStateError> {
        self.with(|c| async move {
            let row = c
                .query_one("SELECT EXISTS (SELECT 1 FROM master_key_check) OR EXISTS (SELECT 1 FROM data_keys)", &[])
                .await
                .map_err(storage)?;
            Ok(row.get::<_, bool>(0))
        })
    }
}
