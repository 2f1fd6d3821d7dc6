//! Contact data keys in the shared database, wrapped by the master key.
//!
//! Unlike the embedded store, nothing is cached: another node may erase a contact at any
//! moment, and a key it destroyed must not be handed out here afterwards. Erasure deletes
//! the row (see `docs/deploy.md` for what VACUUM and backups mean for deleted rows).

use super::{storage, PgShared, SharedStateError};
use laras_commands::keys::{ContactKeys, KeyError};
use laras_domain::ids::{ContactId, DataKeyId, PartnerId};
use laras_domain::sealed::{unwrap_data_key, wrap_data_key, SecretKey};
use uuid::Uuid;

pub struct PgKeyStore {
    shared: PgShared,
    master: SecretKey,
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
        Ok(Self { shared, master })
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
        // A known contact costs one round trip.
        if let Some((id, wrapped)) = self.shared.with(move |c| async move { live_key(&c, contact).await })? {
            return self.unwrap(id, &wrapped);
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
            Some((stored_id, _)) if stored_id == id.0 => Ok((id, key)),
            Some((stored_id, stored)) => self.unwrap(stored_id, &stored),
            None => Err(KeyError::Storage("a contact's new key was not stored".into())),
        }
    }

    fn data_key(&self, id: DataKeyId) -> Result<Option<SecretKey>, KeyError> {
        let wrapped = self.shared.with(move |c| async move {
            let row =
                c.query_opt("SELECT wrapped FROM data_keys WHERE key_id = $1", &[&id.0]).await.map_err(storage)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        wrapped.map(|w| self.unwrap(id.0, &w).map(|(_, key)| key)).transpose()
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
            tx.commit().await.map_err(storage)?;
            Ok(n)
        })?;
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
