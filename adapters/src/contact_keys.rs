//! Per-contact data keys in their own SQLite file, wrapped by the master key.
//!
//! `secure_delete` is on, so destroying a key overwrites its bytes in the file. Keys are
//! committed (fsync) before they are handed out, so no event can hold ciphertext whose
//! key could be lost in a crash.

use hmac::{Hmac, Mac};
use laras_commands::keys::{ContactKeys, KeyError};
use laras_domain::ids::{ContactId, DataKeyId, PartnerId};
use laras_domain::sealed::{unwrap_data_key, wrap_data_key, SecretKey};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::Sha256;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use uuid::Uuid;

fn storage(e: impl std::fmt::Display) -> KeyError {
    KeyError::Storage(e.to_string())
}

/// The master key file: 32 random bytes, mode 0600, created on first start.
pub struct MasterKeyFile;

impl MasterKeyFile {
    pub fn load_or_create(path: &Path) -> Result<SecretKey, KeyError> {
        match File::open(path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(storage)?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| KeyError::Storage(format!("{} is not a 32-byte key", path.display())))?;
                Ok(SecretKey::from_bytes(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate(&mut rand::rngs::OsRng);
                let mut file =
                    OpenOptions::new().create_new(true).write(true).mode(0o600).open(path).map_err(storage)?;
                file.write_all(key.as_bytes()).map_err(storage)?;
                file.sync_all().map_err(storage)?;
                if let Some(dir) = path.parent() {
                    File::open(dir).and_then(|d| d.sync_all()).map_err(storage)?;
                }
                Ok(key)
            }
            Err(e) => Err(storage(e)),
        }
    }
}

/// A Partner's blind-index key: derived from the master key, so every node derives the same.
pub fn blind_index_key(master: &SecretKey, partner: PartnerId) -> SecretKey {
    derive(master, &[b"laras.blind-index.v1", partner.0.as_bytes()])
}

/// The key of the links that serve customers' files (ADR 014): derived, like the blind index.
pub fn media_link_key(master: &SecretKey) -> SecretKey {
    derive(master, &[b"laras.media-links.v1"])
}

/// HMAC-SHA-256 of `parts` under the master key: keys and checks derived from it.
pub(crate) fn derive(master: &SecretKey, parts: &[&[u8]]) -> SecretKey {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(master.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    SecretKey::from_bytes(mac.finalize().into_bytes().into())
}

pub struct SqliteKeyStore {
    conn: Mutex<Connection>,
    master: SecretKey,
    /// Unwrapped keys by id, and each contact's live key: a seal touches no SQL once a
    /// contact's key is known. Both are emptied of a contact's keys, under the connection's
    /// lock, as soon as they are destroyed, so an erased contact's key leaves memory too.
    cache: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    by_id: HashMap<DataKeyId, SecretKey>,
    live: HashMap<ContactId, DataKeyId>,
}

impl SqliteKeyStore {
    pub fn open(path: &Path, master: SecretKey) -> Result<Self, KeyError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=10000;
             CREATE TABLE IF NOT EXISTS data_keys (
                key_id BLOB PRIMARY KEY, contact_id BLOB NOT NULL, partner_id BLOB NOT NULL,
                wrapped BLOB, destroyed INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX IF NOT EXISTS data_keys_by_contact ON data_keys (contact_id, destroyed);
             CREATE TABLE IF NOT EXISTS erase_intents (contact_id BLOB PRIMARY KEY);",
        )
        .map_err(storage)?;
        Ok(Self { conn: Mutex::new(conn), master, cache: Mutex::new(KeyCache::default()) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live_key(conn: &Connection, contact: ContactId) -> Result<Option<(DataKeyId, Vec<u8>)>, KeyError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = conn
            .query_row(
                "SELECT key_id, wrapped FROM data_keys WHERE contact_id = ?1 AND destroyed = 0 ORDER BY rowid LIMIT 1",
                [contact.0.as_bytes().as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(storage)?;
        match row {
            None => Ok(None),
            Some((id, wrapped)) => {
                Ok(Some((DataKeyId(Uuid::from_slice(&id).map_err(|_| KeyError::Corrupt)?), wrapped)))
            }
        }
    }
}

impl SqliteKeyStore {
    fn cached_live(&self, contact: ContactId) -> Option<(DataKeyId, SecretKey)> {
        let cache = self.cache();
        cache.live.get(&contact).and_then(|id| Some((*id, cache.by_id.get(id)?.clone())))
    }

    /// A contact's live key as read from the table, unwrapped and remembered.
    fn opened(
        &self,
        contact: ContactId,
        (id, wrapped): (DataKeyId, Vec<u8>),
    ) -> Result<(DataKeyId, SecretKey), KeyError> {
        let key = match self.cache().by_id.get(&id) {
            Some(key) => key.clone(),
            None => unwrap_data_key(&self.master, id, &wrapped).map_err(|_| KeyError::Corrupt)?,
        };
        let mut cache = self.cache();
        cache.by_id.insert(id, key.clone());
        cache.live.insert(contact, id);
        Ok((id, key))
    }
}

impl ContactKeys for SqliteKeyStore {
    fn blind_index_key(&self, partner: PartnerId) -> SecretKey {
        blind_index_key(&self.master, partner)
    }

    fn data_key_for(&self, partner: PartnerId, contact: ContactId) -> Result<(DataKeyId, SecretKey), KeyError> {
        // A known contact's key is served without the connection's lock: seals of every
        // contact would otherwise queue behind it. Erasure empties the cache under that lock
        // after the key is destroyed, so a hit here is a seal that came before the erasure.
        if let Some(found) = self.cached_live(contact) {
            return Ok(found);
        }
        // One connection under one lock: two callers of this handle end with one key.
        let mut conn = self.conn();
        if let Some(found) = self.cached_live(contact) {
            return Ok(found);
        }
        if let Some(found) = Self::live_key(&conn, contact)? {
            return self.opened(contact, found);
        }
        // Another handle on the file (another process) may be creating it too: look again
        // under the write lock, so whoever comes second finds the first one's key.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage)?;
        if let Some(found) = Self::live_key(&tx, contact)? {
            return self.opened(contact, found);
        }
        let id = DataKeyId(Uuid::new_v4());
        let key = SecretKey::generate(&mut rand::rngs::OsRng);
        let wrapped = wrap_data_key(&self.master, id, &key, &mut rand::rngs::OsRng);
        tx.execute(
            "INSERT INTO data_keys (key_id, contact_id, partner_id, wrapped) VALUES (?1, ?2, ?3, ?4)",
            params![
                id.0.as_bytes().as_slice(),
                contact.0.as_bytes().as_slice(),
                partner.0.as_bytes().as_slice(),
                wrapped
            ],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        let mut cache = self.cache();
        cache.by_id.insert(id, key.clone());
        cache.live.insert(contact, id);
        Ok((id, key))
    }

    fn data_key(&self, id: DataKeyId) -> Result<Option<SecretKey>, KeyError> {
        if let Some(key) = self.cache().by_id.get(&id) {
            return Ok(Some(key.clone()));
        }
        // Cached: a rebuild asks for every contact's key, once each.
        let wrapped: Option<Option<Vec<u8>>> = self
            .conn()
            .prepare_cached("SELECT wrapped FROM data_keys WHERE key_id = ?1 AND destroyed = 0")
            .and_then(|mut s| s.query_row([id.0.as_bytes().as_slice()], |r| r.get(0)).optional())
            .map_err(storage)?;
        match wrapped.flatten() {
            None => Ok(None),
            Some(wrapped) => {
                let key = unwrap_data_key(&self.master, id, &wrapped).map_err(|_| KeyError::Corrupt)?;
                self.cache().by_id.insert(id, key.clone());
                Ok(Some(key))
            }
        }
    }

    fn begin_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        self.conn()
            .execute("INSERT OR IGNORE INTO erase_intents (contact_id) VALUES (?1)", [contact.0.as_bytes().as_slice()])
            .map_err(storage)?;
        Ok(())
    }

    fn destroy_contact_keys(&self, contact: ContactId) -> Result<usize, KeyError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let ids: Vec<Vec<u8>> = {
            let mut stmt =
                tx.prepare("SELECT key_id FROM data_keys WHERE contact_id = ?1 AND destroyed = 0").map_err(storage)?;
            let rows = stmt.query_map([contact.0.as_bytes().as_slice()], |r| r.get(0)).map_err(storage)?;
            rows.collect::<Result<_, _>>().map_err(storage)?
        };
        tx.execute(
            "UPDATE data_keys SET wrapped = NULL, destroyed = 1 WHERE contact_id = ?1",
            [contact.0.as_bytes().as_slice()],
        )
        .map_err(storage)?;
        tx.execute("DELETE FROM erase_intents WHERE contact_id = ?1", [contact.0.as_bytes().as_slice()])
            .map_err(storage)?;
        tx.commit().map_err(storage)?;
        let mut cache = self.cache();
        cache.live.remove(&contact);
        for id in &ids {
            if let Ok(id) = Uuid::from_slice(id) {
                cache.by_id.remove(&DataKeyId(id));
            }
        }
        Ok(ids.len())
    }

    fn pending_erasures(&self) -> Result<Vec<ContactId>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT contact_id FROM erase_intents").map_err(storage)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(storage)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(ContactId(Uuid::from_slice(&row.map_err(storage)?).map_err(|_| KeyError::Corrupt)?));
        }
        Ok(out)
    }

    fn abandon_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        self.conn()
            .execute("DELETE FROM erase_intents WHERE contact_id = ?1", [contact.0.as_bytes().as_slice()])
            .map_err(storage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn open(dir: &Path) -> SqliteKeyStore {
        let master = MasterKeyFile::load_or_create(&dir.join("master.key")).unwrap();
        SqliteKeyStore::open(&dir.join("keys.sqlite"), master).unwrap()
    }

    const P: PartnerId = PartnerId(Uuid::from_u128(1));
    const C: ContactId = ContactId(Uuid::from_u128(2));

    #[test]
    fn the_sqlite_key_store_keeps_the_ports_promises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        crate::port_suites::contact_keys(&move || std::sync::Arc::new(open(&path)));
    }

    #[test]
    fn an_erased_contacts_key_leaves_the_cache_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let (id, _) = store.data_key_for(P, C).unwrap();
        let other = ContactId(Uuid::from_u128(3));
        let (kept, _) = store.data_key_for(P, other).unwrap();
        assert_eq!(store.data_key_for(P, C).unwrap().0, id, "served from the cache");
        store.destroy_contact_keys(C).unwrap();
        let cache = store.cache();
        assert!(!cache.by_id.contains_key(&id) && !cache.live.contains_key(&C), "nothing of C stays in memory");
        assert!(cache.by_id.contains_key(&kept), "a neighbour's key stays cached");
        drop(cache);
        assert!(store.data_key(id).unwrap().is_none());
        assert_ne!(store.data_key_for(P, C).unwrap().0, id, "a fresh key, not the destroyed one");
    }

    #[test]
    fn the_master_key_file_is_0600_and_a_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKeyFile::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(MasterKeyFile::load_or_create(&path).unwrap(), a);
        std::fs::write(&path, b"short").unwrap();
        assert!(MasterKeyFile::load_or_create(&path).is_err());
    }
}
