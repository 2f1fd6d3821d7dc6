//! The signing-key history: the first key records itself; each next key is recorded
//! under (so endorsed by) the key it replaces.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::event::DomainEvent;
use laras_domain::ids::PartnerId;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::StreamId;
use uuid::Uuid;

/// The signing-keys stream belongs to no partner.
pub const SYSTEM_PARTNER: PartnerId = PartnerId(Uuid::nil());

/// Key ids introduced in the log, oldest first.
#[derive(Clone, Default)]
struct KeyHistory(Vec<String>);

impl laras_domain::aggregate::Aggregate for KeyHistory {
    fn apply(&mut self, event: &DomainEvent) {
        if let DomainEvent::SigningKeyRotated { key_id, .. } = event {
            self.0.push(key_id.clone());
        }
    }
}

impl Ledger {
    /// Records the active key as the first key if the log has none.
    pub async fn ensure_genesis_key(&self) -> Result<Committed, CommandError> {
        let stream = StreamId::signing_keys();
        let loaded = self.load::<KeyHistory>(&stream).await?;
        if !loaded.state.0.is_empty() {
            return Ok(Committed::default());
        }
        let key = self.signer.active();
        let event = DomainEvent::SigningKeyRotated {
            key_id: key.id().to_string(),
            public_key: key.public_hex(),
            previous: None,
        };
        let meta = CommandMeta::system("keys");
        self.commit(SYSTEM_PARTNER, vec![Decided::new(stream, &loaded, vec![event])], &meta, &EventIds::Fresh).await
    }

    /// Key ids introduced in the log, oldest first.
    pub async fn key_history(&self) -> Result<Vec<String>, CommandError> {
        Ok(self.load::<KeyHistory>(&StreamId::signing_keys()).await?.state.0)
    }

    /// Records `next` signed by the current key, then makes it the active key.
    pub async fn rotate_signing_key(
        &self,
        next: LedgerSigningKey,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let stream = StreamId::signing_keys();
        let current = self.signer.active();
        if current.id() == next.id() {
            return Err(laras_domain::error::DomainError::KeyAlreadyActive.into());
        }
        let event = DomainEvent::SigningKeyRotated {
            key_id: next.id().to_string(),
            public_key: next.public_hex(),
            previous: Some(current.id().to_string()),
        };
        let committed = self
            .with_retry(|| async {
                let loaded = self.load::<KeyHistory>(&stream).await?;
                self.commit(
                    SYSTEM_PARTNER,
                    vec![Decided::new(stream.clone(), &loaded, vec![event.clone()])],
                    meta,
                    &EventIds::Fresh,
                )
                .await
            })
            .await?;
        self.signer.replace(next);
        Ok(committed)
    }
}
