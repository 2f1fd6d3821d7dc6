//! The API-key port: who may call the Partner API, for which Partner, in which role.
//!
//! A key is shown once, when it is created; only its SHA-256 is kept. Keys are 32
//! random bytes, so a plain hash (not a password hash) is enough: nobody can guess
//! one, and a stolen key table does not give the keys.

use laras_domain::ids::PartnerId;
use std::fmt;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything for its Partner, including keys, channels and erasure.
    Owner,
    /// Day-to-day work: drafts, replies, notes, the pipeline.
    Agent,
    /// Read-only: the read models, the audit trail and the proofs.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Agent => "agent",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "agent" => Some(Self::Agent),
            "auditor" => Some(Self::Auditor),
            _ => None,
        }
    }
}

/// A key as stored, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// The public part of the key (`lrs_<id>_…`), safe to log and to show.
    pub id: String,
    pub partner: PartnerId,
    pub role: Role,
    pub label: String,
}

/// The whole key, as handed to its holder once. Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum AccessError {
    #[error("the key store failed: {0}")]
    Storage(String),
    #[error("a key label must be at most 200 characters")]
    BadLabel,
}

pub trait ApiKeys: Send + Sync + 'static {
    /// Creates a key; the secret is returned once and never stored.
    fn create(&self, partner: PartnerId, role: Role, label: &str) -> Result<(ApiKey, ApiKeySecret), AccessError>;
    /// The key that `presented` is, if it is a live key.
    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, AccessError>;
    /// A Partner's live keys.
    fn list(&self, partner: PartnerId) -> Result<Vec<ApiKey>, AccessError>;
    /// Revokes a key of `partner`; false when it has no such key.
    fn revoke(&self, partner: PartnerId, id: &str) -> Result<bool, AccessError>;
}
