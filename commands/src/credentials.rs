//! The channel-credentials port: access tokens for the Graph API, encrypted at rest.

use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use std::fmt;

/// A Graph API access token. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    /// The token itself, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CredentialError {
    #[error("the credential store failed: {0}")]
    Storage(String),
    #[error("a stored token does not open under the master key")]
    Corrupt,
    #[error("an access token must be 1 to 4096 printable characters")]
    Malformed,
}

pub trait ChannelCredentials: Send + Sync + 'static {
    /// Stores (or replaces) the token for a Partner's channel.
    fn store(&self, partner: PartnerId, channel: ChannelKind, token: &AccessToken) -> Result<(), CredentialError>;
    /// The token for a Partner's channel, if one is stored.
    fn token(&self, partner: PartnerId, channel: ChannelKind) -> Result<Option<AccessToken>, CredentialError>;
    /// Forgets the token (the channel was disconnected).
    fn remove(&self, partner: PartnerId, channel: ChannelKind) -> Result<(), CredentialError>;
}

/// Rejects tokens that cannot be real (empty, huge, with whitespace or control characters).
pub fn validate_token(token: &str) -> Result<(), CredentialError> {
    if token.is_empty() || token.len() > 4096 || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CredentialError::Malformed);
    }
    Ok(())
}
