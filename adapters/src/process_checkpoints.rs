//! Processes' checkpoints in the embedded data dir (`processes.sqlite`): one row per
//! process, its position and the fence it was saved with.
//!
//! One `laras serve` holds the data dir, so fences are never contended here; a save with
//! a fence older than the stored one is still refused, as the port promises.

use laras_commands::runtime::{CheckpointError, Checkpoints, Fence};
use laras_commands::store::Position;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SqliteCheckpoints {
    conn: Arc<Mutex<Connection>>,
}

fn storage(e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Storage(e.to_string())
}

impl SqliteCheckpoints {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS checkpoints (process TEXT PRIMARY KEY, position INTEGER NOT NULL,
                 fence INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .map_err(storage)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, CheckpointError> + Send + 'static,
    ) -> Result<T, CheckpointError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(storage)?
    }
}

#[async_trait::async_trait]
impl Checkpoints for SqliteCheckpoints {
    async fn load(&self, process: &str) -> Result<Option<Position>, CheckpointError> {
        let process = process.to_owned();
        self.with_conn(move |conn| {
            conn.query_row("SELECT position FROM checkpoints WHERE process = ?1", [process], |r| r.get::<_, i64>(0))
                .optional()
                .map(|p| p.map(|p| p as Position))
                .map_err(storage)
        })
        .await
    }

    async fn save(&self, process: &str, position: Position, fence: Fence) -> Result<(), CheckpointError> {
        let process = process.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            let current: Option<(i64, i64)> = tx
                .query_row("SELECT position, fence FROM checkpoints WHERE process = ?1", [&process], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(storage)?;
            if let Some((at, saved_fence)) = current {
                if (saved_fence as u64) > fence.0 {
                    return Err(CheckpointError::Fenced { process });
                }
                if (at as Position) > position {
                    return Err(CheckpointError::Backwards { process, current: at as Position, requested: position });
                }
                if at as Position == position {
                    return Ok(());
                }
            }
            tx.execute(
                "INSERT INTO checkpoints (process, position, fence) VALUES (?1, ?2, ?3)
                 ON CONFLICT (process) DO UPDATE SET position = excluded.position, fence = excluded.fence",
                params![process, position as i64, fence.0 as i64],
            )
            .map_err(storage)?;
            tx.commit().map_err(storage)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_checkpoint_survives_reopening_never_goes_back_and_refuses_an_older_fence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("processes.sqlite");
        let checkpoints = SqliteCheckpoints::open(&path).unwrap();
        assert_eq!(checkpoints.load("outbox").await.unwrap(), None);
        checkpoints.save("outbox", 42, Fence(2)).await.unwrap();
        checkpoints.save("outbox", 42, Fence(2)).await.unwrap();
        assert!(matches!(checkpoints.save("outbox", 41, Fence(2)).await, Err(CheckpointError::Backwards { .. })));
        assert!(matches!(checkpoints.save("outbox", 50, Fence(1)).await, Err(CheckpointError::Fenced { .. })));
        drop(checkpoints);
        let reopened = SqliteCheckpoints::open(&path).unwrap();
        assert_eq!(reopened.load("outbox").await.unwrap(), Some(42));
        assert_eq!(reopened.load("ai-worker").await.unwrap(), None);
    }
}
