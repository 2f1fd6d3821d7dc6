//! Leases, checkpoints and snapshots in the shared database, for processes that must run
//! on one node.
//!
//! A lease is one row (name, holder, fence, expiry). Every decision is one statement on
//! that row with the server's clock (`now()`), so nodes' clocks need not agree and racing
//! nodes are ordered by the row lock: exactly one of them gets a live lease. The row
//! outlives a release, so the fence only ever rises. A fenced checkpoint write locks the
//! lease row (shared) while it checks the fence, so no takeover can slip in between the
//! check and the write; a snapshot write does the same.

use super::{storage, PgShared, SharedStateError};
use async_trait::async_trait;
use laras_commands::runtime::{
    CheckpointError, Checkpoints, Fence, Lease, LeaseError, Leases, NodeId, Snapshot, Snapshots,
};
use laras_commands::store::Position;
use std::time::Duration;

#[derive(Clone)]
pub struct PgRuntime {
    shared: PgShared,
}

impl PgRuntime {
    pub fn new(shared: PgShared) -> Self {
        Self { shared }
    }
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

fn fence_of(value: i64) -> Fence {
    Fence(u64::try_from(value).unwrap_or(0))
}

fn lease_error(e: SharedStateError) -> LeaseError {
    LeaseError::Storage(e.to_string())
}

fn checkpoint_error(e: SharedStateError) -> CheckpointError {
    CheckpointError::Storage(e.to_string())
}

/// What a checkpoint write found, decided inside its transaction.
enum Saved {
    Done,
    Fenced,
    Backwards(Position),
}

#[async_trait]
impl Leases for PgRuntime {
    async fn try_acquire(&self, name: &str, node: &NodeId, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        let (name, holder, ttl) = (name.to_owned(), node.0.clone(), millis(ttl));
        let fence = self
            .shared
            .with_async({
                let (name, holder) = (name.clone(), holder.clone());
                move |c| async move {
                    // Free, expired or ours: take it. A new holder (or ours after it lapsed)
                    // gets the next fence; a live lease of ours keeps its fence.
                    let row = c
                        .query_opt(
                            "INSERT INTO leases (name, holder, fence, expires_at)
                             VALUES ($1, $2, 1, now() + $3::float8 * interval '1 millisecond')
                             ON CONFLICT (name) DO UPDATE SET
                                fence = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > now()
                                             THEN leases.fence ELSE leases.fence + 1 END,
                                holder = excluded.holder,
                                expires_at = excluded.expires_at
                             WHERE leases.expires_at <= now() OR leases.holder = excluded.holder
                             RETURNING fence",
                            &[&name, &holder, &ttl],
                        )
                        .await
                        .map_err(storage)?;
                    Ok(row.map(|r| r.get::<_, i64>(0)))
                }
            })
            .await
            .map_err(lease_error)?;
        Ok(fence.map(|f| Lease { name, holder: NodeId(holder), fence: fence_of(f) }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, LeaseError> {
        let (name, holder, fence, ttl) =
            (lease.name.clone(), lease.holder.0.clone(), lease.fence.0 as i64, millis(ttl));
        let renewed = self
            .shared
            .with_async(move |c| async move {
                c.execute(
                    "UPDATE leases SET expires_at = now() + $4::float8 * interval '1 millisecond'
                     WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now()",
                    &[&name, &holder, &fence, &ttl],
                )
                .await
                .map_err(storage)
            })
            .await
            .map_err(lease_error)?;
        Ok(renewed == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let (name, fence) = (lease.name.clone(), lease.fence.0 as i64);
        self.shared
            .with_async(move |c| async move {
                c.execute("UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND fence = $2", &[&name, &fence])
                    .await
                    .map_err(storage)
            })
            .await
            .map_err(lease_error)?;
        Ok(())
    }

    async fn current(&self, name: &str) -> Result<Option<Fence>, LeaseError> {
        let name = name.to_owned();
        let fence = self
            .shared
            .with_async(move |c| async move {
                let row = c
                    .query_opt("SELECT fence FROM leases WHERE name = $1 AND expires_at > now()", &[&name])
                    .await
                    .map_err(storage)?;
                Ok(row.map(|r| r.get::<_, i64>(0)))
            })
            .await
            .map_err(lease_error)?;
        Ok(fence.map(fence_of))
    }
}

/// Whether `token` is the live fence of the lease `name`, locking the lease row `FOR SHARE`
/// until the transaction ends, so a takeover (an UPDATE of the row) waits for the write.
/// [`Fence::UNLEASED`] needs no lease.
pub(super) async fn fence_holds(
    tx: &tokio_postgres::Transaction<'_>,
    name: &str,
    token: i64,
) -> Result<bool, SharedStateError> {
    if token == 0 {
        return Ok(true);
    }
    let live = tx
        .query_opt(
            "SELECT 1 FROM leases WHERE name = $1 AND fence = $2 AND expires_at > now() FOR SHARE",
            &[&name, &token],
        )
        .await
        .map_err(storage)?;
    Ok(live.is_some())
}

fn refusal(saved: Saved, process: &str, requested: Position) -> Result<(), CheckpointError> {
    match saved {
        Saved::Done => Ok(()),
        Saved::Fenced => Err(CheckpointError::Fenced { process: process.to_owned() }),
        Saved::Backwards(current) => {
            Err(CheckpointError::Backwards { process: process.to_owned(), current, requested })
        }
    }
}

#[async_trait]
impl Checkpoints for PgRuntime {
    async fn load(&self, process: &str) -> Result<Option<Position>, CheckpointError> {
        let process = process.to_owned();
        let position = self
            .shared
            .with_async(move |c| async move {
                let row = c
                    .query_opt("SELECT position FROM checkpoints WHERE process = $1", &[&process])
                    .await
                    .map_err(storage)?;
                Ok(row.map(|r| r.get::<_, i64>(0)))
            })
            .await
            .map_err(checkpoint_error)?;
        Ok(position.map(|p| p as Position))
    }

    async fn save(&self, process: &str, position: Position, fence: Fence) -> Result<(), CheckpointError> {
        let name = process.to_owned();
        let (requested, token) = (position as i64, fence.0 as i64);
        let saved = self
            .shared
            .with_async(move |mut c| async move {
                let tx = c.transaction().await.map_err(storage)?;
                if !fence_holds(&tx, &name, token).await? {
                    return Ok(Saved::Fenced);
                }
                let current = tx
                    .query_opt("SELECT position FROM checkpoints WHERE process = $1 FOR UPDATE", &[&name])
                    .await
                    .map_err(storage)?
                    .map_or(0, |r| r.get::<_, i64>(0));
                if requested < current {
                    return Ok(Saved::Backwards(current as Position));
                }
                tx.execute(
                    "INSERT INTO checkpoints (process, position) VALUES ($1, $2)
                     ON CONFLICT (process) DO UPDATE SET position = excluded.position",
                    &[&name, &requested],
                )
                .await
                .map_err(storage)?;
                tx.commit().await.map_err(storage)?;
                Ok(Saved::Done)
            })
            .await
            .map_err(checkpoint_error)?;
        refusal(saved, process, position)
    }
}

#[async_trait]
impl Snapshots for PgRuntime {
    async fn load_snapshot(&self, process: &str) -> Result<Option<Snapshot>, CheckpointError> {
        let process = process.to_owned();
        self.shared
            .with_async(move |c| async move {
                let row = c
                    .query_opt("SELECT position, state FROM snapshots WHERE process = $1", &[&process])
                    .await
                    .map_err(storage)?;
                Ok(row.map(|r| Snapshot { position: r.get::<_, i64>(0) as Position, state: r.get(1) }))
            })
            .await
            .map_err(checkpoint_error)
    }

    async fn save_snapshot(&self, process: &str, snapshot: &Snapshot, fence: Fence) -> Result<(), CheckpointError> {
        let name = process.to_owned();
        let (requested, state, token) = (snapshot.position as i64, snapshot.state.clone(), fence.0 as i64);
        let saved = self
            .shared
            .with_async(move |mut c| async move {
                let tx = c.transaction().await.map_err(storage)?;
                if !fence_holds(&tx, &name, token).await? {
                    return Ok(Saved::Fenced);
                }
                let current = tx
                    .query_opt("SELECT position FROM snapshots WHERE process = $1 FOR UPDATE", &[&name])
                    .await
                    .map_err(storage)?
                    .map(|r| r.get::<_, i64>(0));
                if let Some(current) = current.filter(|c| requested < *c) {
                    return Ok(Saved::Backwards(current as Position));
                }
                tx.execute(
                    "INSERT INTO snapshots (process, position, state) VALUES ($1, $2, $3)
                     ON CONFLICT (process) DO UPDATE SET position = excluded.position, state = excluded.state",
                    &[&name, &requested, &state],
                )
                .await
                .map_err(storage)?;
                tx.commit().await.map_err(storage)?;
                Ok(Saved::Done)
            })
            .await
            .map_err(checkpoint_error)?;
        refusal(saved, process, snapshot.position)
    }
}
