//! The contact-keys port: per-contact data keys (crypto-shredding) and blind-index keys.
//!
//! Data keys live apart from the log, wrapped by a master key. A key is created
//! durably *before* any event that uses it is appended, so an acknowledged event
//! never holds ciphertext whose key was lost. Erasure destroys a contact's keys
//! *after* its `ContactErased` event is durable; an erase intent recorded first lets
//! a restart finish an erasure that a crash interrupted.

use laras_domain::ids::{ContactId, DataKeyId, PartnerId};
use laras_domain::sealed::SecretKey;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    #[error("the key store failed: {0}")]
    Storage(String),
    #[error("a wrapped data key does not open under the master key")]
    Corrupt,
}

pub trait ContactKeys: Send + Sync + 'static {
    /// The Partner's blind-index key (derived from the master key; never stored).
    fn blind_index_key(&self, partner: PartnerId) -> SecretKey;

    /// The contact's current data key, created (and durably stored) if it has none.
    fn data_key_for(&self, partner: PartnerId, contact: ContactId) -> Result<(DataKeyId, SecretKey), KeyError>;

    /// A data key by id; None once destroyed (the contact was erased) or never known.
    fn data_key(&self, id: DataKeyId) -> Result<Option<SecretKey>, KeyError>;

    /// Records that `contact` is about to be erased (before its event is appended).
    fn begin_erasure(&self, contact: ContactId) -> Result<(), KeyError>;

    /// Destroys every data key of `contact` and clears its erase intent; returns how many.
    fn destroy_contact_keys(&self, contact: ContactId) -> Result<usize, KeyError>;

    /// Contacts whose erasure began but did not finish (for the restart sweep).
    fn pending_erasures(&self) -> Result<Vec<ContactId>, KeyError>;

    /// Drops an erase intent whose event was never appended.
    fn abandon_erasure(&self, contact: ContactId) -> Result<(), KeyError>;
}
