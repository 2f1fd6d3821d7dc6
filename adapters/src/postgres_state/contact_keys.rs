//! Contact data keys in the shared database, wrapped by the master key.
//!
//! Unwrapped keys are kept in memory only while this node hears every erasure
//! ([`KeyCache`]): another node may erase a contact at any moment, and a key it destroyed
//! must not be handed out here afterwards. Erasure deletes the row (see `docs/deploy.md`
//! for what VACUUM and backups mean for deleted rows) and announces the contact.

use super::key_cache::{self, KeyCache, ERASURES};
use super::{storage, PgShared, SharedStateError};
use laras_commands::keys::{ContactKeys, KeyError};
use laras_domain::ids::{ContactId, DataKeyId, PartnerId};
use laras_domain::sealed::{unwrap_data_key, wrap_data_key, SecretKey};
use std::sync::Arc;
use uuid::Uuid;

pub struct PgKeyStore {
    shared: PgShared,
    master: SecretKey,
    cache: Arc<KeyCache>,
}

impl From<SharedStateError> for KeyError {
    fn from(e: SharedStateError) -> Self {
        KeyError::Storage(e.to_string())
    }
}

impl PgKeyStore {
    /// The key store on `shared`; refuses a master key other than the one already in use.
    pub fn open(shared: PgShared, master: SecretKey) -> Result<Self, KeyError> {
        shared.check_master_key(&master).map_err(|e| match e {
            SharedStateError::OtherMasterKey => KeyError::Corrupt,
            other => other.into(),
        })?;
        let cache = Arc::new(KeyCache::default());
        // Runs on the bridge until the store is dropped; the returned handle is not needed.
        drop(shared.bridge.spawn(key_cache::listen(shared.config.clone(), Arc::downgrade(&cache))));
        Ok(Self { shared, master, cache })
    }

    /// Whether the cache is on (its listener has said `LISTEN`).
    #[cfg(test)]
    pub(crate) fn hears_erasures(&self) -> bool {
        self.cache.epoch().is_some()
    }

    fn unwrap(&self, id: Uuid, wrapped: &[u8]) -> Result<(DataKeyId, SecretKey), KeyError> {
        let id = DataKeyId(id);
        let key = unwrap_data_key(&self.master, id, wrapped).map_err(|_| KeyError::Corrupt)?;
        Ok((id, key))
    }
}

async fn live_key(c: &tokio_postgres::Client, contact: ContactId) -> Result<Option<(Uuid, Vec<u8>)>, SharedStateError> {
    let row = c
        .query_opt("SELECT key_id, wrapped FROM data_keys WHERE contact_id = $1", &[&contact.0])
        .await
        .map_err(storage)?;
    Ok(row.map(|r| (r.get::<_, Uuid>(0), r.get::<_, Vec<u8>>(1))))
}

impl ContactKeys for PgKeyStore {
    fn blind_index_key(&self, partner: PartnerId) -> SecretKey {
        crate::contact_keys::blind_index_key(&self.master, partner)
    }

    fn data_key_for(&self, partner: PartnerId, contact: ContactId) -> Result<(DataKeyId, SecretKey), KeyError> {
        if let Some(found) = self.cache.live(contact) {
            return Ok(found);
        }
        let epoch = self.cache.epoch();
        let remembered = |found: (DataKeyId, SecretKey)| {
            self.cache.remember(epoch, contact, found.0, &found.1, true);
            found
        };
        // A contact this node has not met yet costs one round trip.
        if let Some((id, wrapped)) = self.shared.with(move |c| async move { live_key(&c, contact).await })? {
            return self.unwrap(id, &wrapped).map(remembered);
        }
        let id = DataKeyId(Uuid::new_v4());
        let key = SecretKey::generate(&mut rand::rngs::OsRng);
        let wrapped = wrap_data_key(&self.master, id, &key, &mut rand::rngs::OsRng);
        // The unique contact id decides a race between nodes: whoever inserts first wins,
        // and every caller reads back the one key that stands.
        let stored = self.shared.with(move |c| async move {
            c.execute(
                "INSERT INTO data_keys (key_id, contact_id, partner_id, wrapped) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (contact_id) DO NOTHING",
                &[&id.0, &contact.0, &partner.0, &wrapped],
            )
            .await
            .map_err(storage)?;
            live_key(&c, contact).await
        })?;
        match stored {
            Some((stored_id, _)) if stored_id == id.0 => Ok(remembered((id, key))),
            Some((stored_id, stored)) => self.unwrap(stored_id, &stored).map(remembered),
            None => Err(KeyError::Storage("a contact's new key was not stored".into())),
        }
    }

    fn data_key(&self, id: DataKeyId) -> Result<Option<SecretKey>, KeyError> {
        if let Some(key) = self.cache.by_id(id) {
            return Ok(Some(key));
        }
        let epoch = self.cache.epoch();
        let found = self.shared.with(move |c| async move {
            let row = c
                .query_opt("SELECT wrapped, contact_id FROM data_keys WHERE key_id = $1", &[&id.0])
                .await
                .map_err(storage)?;
            Ok(row.map(|r| (r.get::<_, Vec<u8>>(0), ContactId(r.get::<_, Uuid>(1)))))
        })?;
        let Some((wrapped, contact)) = found else { return Ok(None) };
        let (_, key) = self.unwrap(id.0, &wrapped)?;
        // Not marked live: the contact's live key is whichever `data_key_for` finds.
        self.cache.remember(epoch, contact, id, &key, false);
        Ok(Some(key))
    }

    fn begin_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        self.shared.with(move |c| async move {
            c.execute("INSERT INTO erase_intents (contact_id) VALUES ($1) ON CONFLICT DO NOTHING", &[&contact.0])
                .await
                .map_err(storage)
        })?;
        Ok(())
    }

    fn destroy_contact_keys(&self, contact: ContactId) -> Result<usize, KeyError> {
        let destroyed = self.shared.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(storage)?;
            let n = tx.execute("DELETE FROM data_keys WHERE contact_id = $1", &[&contact.0]).await.map_err(storage)?;
            tx.execute("DELETE FROM erase_intents WHERE contact_id = $1", &[&contact.0]).await.map_err(storage)?;
            // Every node's cache hears it when the deletion commits, and not before.
            tx.execute("SELECT pg_notify($1, $2)", &[&ERASURES, &contact.0.to_string()]).await.map_err(storage)?;
            tx.commit().await.map_err(storage)?;
            Ok(n)
        })?;
        self.cache.forget(contact);
        Ok(destroyed as usize)
    }

    fn pending_erasures(&self) -> Result<Vec<ContactId>, KeyError> {
        let ids = self.shared.with(|c| async move {
            let rows = c.query("SELECT contact_id FROM erase_intents", &[]).await.map_err(storage)?;
            Ok(rows.iter().map(|r| ContactId(r.get::<_, Uuid>(0))).collect::<Vec<_>>())
        })?;
        Ok(ids)
    }

    fn abandon_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        self.shared.with(move |c| async move {
            c.execute("DELETE FROM erase_intents WHERE contact_id = $1", &[&contact.0]).await.map_err(storage)
        })?;
        Ok(())
    }
}
