//! The Merkle trees and signed tree heads in the shared database, for every node's proofs.
//!
//! A batch is one transaction with the follower's checkpoint. The Merkle log runs under a
//! lease on one node; every batch and head it writes carries the lease's fence, checked in
//! the write's own transaction (the lease row locked `FOR SHARE` until commit), so a node
//! that lost the lease while it worked cannot sign a second head for the same growth. A
//! late writer's leaves and nodes would be the same bytes anyway (they follow from the
//! log's order), and the checkpoint and sizes only move forward.

use super::runtime::fence_holds;
use super::{storage, PgShared, SharedStateError};
use crate::tree_store::{cosignature_from_row, CosignatureRow};
use laras_commands::audit::{AuditError, Leaf, TreeBatch, TreeState, TreeStore};
use laras_commands::cosignatures::NamedCosignature;
use laras_commands::runtime::Fence;
use laras_commands::store::Position;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::merkle::NodeHash;
use laras_domain::signing::KeyId;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use std::collections::HashMap;
use uuid::Uuid;

pub struct PgTreeStore {
    shared: PgShared,
}

impl From<SharedStateError> for AuditError {
    fn from(e: SharedStateError) -> Self {
        AuditError::Storage(e.to_string())
    }
}

impl PgTreeStore {
    pub fn new(shared: PgShared) -> Self {
        Self { shared }
    }
}

fn hash32(bytes: Vec<u8>) -> Result<NodeHash, AuditError> {
    bytes.try_into().map_err(|_| AuditError::Storage("a stored hash is not 32 bytes".into()))
}

const INSERT_HEAD: &str =
    "INSERT INTO tree_heads (partner, size, root, timestamp, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)";

struct HeadRow {
    partner: Uuid,
    size: i64,
    root: Vec<u8>,
    timestamp: i64,
    key_id: String,
    signature: Vec<u8>,
}

impl HeadRow {
    fn of(h: &TreeHead) -> Self {
        Self {
            partner: h.partner.0,
            size: h.tree_size as i64,
            root: h.root_hash.to_vec(),
            timestamp: h.timestamp.0,
            key_id: h.key_id.as_str().to_owned(),
            signature: h.signature.to_vec(),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 6] {
        [&self.partner, &self.size, &self.root, &self.timestamp, &self.key_id, &self.signature]
    }
}

/// A fenced write's answer: refused when the Merkle log's lease is no longer `fence`'s;
/// a refusal is an answer, not a storage failure.
fn fenced(written: bool) -> Result<(), AuditError> {
    if written {
        Ok(())
    } else {
        Err(AuditError::Fenced)
    }
}

/// Whether `fence` still holds the Merkle log's lease, for the rest of `tx`.
async fn lease_holds(tx: &tokio_postgres::Transaction<'_>, fence: Fence) -> Result<bool, SharedStateError> {
    fence_holds(tx, laras_commands::audit::PROCESS, fence.0 as i64).await
}

impl TreeStore for PgTreeStore {
    fn checkpoint(&self) -> Result<Position, AuditError> {
        let position = self.shared.with(|c| async move {
            let row = c.query_opt("SELECT position FROM tree_checkpoint", &[]).await.map_err(storage)?;
            Ok(row.map_or(0, |r| r.get::<_, i64>(0)))
        })?;
        Ok(position as Position)
    }

    fn trees(&self) -> Result<HashMap<PartnerId, TreeState>, AuditError> {
        let rows = self.shared.with(|c| async move {
            let rows = c
                .query(
                    "SELECT s.partner, s.size, h.size, h.timestamp FROM tree_sizes s LEFT JOIN tree_heads h
                     ON h.seq = (SELECT MAX(seq) FROM tree_heads WHERE partner = s.partner)",
                    &[],
                )
                .await
                .map_err(storage)?;
            Ok(rows
                .iter()
                .map(|r| {
                    (r.get::<_, Uuid>(0), r.get::<_, i64>(1), r.get::<_, Option<i64>>(2), r.get::<_, Option<i64>>(3))
                })
                .collect::<Vec<_>>())
        })?;
        Ok(rows
            .into_iter()
            .map(|(partner, size, head_size, head_at)| {
                let state = TreeState {
                    size: size as u64,
                    head_size: head_size.unwrap_or(0) as u64,
                    head_at: head_at.map(Timestamp),
                };
                (PartnerId(partner), state)
            })
            .collect())
    }

    fn node(&self, partner: PartnerId, level: u32, index: u64) -> Result<Option<NodeHash>, AuditError> {
        let found = self.shared.with(move |c| async move {
            let statement = c
                .prepare_cached("SELECT hash FROM tree_nodes WHERE partner = $1 AND level = $2 AND idx = $3")
                .await
                .map_err(storage)?;
            let row =
                c.query_opt(&statement, &[&partner.0, &(level as i32), &(index as i64)]).await.map_err(storage)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        found.map(hash32).transpose()
    }

    fn write(&self, batch: TreeBatch) -> Result<(), AuditError> {
        let fence = batch.fence;
        self.shared.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(storage)?;
            if !lease_holds(&tx, fence).await? {
                return Ok(false);
            }
            let node = tx
                .prepare_cached(
                    "INSERT INTO tree_nodes (partner, level, idx, hash) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (partner, level, idx) DO UPDATE SET hash = excluded.hash",
                )
                .await
                .map_err(storage)?;
            for (partner, n) in &batch.nodes {
                tx.execute(&node, &[&partner.0, &(n.level as i32), &(n.index as i64), &n.hash.as_slice()])
                    .await
                    .map_err(storage)?;
            }
            let leaf = tx
                .prepare_cached(
                    "INSERT INTO tree_leaves (partner, idx, position, event_id) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (partner, idx) DO UPDATE SET position = excluded.position, event_id = excluded.event_id",
                )
                .await
                .map_err(storage)?;
            let mut sizes: HashMap<PartnerId, u64> = HashMap::new();
            for l in &batch.leaves {
                tx.execute(&leaf, &[&l.partner.0, &(l.index as i64), &(l.position as i64), &l.event_id.0])
                    .await
                    .map_err(storage)?;
                sizes.insert(l.partner, l.index + 1);
            }
            for (partner, n) in sizes {
                tx.execute(
                    "INSERT INTO tree_sizes (partner, size) VALUES ($1, $2)
                     ON CONFLICT (partner) DO UPDATE SET size = GREATEST(tree_sizes.size, excluded.size)",
                    &[&partner.0, &(n as i64)],
                )
                .await
                .map_err(storage)?;
            }
            for head in batch.heads.iter().map(HeadRow::of) {
                tx.execute(INSERT_HEAD, &head.params()).await.map_err(storage)?;
            }
            tx.execute(
                "INSERT INTO tree_checkpoint (only_row, position) VALUES (true, $1)
                 ON CONFLICT (only_row) DO UPDATE SET position = GREATEST(tree_checkpoint.position, excluded.position)",
                &[&(batch.up_to as i64)],
            )
            .await
            .map_err(storage)?;
            tx.commit().await.map_err(storage)?;
            Ok(true)
        })
        .map_err(AuditError::from)
        .and_then(fenced)
    }

    fn store_head(&self, head: &TreeHead, fence: Fence) -> Result<(), AuditError> {
        let row = HeadRow::of(head);
        let written = self.shared.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(storage)?;
            if !lease_holds(&tx, fence).await? {
                return Ok(false);
            }
            tx.execute(INSERT_HEAD, &row.params()).await.map_err(storage)?;
            tx.commit().await.map_err(storage)?;
            Ok(true)
        })?;
        fenced(written)
    }

    fn heads(&self, partner: PartnerId) -> Result<Vec<TreeHead>, AuditError> {
        let rows = self.shared.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT size, root, timestamp, key_id, signature FROM tree_heads WHERE partner = $1 ORDER BY seq",
                    &[&partner.0],
                )
                .await
                .map_err(storage)?;
            Ok(rows
                .iter()
                .map(|r| HeadRow {
                    partner: partner.0,
                    size: r.get(0),
                    root: r.get(1),
                    timestamp: r.get(2),
                    key_id: r.get(3),
                    signature: r.get(4),
                })
                .collect::<Vec<_>>())
        })?;
        rows.into_iter()
            .map(|h| {
                Ok(TreeHead {
                    partner,
                    tree_size: h.size as u64,
                    root_hash: hash32(h.root)?,
                    timestamp: Timestamp(h.timestamp),
                    key_id: KeyId(h.key_id),
                    signature: h
                        .signature
                        .try_into()
                        .map_err(|_| AuditError::Storage("a stored signature is not 64 bytes".into()))?,
                })
            })
            .collect()
    }

    fn leaf_of_event(&self, partner: PartnerId, event: EventId) -> Result<Option<u64>, AuditError> {
        let idx = self.shared.with(move |c| async move {
            let row = c
                .query_opt("SELECT idx FROM tree_leaves WHERE partner = $1 AND event_id = $2", &[&partner.0, &event.0])
                .await
                .map_err(storage)?;
            Ok(row.map(|r| r.get::<_, i64>(0)))
        })?;
        Ok(idx.map(|i| i as u64))
    }

    fn leaves(&self, partner: PartnerId, from: u64, limit: usize) -> Result<Vec<Leaf>, AuditError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.shared.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT idx, position, event_id FROM tree_leaves WHERE partner = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
                    &[&partner.0, &(from as i64), &limit],
                )
                .await
                .map_err(storage)?;
            Ok(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, Uuid>(2))).collect::<Vec<_>>())
        })?;
        Ok(rows
            .into_iter()
            .map(|(idx, position, event)| Leaf {
                partner,
                index: idx as u64,
                position: position as u64,
                event_id: EventId(event),
            })
            .collect())
    }

    fn store_cosignature(&self, named: &NamedCosignature) -> Result<(), AuditError> {
        let c = named.cosignature.clone();
        let name = named.witness_name.clone();
        // A POSIX time in seconds fits i64 (C2SP bounds it by 2^63 - 1; checked on entry).
        let timestamp =
            i64::try_from(c.timestamp).map_err(|_| AuditError::Storage("a cosignature time beyond 2^63 - 1".into()))?;
        self.shared.with(move |c2| async move {
            c2.execute(
                "INSERT INTO cosignatures (partner, size, root, witness, name, timestamp, signature)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (partner, size, root, witness) DO UPDATE SET name = excluded.name,
                 timestamp = excluded.timestamp, signature = excluded.signature
                 WHERE excluded.timestamp > cosignatures.timestamp",
                &[
                    &c.partner.0,
                    &(c.tree_size as i64),
                    &c.root_hash.as_slice(),
                    &c.witness.as_bytes().as_slice(),
                    &name,
                    &timestamp,
                    &c.signature.as_slice(),
                ],
            )
            .await
            .map_err(storage)?;
            Ok(())
        })?;
        Ok(())
    }

    fn cosignatures(&self, partner: PartnerId) -> Result<Vec<NamedCosignature>, AuditError> {
        let rows: Vec<CosignatureRow> = self.shared.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT size, root, witness, name, timestamp, signature FROM cosignatures WHERE partner = $1
                     ORDER BY size, witness",
                    &[&partner.0],
                )
                .await
                .map_err(storage)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect())
        })?;
        let out = rows.into_iter().map(|row| cosignature_from_row(partner, row)).collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }
}
