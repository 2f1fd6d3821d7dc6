//! The account-proof port: before a channel is connected, the platform is asked, with the
//! Partner's token, about the account the Partner names. Only an answer for that very
//! account proves that the token controls it.

use crate::credentials::AccessToken;
use async_trait::async_trait;
use laras_domain::channel::ChannelKind;
use laras_domain::event::AccountProof;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The platform answered, but not for this account with this token (another account,
    /// or "no such object or no permission": Meta does not say which).
    #[error("the access token does not control this account")]
    NotControlled,
    /// The platform rejected the token itself (Graph API error 190: expired, revoked, made up).
    #[error("the platform rejected the access token (code {code})")]
    TokenInvalid { code: i64 },
    /// The platform could not be asked; nothing is known either way.
    #[error("the platform could not be reached: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait AccountProver: Send + Sync + 'static {
    /// What the platform answers about `account_id` on `channel` when asked with `token`.
    /// Ok only when the answer names `account_id` itself.
    async fn prove(
        &self,
        channel: ChannelKind,
        account_id: &str,
        token: &AccessToken,
    ) -> Result<AccountProof, ProofError>;
}
