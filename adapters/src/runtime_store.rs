//! The runtime ports of one node on a SQLite file (`runtime.sqlite` in the data dir):
//! processes' checkpoints and snapshots, and leases with fencing tokens.
//!
//! One process holds the data dir, so leases are only contended within it; they are
//! still real leases (expiry by this file's clock, fences that never repeat), so the
//! supervisor behaves the same here as on a shared server. A lease row is kept after
//! release (expired at once) so its fence keeps rising.
//!
//! Writes use `synchronous=NORMAL`: a power cut may lose the last checkpoint, which only
//! means re-seeing a few events, and every process is idempotent for those.

use async_trait::async_trait;
use laras_commands::runtime::{
    CheckpointError, Checkpoints, Fence, Lease, LeaseError, Leases, NodeId, Snapshot, Snapshots,
};
use laras_commands::store::Position;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Milliseconds since the epoch by SQLite's clock: the backend's time, as the port asks.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

#[derive(Clone)]
pub struct SqliteRuntime {
    conn: Arc<Mutex<Connection>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the runtime store: {0}")]
pub struct OpenError(#[from] rusqlite::Error);

impl SqliteRuntime {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,
                 fence INTEGER NOT NULL, until_ms INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS checkpoints (process TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS snapshots (process TEXT PRIMARY KEY, position INTEGER NOT NULL,
                 state BLOB NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection off the async threads (a commit waits for the disk).
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

fn ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The live fence of `name` within a transaction.
fn live_fence(conn: &Connection, name: &str) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached(&format!("SELECT fence FROM leases WHERE name = ?1 AND until_ms > {NOW_MS}"))?
        .query_row([name], |r| r.get::<_, i64>(0))
        .optional()
        .map(|f| f.map(|f| f as u64))
}

enum Refused {
    Fenced,
    Backwards(Position),
}

/// Whether `fence` may write for `process`, and the saved position must not go back.
fn admit(
    conn: &Connection,
    process: &str,
    fence: Fence,
    current: Option<i64>,
    to: Position,
) -> rusqlite::Result<Option<Refused>> {
    if fence != Fence::UNLEASED && live_fence(conn, process)? != Some(fence.0) {
        return Ok(Some(Refused::Fenced));
    }
    Ok(match current {
        Some(c) if (c as u64) > to => Some(Refused::Backwards(c as u64)),
        _ => None,
    })
}

fn refusal(process: &str, refused: Refused, requested: Position) -> CheckpointError {
    match refused {
        Refused::Fenced => CheckpointError::Fenced { process: process.to_owned() },
        Refused::Backwards(current) => CheckpointError::Backwards { process: process.to_owned(), current, requested },
    }
}

#[async_trait]
impl Leases for SqliteRuntime {
    async fn try_acquire(&self, name: &str, node: &NodeId, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        let (name, node, ttl) = (name.to_owned(), node.clone(), ms(ttl));
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let row: Option<(String, i64, bool)> = tx
                .query_row(
                    &format!("SELECT holder, fence, until_ms > {NOW_MS} FROM leases WHERE name = ?1"),
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let fence = match row {
                Some((holder, _, true)) if holder != node.0 => return Ok(None),
                Some((_, fence, true)) => fence,
                Some((_, fence, false)) => fence + 1,
                None => 1,
            };
            tx.execute(
                &format!(
                    "INSERT INTO leases (name, holder, fence, until_ms) VALUES (?1, ?2, ?3, {NOW_MS} + ?4)
                     ON CONFLICT (name) DO UPDATE SET holder = ?2, fence = ?3, until_ms = {NOW_MS} + ?4"
                ),
                params![name, node.0, fence, ttl],
            )?;
            tx.commit()?;
            Ok(Some(Lease { name, holder: node, fence: Fence(fence as u64) }))
        })
        .await
        .map_err(LeaseError::Storage)
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, LeaseError> {
        let (name, fence, ttl) = (lease.name.clone(), lease.fence.0 as i64, ms(ttl));
        self.with(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE leases SET until_ms = {NOW_MS} + ?3 WHERE name = ?1 AND fence = ?2 AND until_ms > {NOW_MS}"
                ),
                params![name, fence, ttl],
            )
            .map(|n| n == 1)
        })
        .await
        .map_err(LeaseError::Storage)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let (name, fence) = (lease.name.clone(), lease.fence.0 as i64);
        self.with(move |conn| {
            conn.execute("UPDATE leases SET until_ms = 0 WHERE name = ?1 AND fence = ?2", params![name, fence])
                .map(|_| ())
        })
        .await
        .map_err(LeaseError::Storage)
    }

    async fn current(&self, name: &str) -> Result<Option<Fence>, LeaseError> {
        let name = name.to_owned();
        self.with(move |conn| live_fence(conn, &name)).await.map(|f| f.map(Fence)).map_err(LeaseError::Storage)
    }
}

#[async_trait]
impl Checkpoints for SqliteRuntime {
    async fn load(&self, process: &str) -> Result<Option<Position>, CheckpointError> {
        let process = process.to_owned();
        self.with(move |conn| {
            conn.query_row("SELECT position FROM checkpoints WHERE process = ?1", [&process], |r| r.get::<_, i64>(0))
                .optional()
        })
        .await
        .map(|p| p.map(|p| p as Position))
        .map_err(CheckpointError::Storage)
    }

    async fn save(&self, process: &str, position: Position, fence: Fence) -> Result<(), CheckpointError> {
        let name = process.to_owned();
        let outcome = self
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                // Saved after every batch of every process: the statements are prepared once.
                let current: Option<i64> = tx
                    .prepare_cached("SELECT position FROM checkpoints WHERE process = ?1")?
                    .query_row([&name], |r| r.get(0))
                    .optional()?;
                if let Some(refused) = admit(&tx, &name, fence, current, position)? {
                    return Ok(Some(refused));
                }
                tx.prepare_cached(
                    "INSERT INTO checkpoints (process, position) VALUES (?1, ?2)
                     ON CONFLICT (process) DO UPDATE SET position = ?2",
                )?
                .execute(params![name, position as i64])?;
                tx.commit()?;
                Ok(None)
            })
            .await
            .map_err(CheckpointError::Storage)?;
        outcome.map_or(Ok(()), |r| Err(refusal(process, r, position)))
    }
}

#[async_trait]
impl Snapshots for SqliteRuntime {
    async fn load_snapshot(&self, process: &str) -> Result<Option<Snapshot>, CheckpointError> {
        let process = process.to_owned();
        self.with(move |conn| {
            conn.query_row("SELECT position, state FROM snapshots WHERE process = ?1", [&process], |r| {
                Ok(Snapshot { position: r.get::<_, i64>(0)? as Position, state: r.get(1)? })
            })
            .optional()
        })
        .await
        .map_err(CheckpointError::Storage)
    }

    async fn save_snapshot(&self, process: &str, snapshot: &Snapshot, fence: Fence) -> Result<(), CheckpointError> {
        let (name, snap) = (process.to_owned(), snapshot.clone());
        let outcome = self
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                // Saved after every batch of every process: the statements are prepared once.
                let current: Option<i64> = tx
                    .prepare_cached("SELECT position FROM snapshots WHERE process = ?1")?
                    .query_row([&name], |r| r.get(0))
                    .optional()?;
                if let Some(refused) = admit(&tx, &name, fence, current, snap.position)? {
                    return Ok(Some(refused));
                }
                tx.execute(
                    "INSERT INTO snapshots (process, position, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (process) DO UPDATE SET position = ?2, state = ?3",
                    params![name, snap.position as i64, snap.state],
                )?;
                tx.commit()?;
                Ok(None)
            })
            .await
            .map_err(CheckpointError::Storage)?;
        outcome.map_or(Ok(()), |r| Err(refusal(process, r, snapshot.position)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    laras_commands::runtime_contract!(open);

    async fn open() -> Option<SqliteRuntime> {
        let dir = tempfile::tempdir().ok()?;
        // The directory must outlive the store: leak it for the test's life.
        let path = dir.keep().join("runtime.sqlite");
        SqliteRuntime::open(&path).ok()
    }

    #[tokio::test]
    async fn checkpoints_snapshots_and_fences_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime.sqlite");
        let node = NodeId("n".into());
        {
            let rt = SqliteRuntime::open(&path).unwrap();
            let lease = rt.try_acquire("outbox", &node, Duration::from_secs(60)).await.unwrap().unwrap();
            rt.save("outbox", 41, lease.fence).await.unwrap();
            rt.save_snapshot("directory", &Snapshot { position: 7, state: b"s".to_vec() }, Fence::UNLEASED)
                .await
                .unwrap();
            rt.release(&lease).await.unwrap();
        }
        let rt = SqliteRuntime::open(&path).unwrap();
        assert_eq!(rt.load("outbox").await.unwrap(), Some(41));
        assert_eq!(rt.load_snapshot("directory").await.unwrap().map(|s| s.position), Some(7));
        let again = rt.try_acquire("outbox", &node, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(again.fence, Fence(2), "a fence never repeats, even across a reopen");
    }
}
