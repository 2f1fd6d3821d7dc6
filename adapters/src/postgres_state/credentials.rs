//! Channel access tokens in the shared database, sealed as in the embedded store.

use super::{storage, PgShared, SharedStateError};
use crate::credentials::TokenSeal;
use laras_commands::credentials::{AccessToken, ChannelCredentials, CredentialError};
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use laras_domain::sealed::SecretKey;

pub struct PgCredentials {
    shared: PgShared,
    seal: TokenSeal,
}

impl From<SharedStateError> for CredentialError {
    fn from(e: SharedStateError) -> Self {
        CredentialError::Storage(e.to_string())
    }
}

impl PgCredentials {
    pub fn new(shared: PgShared, master: &SecretKey) -> Self {
        Self { shared, seal: TokenSeal::new(master) }
    }
}

impl ChannelCredentials for PgCredentials {
    fn store(&self, partner: PartnerId, channel: ChannelKind, token: &AccessToken) -> Result<(), CredentialError> {
        let sealed = self.seal.seal(partner, channel, token)?;
        self.shared.with(move |c| async move {
            c.execute(
                "INSERT INTO channel_tokens (partner_id, channel, sealed) VALUES ($1, $2, $3)
                 ON CONFLICT (partner_id, channel) DO UPDATE SET sealed = excluded.sealed",
                &[&partner.0, &channel.as_str(), &sealed],
            )
            .await
            .map_err(storage)
        })?;
        Ok(())
    }

    fn token(&self, partner: PartnerId, channel: ChannelKind) -> Result<Option<AccessToken>, CredentialError> {
        let sealed = self.shared.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT sealed FROM channel_tokens WHERE partner_id = $1 AND channel = $2",
                    &[&partner.0, &channel.as_str()],
                )
                .await
                .map_err(storage)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        sealed.map(|sealed| self.seal.open(partner, channel, &sealed)).transpose()
    }

    fn remove(&self, partner: PartnerId, channel: ChannelKind) -> Result<(), CredentialError> {
        self.shared.with(move |c| async move {
            c.execute(
                "DELETE FROM channel_tokens WHERE partner_id = $1 AND channel = $2",
                &[&partner.0, &channel.as_str()],
            )
            .await
            .map_err(storage)
        })?;
        Ok(())
    }
}
