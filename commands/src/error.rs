//! Why a command did not go through.

use crate::account_proof::ProofError;
use crate::keys::KeyError;
use crate::store::{Position, StoreError};
use laras_domain::envelope::EnvelopeError;
use laras_domain::error::DomainError;
use laras_domain::event::{DecodeError, RefusalReason};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command was refused by a domain rule; nothing was appended.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The send policy refused; the refusal itself was recorded at `position`.
    #[error("refused by policy: {reason}")]
    PolicyRefused { reason: RefusalReason, position: Option<Position> },
    /// Another Partner holds the account; the refusal was recorded at `position`.
    #[error("this account is connected to another Partner")]
    AccountHeld { position: Option<Position> },
    /// The platform did not vouch for the access token; nothing was recorded.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Other writers kept changing the stream; nothing was appended.
    #[error("gave up after {attempts} version conflicts")]
    Contention { attempts: u32 },
    /// The id names another partner's stream; reported to callers as "not found".
    #[error("not found")]
    ForeignStream,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("event at position {position} does not decode: {source}")]
    Decode { position: Position, source: DecodeError },
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A process could not load or save its checkpoint (or lost its lease).
    #[error(transparent)]
    Checkpoint(#[from] crate::runtime::CheckpointError),
}

impl CommandError {
    /// Whether the command certainly appended none of its events (a recorded refusal
    /// aside). A storage failure is not certain: the append may have committed unseen.
    pub fn appended_nothing(&self) -> bool {
        match self {
            CommandError::Domain(_)
            | CommandError::PolicyRefused { .. }
            | CommandError::AccountHeld { .. }
            | CommandError::Proof(_)
            | CommandError::Contention { .. }
            | CommandError::ForeignStream => true,
            CommandError::Store(_)
            | CommandError::Keys(_)
            | CommandError::Decode { .. }
            | CommandError::Envelope(_)
            | CommandError::Checkpoint(_) => false,
        }
    }
}
