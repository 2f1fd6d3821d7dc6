//! Why a command is refused. Policy refusals of sends are not errors: they are
//! recorded as `SendRefused` events (see `event::RefusalReason`).

use crate::channel::ChannelKind;
use crate::ids::*;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DomainError {
    #[error("bad input: {field} {reason}")]
    BadInput { field: &'static str, reason: String },
    #[error("the partner is not onboarded")]
    PartnerNotOnboarded,
    #[error("the partner is already onboarded")]
    PartnerAlreadyOnboarded,
    #[error("no {channel} channel is connected")]
    ChannelNotConnected { channel: ChannelKind },
    #[error("the conversation does not exist")]
    ConversationNotFound,
    #[error("the contact does not exist")]
    ContactNotFound,
    #[error("the contact was erased")]
    ContactErased,
    #[error("draft {0:?} does not exist on this conversation")]
    DraftNotFound(DraftId),
    #[error("draft {0:?} was already approved or rejected")]
    DraftAlreadyDecided(DraftId),
    #[error("draft {0:?} was already sent")]
    DraftAlreadySent(DraftId),
    #[error("send {0:?} does not exist on this conversation")]
    SendNotFound(SendId),
    #[error("send {0:?} already has its outcome")]
    SendAlreadySettled(SendId),
    /// Its latest attempt may have reached the customer; only its resolution may follow.
    #[error("send {send_id:?} is in doubt: attempt {attempt} may have gone out")]
    SendInDoubt { send_id: SendId, attempt: u32 },
    #[error("send {0:?} has no attempt in doubt")]
    SendNotInDoubt(SendId),
    #[error("send {0:?} is not held for a person")]
    SendNotHeld(SendId),
    #[error("the opportunity does not exist")]
    OpportunityNotFound,
    #[error("the opportunity already exists")]
    OpportunityAlreadyOpen,
    #[error("the opportunity is closed (won or lost); closed is final")]
    OpportunityClosed,
    #[error("stage {0:?} is not in the partner's pipeline")]
    UnknownStage(String),
    #[error("the opportunity is already in stage {0:?}")]
    AlreadyInStage(String),
    #[error("the article does not exist")]
    ArticleNotFound,
    #[error("the article is retired")]
    ArticleRetired,
    #[error("a contact cannot be merged with itself")]
    MergeWithSelf,
    #[error("the key is already active")]
    KeyAlreadyActive,
    #[error("a witness with this name or key is already registered")]
    WitnessAlreadyRegistered,
}

impl DomainError {
    pub fn bad_input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::BadInput { field, reason: reason.into() }
    }
}

/// Rejects empty or oversized text fields at the edge of the domain.
pub fn require_text(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::bad_input(field, "must not be empty"));
    }
    if value.len() > max_len {
        return Err(DomainError::bad_input(field, format!("must be at most {max_len} bytes")));
    }
    Ok(())
}
