//! API keys at rest: one SQLite table holding each key's id, Partner, role and the
//! SHA-256 of the whole key. The key itself is never stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use laras_commands::access::{AccessError, ApiKey, ApiKeySecret, ApiKeys, Role};
use laras_domain::ids::PartnerId;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub(crate) const PREFIX: &str = "lrs_";

pub struct SqliteApiKeys {
    conn: Mutex<Connection>,
}

fn storage(e: rusqlite::Error) -> AccessError {
    AccessError::Storage(e.to_string())
}

pub(crate) fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// `lrs_<16 hex id>_<43 base64url secret>` → the id part, if the shape is right.
pub(crate) fn key_id_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43).then_some(id)
}

impl SqliteApiKeys {
    pub fn open(path: &Path) -> Result<Self, AccessError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, role TEXT NOT NULL,
                label TEXT NOT NULL, digest BLOB NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX IF NOT EXISTS api_keys_partner ON api_keys (partner_id);",
        )
        .map_err(storage)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn row_to_key(id: String, partner: String, role: String, label: String) -> Option<ApiKey> {
    Some(ApiKey {
        id: format!("{PREFIX}{id}"),
        partner: PartnerId(partner.parse::<Uuid>().ok()?),
        role: Role::parse(&role)?,
        label,
    })
}

/// A new key before it is stored: what every backend keeps (`bare_id`, `digest`) and
/// what its holder is given once.
pub(crate) struct FreshKey {
    pub bare_id: String,
    pub digest: [u8; 32],
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

impl FreshKey {
    pub(crate) fn generate(partner: PartnerId, role: Role, label: &str) -> Result<Self, AccessError> {
        if label.chars().count() > 200 {
            return Err(AccessError::BadLabel);
        }
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let id = hex::encode(id);
        let whole = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        let key = ApiKey { id: format!("{PREFIX}{id}"), partner, role, label: label.to_owned() };
        Ok(Self { digest: digest(&whole), bare_id: id, key, secret: ApiKeySecret::new(whole) })
    }
}

impl ApiKeys for SqliteApiKeys {
    fn create(&self, partner: PartnerId, role: Role, label: &str) -> Result<(ApiKey, ApiKeySecret), AccessError> {
        let fresh = FreshKey::generate(partner, role, label)?;
        self.conn()
            .execute(
                "INSERT INTO api_keys (id, partner_id, role, label, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![fresh.bare_id, partner.0.to_string(), role.as_str(), label, fresh.digest.as_slice()],
            )
            .map_err(storage)?;
        Ok((fresh.key, fresh.secret))
    }

    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, AccessError> {
        let Some(id) = key_id_of(presented) else { return Ok(None) };
        let row = self
            .conn()
            .query_row(
                "SELECT partner_id, role, label, digest FROM api_keys WHERE id = ?1 AND revoked = 0",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(storage)?;
        let Some((partner, role, label, stored)) = row else { return Ok(None) };
        if !bool::from(stored.as_slice().ct_eq(digest(presented).as_slice())) {
            return Ok(None);
        }
        Ok(row_to_key(id.to_owned(), partner, role, label))
    }

    fn list(&self, partner: PartnerId) -> Result<Vec<ApiKey>, AccessError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, partner_id, role, label FROM api_keys WHERE partner_id = ?1 AND revoked = 0 ORDER BY rowid",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map(params![partner.0.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(storage)?;
        let mut keys = Vec::new();
        for row in rows {
            let (id, p, role, label) = row.map_err(storage)?;
            keys.extend(row_to_key(id, p, role, label));
        }
        Ok(keys)
    }

    fn revoke(&self, partner: PartnerId, id: &str) -> Result<bool, AccessError> {
        let bare = id.strip_prefix(PREFIX).unwrap_or(id);
        let changed = self
            .conn()
            .execute(
                "UPDATE api_keys SET revoked = 1 WHERE id = ?1 AND partner_id = ?2 AND revoked = 0",
                params![bare, partner.0.to_string()],
            )
            .map_err(storage)?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (tempfile::TempDir, SqliteApiKeys) {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = SqliteApiKeys::open(&dir.path().join("access.sqlite")).expect("open");
        (dir, keys)
    }

    #[test]
    fn the_sqlite_key_table_keeps_the_ports_promises() {
        let (dir, _keys) = keys();
        let path = dir.path().join("access.sqlite");
        crate::port_suites::api_keys(&move || std::sync::Arc::new(SqliteApiKeys::open(&path).expect("open")));
    }

    #[test]
    fn only_the_digest_is_stored() {
        let (dir, keys) = keys();
        let (_, secret) = keys.create(PartnerId(Uuid::now_v7()), Role::Owner, "").expect("create");
        drop(keys);
        let bytes = std::fs::read(dir.path().join("access.sqlite")).expect("read");
        let wal = std::fs::read(dir.path().join("access.sqlite-wal")).unwrap_or_default();
        // After `lrs_<16 hex>_` (the secret itself may hold '_', a base64url letter).
        let secret_part = &secret.expose()[PREFIX.len() + 17..];
        for file in [bytes, wal] {
            assert!(!file.windows(secret_part.len()).any(|w| w == secret_part.as_bytes()));
        }
    }
}
