//! Copying a data dir's shared state into the database, beside `store copy`'s log: the
//! rows move as they are (keys stay wrapped, tokens sealed, digests digests), so the same
//! master key opens them. Rows already there are kept: a rerun copies nothing twice.

use super::{storage, PgShared, SharedStateError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use uuid::Uuid;

/// The SQLite files of a data dir that hold shared state (a missing file holds nothing).
pub struct DataDirFiles<'a> {
    pub keys: &'a Path,
    pub access: &'a Path,
    pub credentials: &'a Path,
    pub audit: &'a Path,
}

/// How many rows of each kind were copied now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SharedCopied {
    pub data_keys: u64,
    pub erase_intents: u64,
    pub api_keys: u64,
    pub channel_tokens: u64,
    pub tree_leaves: u64,
    pub tree_nodes: u64,
    pub tree_heads: u64,
}

type Row = Vec<rusqlite::types::Value>;

fn read(path: &Path, sql: &str) -> Result<Vec<Row>, SharedStateError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(storage)?;
    let mut stmt = match conn.prepare(sql) {
        Ok(stmt) => stmt,
        // A file from before a table existed holds none of its rows.
        Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let width = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..width).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect::<Result<Row, _>>())
        .map_err(storage)?;
    rows.collect::<Result<_, _>>().map_err(storage)
}

fn blob(v: &rusqlite::types::Value) -> Result<Vec<u8>, SharedStateError> {
    match v {
        rusqlite::types::Value::Blob(b) => Ok(b.clone()),
        rusqlite::types::Value::Text(t) => Ok(t.as_bytes().to_vec()),
        _ => Err(SharedStateError::Storage("a copied column is not bytes".into())),
    }
}

fn text(v: &rusqlite::types::Value) -> Result<String, SharedStateError> {
    match v {
        rusqlite::types::Value::Text(t) => Ok(t.clone()),
        _ => Err(SharedStateError::Storage("a copied column is not text".into())),
    }
}

fn int(v: &rusqlite::types::Value) -> Result<i64, SharedStateError> {
    match v {
        rusqlite::types::Value::Integer(i) => Ok(*i),
        _ => Err(SharedStateError::Storage("a copied column is not an integer".into())),
    }
}

fn uuid(v: &rusqlite::types::Value) -> Result<Uuid, SharedStateError> {
    match v {
        rusqlite::types::Value::Text(t) => t.parse().map_err(storage),
        other => Uuid::from_slice(&blob(other)?).map_err(storage),
    }
}

/// A signed tree head as stored: seq, partner, size, root, timestamp, key id, signature.
type HeadRow = (i64, Uuid, i64, Vec<u8>, i64, String, Vec<u8>);

/// What is read from the files, converted before any of it is written.
#[derive(Default)]
struct Rows {
    data_keys: Vec<(Uuid, Uuid, Uuid, Vec<u8>)>,
    erase_intents: Vec<Uuid>,
    api_keys: Vec<(String, Uuid, String, String, Vec<u8>, bool)>,
    channel_tokens: Vec<(Uuid, String, Vec<u8>)>,
    checkpoint: Option<i64>,
    nodes: Vec<(Uuid, i32, i64, Vec<u8>)>,
    leaves: Vec<(Uuid, i64, i64, Uuid)>,
    sizes: Vec<(Uuid, i64)>,
    heads: Vec<HeadRow>,
}

fn gather(files: &DataDirFiles<'_>) -> Result<Rows, SharedStateError> {
    let mut rows = Rows::default();
    for r in read(
        files.keys,
        "SELECT key_id, contact_id, partner_id, wrapped FROM data_keys WHERE destroyed = 0 ORDER BY rowid",
    )? {
        rows.data_keys.push((uuid(&r[0])?, uuid(&r[1])?, uuid(&r[2])?, blob(&r[3])?));
    }
    for r in read(files.keys, "SELECT contact_id FROM erase_intents")? {
        rows.erase_intents.push(uuid(&r[0])?);
    }
    for r in read(files.access, "SELECT id, partner_id, role, label, digest, revoked FROM api_keys ORDER BY rowid")? {
        rows.api_keys.push((text(&r[0])?, uuid(&r[1])?, text(&r[2])?, text(&r[3])?, blob(&r[4])?, int(&r[5])? != 0));
    }
    for r in read(files.credentials, "SELECT partner_id, channel, sealed FROM channel_tokens")? {
        rows.channel_tokens.push((uuid(&r[0])?, text(&r[1])?, blob(&r[2])?));
    }
    for r in read(files.audit, "SELECT position FROM checkpoint WHERE id = 1")? {
        rows.checkpoint = Some(int(&r[0])?);
    }
    for r in read(files.audit, "SELECT partner, level, idx, hash FROM nodes")? {
        let level = i32::try_from(int(&r[1])?).map_err(storage)?;
        rows.nodes.push((uuid(&r[0])?, level, int(&r[2])?, blob(&r[3])?));
    }
    for r in read(files.audit, "SELECT partner, idx, position, event_id FROM leaves")? {
        rows.leaves.push((uuid(&r[0])?, int(&r[1])?, int(&r[2])?, uuid(&r[3])?));
    }
    for r in read(files.audit, "SELECT partner, size FROM sizes")? {
        rows.sizes.push((uuid(&r[0])?, int(&r[1])?));
    }
    for r in
        read(files.audit, "SELECT seq, partner, size, root, timestamp, key_id, signature FROM tree_heads ORDER BY seq")?
    {
        rows.heads.push((
            int(&r[0])?,
            uuid(&r[1])?,
            int(&r[2])?,
            blob(&r[3])?,
            int(&r[4])?,
            text(&r[5])?,
            blob(&r[6])?,
        ));
    }
    Ok(rows)
}

impl PgShared {
    /// Copies the data dir's keys, API keys, tokens and trees in one transaction.
    pub fn import_data_dir(&self, files: &DataDirFiles<'_>) -> Result<SharedCopied, SharedStateError> {
        let rows = gather(files)?;
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(storage)?;
            let mut n = SharedCopied::default();
            for (key, contact, partner, wrapped) in &rows.data_keys {
                n.data_keys += tx
                    .execute(
                        "INSERT INTO data_keys (key_id, contact_id, partner_id, wrapped) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING",
                        &[key, contact, partner, wrapped],
                    )
                    .await
                    .map_err(storage)?;
            }
            for contact in &rows.erase_intents {
                n.erase_intents += tx
                    .execute("INSERT INTO erase_intents (contact_id) VALUES ($1) ON CONFLICT DO NOTHING", &[contact])
                    .await
                    .map_err(storage)?;
            }
            for (id, partner, role, label, digest, revoked) in &rows.api_keys {
                n.api_keys += tx
                    .execute(
                        "INSERT INTO api_keys (id, partner_id, role, label, digest, revoked) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT DO NOTHING",
                        &[id, partner, role, label, digest, revoked],
                    )
                    .await
                    .map_err(storage)?;
            }
            for (partner, channel, sealed) in &rows.channel_tokens {
                n.channel_tokens += tx
                    .execute(
                        "INSERT INTO channel_tokens (partner_id, channel, sealed) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[partner, channel, sealed],
                    )
                    .await
                    .map_err(storage)?;
            }
            for (partner, level, idx, hash) in &rows.nodes {
                n.tree_nodes += tx
                    .execute(
                        "INSERT INTO tree_nodes (partner, level, idx, hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[partner, level, idx, hash],
                    )
                    .await
                    .map_err(storage)?;
            }
            for (partner, idx, position, event) in &rows.leaves {
                n.tree_leaves += tx
                    .execute(
                        "INSERT INTO tree_leaves (partner, idx, position, event_id) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING",
                        &[partner, idx, position, event],
                    )
                    .await
                    .map_err(storage)?;
            }
            for (partner, size) in &rows.sizes {
                tx.execute(
                    "INSERT INTO tree_sizes (partner, size) VALUES ($1, $2)
                     ON CONFLICT (partner) DO UPDATE SET size = GREATEST(tree_sizes.size, excluded.size)",
                    &[partner, size],
                )
                .await
                .map_err(storage)?;
            }
            // Heads keep their order (seq); a rerun finds them by the same seq.
            for (seq, partner, size, root, timestamp, key_id, signature) in &rows.heads {
                n.tree_heads += tx
                    .execute(
                        "INSERT INTO tree_heads (seq, partner, size, root, timestamp, key_id, signature)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                        &[seq, partner, size, root, timestamp, key_id, signature],
                    )
                    .await
                    .map_err(storage)?;
            }
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('tree_heads', 'seq'), GREATEST((SELECT MAX(seq) FROM tree_heads), 1))",
                &[],
            )
            .await
            .map_err(storage)?;
            if let Some(position) = rows.checkpoint {
                tx.execute(
                    "INSERT INTO tree_checkpoint (only_row, position) VALUES (true, $1)
                     ON CONFLICT (only_row) DO UPDATE SET position = GREATEST(tree_checkpoint.position, excluded.position)",
                    &[&position],
                )
                .await
                .map_err(storage)?;
            }
            tx.commit().await.map_err(storage)?;
            Ok(n)
        })
    }
}
