//! API keys in the shared database: the same rows as the embedded table (id, Partner,
//! role, label, SHA-256 of the whole key), so a key made on one node works on every node.

use super::{storage, PgShared, SharedStateError};
use crate::api_keys::{digest, key_id_of, row_to_key, FreshKey, PREFIX};
use laras_commands::access::{AccessError, ApiKey, ApiKeySecret, ApiKeys, Role};
use laras_domain::ids::PartnerId;
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub struct PgApiKeys {
    shared: PgShared,
}

impl From<SharedStateError> for AccessError {
    fn from(e: SharedStateError) -> Self {
        AccessError::Storage(e.to_string())
    }
}

impl PgApiKeys {
    pub fn new(shared: PgShared) -> Self {
        Self { shared }
    }
}

impl ApiKeys for PgApiKeys {
    fn create(&self, partner: PartnerId, role: Role, label: &str) -> Result<(ApiKey, ApiKeySecret), AccessError> {
        let fresh = FreshKey::generate(partner, role, label)?;
        let (id, digest, label) = (fresh.bare_id.clone(), fresh.digest.to_vec(), label.to_owned());
        self.shared.with(move |c| async move {
            c.execute(
                "INSERT INTO api_keys (id, partner_id, role, label, digest) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &partner.0, &role.as_str(), &label, &digest],
            )
            .await
            .map_err(storage)
        })?;
        Ok((fresh.key, fresh.secret))
    }

    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, AccessError> {
        let Some(id) = key_id_of(presented) else { return Ok(None) };
        let bare = id.to_owned();
        let row = self.shared.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT partner_id, role, label, digest FROM api_keys WHERE id = $1 AND NOT revoked",
                    &[&bare],
                )
                .await
                .map_err(storage)?;
            Ok(row.map(|r| (r.get::<_, Uuid>(0), r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, Vec<u8>>(3))))
        })?;
        let Some((partner, role, label, stored)) = row else { return Ok(None) };
        if !bool::from(stored.as_slice().ct_eq(digest(presented).as_slice())) {
            return Ok(None);
        }
        Ok(row_to_key(id.to_owned(), partner.to_string(), role, label))
    }

    fn list(&self, partner: PartnerId) -> Result<Vec<ApiKey>, AccessError> {
        let rows = self.shared.with(move |c| async move {
            let rows = c
                .query(
                    "SELECT id, role, label FROM api_keys WHERE partner_id = $1 AND NOT revoked ORDER BY created",
                    &[&partner.0],
                )
                .await
                .map_err(storage)?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2)))
                .collect::<Vec<_>>())
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, role, label)| row_to_key(id, partner.0.to_string(), role, label))
            .collect())
    }

    fn revoke(&self, partner: PartnerId, id: &str) -> Result<bool, AccessError> {
        let bare = id.strip_prefix(PREFIX).unwrap_or(id).to_owned();
        let changed = self.shared.with(move |c| async move {
            c.execute(
                "UPDATE api_keys SET revoked = true WHERE id = $1 AND partner_id = $2 AND NOT revoked",
                &[&bare, &partner.0],
            )
            .await
            .map_err(storage)
        })?;
        Ok(changed > 0)
    }
}
