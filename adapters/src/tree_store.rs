//! The Merkle logs at rest (`audit.sqlite`): leaves, perfect-subtree nodes, signed tree
//! heads and the follower's checkpoint. One transaction per batch keeps them together.

use laras_commands::audit::{AuditError, Leaf, TreeBatch, TreeState, TreeStore};
use laras_commands::cosignatures::NamedCosignature;
use laras_commands::runtime::Fence;
use laras_commands::store::Position;
use laras_domain::cosignature::Cosignature;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::merkle::NodeHash;
use laras_domain::signing::KeyId;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

pub struct SqliteTreeStore {
    conn: Mutex<Connection>,
}

fn storage(e: rusqlite::Error) -> AuditError {
    AuditError::Storage(e.to_string())
}

fn hash32(bytes: Vec<u8>) -> Result<NodeHash, AuditError> {
    bytes.try_into().map_err(|_| AuditError::Storage("a stored hash is not 32 bytes".into()))
}

fn uuid(bytes: Vec<u8>) -> Result<Uuid, AuditError> {
    Uuid::from_slice(&bytes).map_err(|_| AuditError::Storage("a stored id is not 16 bytes".into()))
}

impl SqliteTreeStore {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS nodes (partner BLOB NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL,
                 hash BLOB NOT NULL, PRIMARY KEY (partner, level, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS leaves (partner BLOB NOT NULL, idx INTEGER NOT NULL, position INTEGER NOT NULL,
                 event_id BLOB NOT NULL, PRIMARY KEY (partner, idx)) WITHOUT ROWID;
             CREATE UNIQUE INDEX IF NOT EXISTS leaves_event ON leaves (partner, event_id);
             CREATE TABLE IF NOT EXISTS sizes (partner BLOB PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS tree_heads (partner BLOB NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL,
                 timestamp INTEGER NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL, seq INTEGER PRIMARY KEY);
             CREATE TABLE IF NOT EXISTS cosignatures (partner BLOB NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL,
                 witness BLOB NOT NULL, name TEXT NOT NULL, timestamp INTEGER NOT NULL, signature BLOB NOT NULL,
                 PRIMARY KEY (partner, size, root, witness)) WITHOUT ROWID;",
        )
        .map_err(storage)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn insert_head(conn: &Connection, h: &TreeHead) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO tree_heads (partner, size, root, timestamp, key_id, signature) VALUES (?1,?2,?3,?4,?5,?6)",
    )?
    .execute(params![
        h.partner.0.as_bytes().as_slice(),
        h.tree_size as i64,
        h.root_hash.as_slice(),
        h.timestamp.0,
        h.key_id.as_str(),
        h.signature.as_slice()
    ])?;
    Ok(())
}

impl TreeStore for SqliteTreeStore {
    fn checkpoint(&self) -> Result<Position, AuditError> {
        let p: Option<i64> = self
            .conn()
            .query_row("SELECT position FROM checkpoint WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(storage)?;
        Ok(p.unwrap_or(0) as Position)
    }

    fn trees(&self) -> Result<HashMap<PartnerId, TreeState>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT s.partner, s.size, h.size, h.timestamp FROM sizes s LEFT JOIN tree_heads h
                 ON h.seq = (SELECT MAX(seq) FROM tree_heads WHERE partner = s.partner)",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(storage)?;
        let mut out = HashMap::new();
        for row in rows {
            let (partner, size, head_size, head_at) = row.map_err(storage)?;
            out.insert(
                PartnerId(uuid(partner)?),
                TreeState {
                    size: size as u64,
                    head_size: head_size.unwrap_or(0) as u64,
                    head_at: head_at.map(Timestamp),
                },
            );
        }
        Ok(out)
    }

    fn node(&self, partner: PartnerId, level: u32, index: u64) -> Result<Option<NodeHash>, AuditError> {
        let conn = self.conn();
        let found: Option<Vec<u8>> = conn
            .prepare_cached("SELECT hash FROM nodes WHERE partner = ?1 AND level = ?2 AND idx = ?3")
            .and_then(|mut s| {
                s.query_row(params![partner.0.as_bytes().as_slice(), level, index as i64], |r| r.get(0)).optional()
            })
            .map_err(storage)?;
        found.map(hash32).transpose()
    }

    fn write(&self, batch: TreeBatch) -> Result<(), AuditError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        {
            let mut node = tx
                .prepare_cached("INSERT OR REPLACE INTO nodes (partner, level, idx, hash) VALUES (?1,?2,?3,?4)")
                .map_err(storage)?;
            for (partner, n) in &batch.nodes {
                node.execute(params![partner.0.as_bytes().as_slice(), n.level, n.index as i64, n.hash.as_slice()])
                    .map_err(storage)?;
            }
            let mut leaf = tx
                .prepare_cached("INSERT OR REPLACE INTO leaves (partner, idx, position, event_id) VALUES (?1,?2,?3,?4)")
                .map_err(storage)?;
            let mut sizes: HashMap<PartnerId, u64> = HashMap::new();
            for l in &batch.leaves {
                leaf.execute(params![
                    l.partner.0.as_bytes().as_slice(),
                    l.index as i64,
                    l.position as i64,
                    l.event_id.0.as_bytes().as_slice()
                ])
                .map_err(storage)?;
                sizes.insert(l.partner, l.index + 1);
            }
            let mut size =
                tx.prepare_cached("INSERT OR REPLACE INTO sizes (partner, size) VALUES (?1, ?2)").map_err(storage)?;
            for (partner, n) in sizes {
                size.execute(params![partner.0.as_bytes().as_slice(), n as i64]).map_err(storage)?;
            }
            for head in &batch.heads {
                insert_head(&tx, head).map_err(storage)?;
            }
            tx.execute(
                "INSERT INTO checkpoint (id, position) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                [batch.up_to as i64],
            )
            .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    // The data dir is held by one process: there is no other holder to fence out.
    fn store_head(&self, head: &TreeHead, _fence: Fence) -> Result<(), AuditError> {
        insert_head(&self.conn(), head).map_err(storage)
    }

    fn heads(&self, partner: PartnerId) -> Result<Vec<TreeHead>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT size, root, timestamp, key_id, signature FROM tree_heads WHERE partner = ?1 ORDER BY seq",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map([partner.0.as_bytes().as_slice()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(storage)?;
        let mut heads = Vec::new();
        for row in rows {
            let (size, root, ts, key_id, sig) = row.map_err(storage)?;
            heads.push(TreeHead {
                partner,
                tree_size: size as u64,
                root_hash: hash32(root)?,
                timestamp: Timestamp(ts),
                key_id: KeyId(key_id),
                signature: sig
                    .try_into()
                    .map_err(|_| AuditError::Storage("a stored signature is not 64 bytes".into()))?,
            });
        }
        Ok(heads)
    }

    fn leaf_of_event(&self, partner: PartnerId, event: EventId) -> Result<Option<u64>, AuditError> {
        let idx: Option<i64> = self
            .conn()
            .query_row(
                "SELECT idx FROM leaves WHERE partner = ?1 AND event_id = ?2",
                params![partner.0.as_bytes().as_slice(), event.0.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        Ok(idx.map(|i| i as u64))
    }

    fn leaves(&self, partner: PartnerId, from: u64, limit: usize) -> Result<Vec<Leaf>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT idx, position, event_id FROM leaves WHERE partner = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map(params![partner.0.as_bytes().as_slice(), from as i64, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
            })
            .map_err(storage)?;
        let mut leaves = Vec::new();
        for row in rows {
            let (idx, position, event) = row.map_err(storage)?;
            leaves.push(Leaf {
                partner,
                index: idx as u64,
                position: position as u64,
                event_id: EventId(uuid(event)?),
            });
        }
        Ok(leaves)
    }

    fn store_cosignature(&self, named: &NamedCosignature) -> Result<(), AuditError> {
        let c = &named.cosignature;
        // A POSIX time in seconds fits i64 (C2SP bounds it by 2^63 - 1; checked on entry).
        let timestamp =
            i64::try_from(c.timestamp).map_err(|_| AuditError::Storage("a cosignature time beyond 2^63 - 1".into()))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO cosignatures (partner, size, root, witness, name, timestamp, signature) VALUES (?1,?2,?3,?4,?5,?6,?7)
                 ON CONFLICT (partner, size, root, witness) DO UPDATE SET name = excluded.name,
                 timestamp = excluded.timestamp, signature = excluded.signature WHERE excluded.timestamp > cosignatures.timestamp",
            )
            .and_then(|mut s| {
                s.execute(params![
                    c.partner.0.as_bytes().as_slice(),
                    c.tree_size as i64,
                    c.root_hash.as_slice(),
                    c.witness.as_bytes().as_slice(),
                    named.witness_name,
                    timestamp,
                    c.signature.as_slice()
                ])
            })
            .map_err(storage)?;
        Ok(())
    }

    fn cosignatures(&self, partner: PartnerId) -> Result<Vec<NamedCosignature>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT size, root, witness, name, timestamp, signature FROM cosignatures WHERE partner = ?1
                 ORDER BY size, witness",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map([partner.0.as_bytes().as_slice()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .map_err(storage)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(cosignature_from_row(partner, row.map_err(storage)?)?);
        }
        Ok(out)
    }
}

/// A stored cosignature's columns: size, root, witness key, witness name, time, signature.
pub(crate) type CosignatureRow = (i64, Vec<u8>, Vec<u8>, String, i64, Vec<u8>);

/// A cosignature as read back from either backend's `cosignatures` table.
pub(crate) fn cosignature_from_row(
    partner: PartnerId,
    (size, root, witness, name, timestamp, signature): CosignatureRow,
) -> Result<NamedCosignature, AuditError> {
    let witness: [u8; 32] =
        witness.try_into().map_err(|_| AuditError::Storage("a stored witness key is not 32 bytes".into()))?;
    let witness = ed25519_dalek::VerifyingKey::from_bytes(&witness)
        .map_err(|_| AuditError::Storage("a stored witness key is not a point".into()))?;
    Ok(NamedCosignature {
        witness_name: name,
        cosignature: Cosignature {
            partner,
            tree_size: size as u64,
            root_hash: hash32(root)?,
            witness,
            timestamp: timestamp as u64,
            signature: signature
                .try_into()
                .map_err(|_| AuditError::Storage("a stored signature is not 64 bytes".into()))?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_tree_store_keeps_the_ports_promises() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.sqlite");
        crate::port_suites::tree_store(&move || std::sync::Arc::new(SqliteTreeStore::open(&path).expect("open")));
    }
}
