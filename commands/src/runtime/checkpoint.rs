//! The checkpoint port: how far a process has got in the log.

use super::lease::Fence;
use crate::store::Position;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The fence is not the current token of the process's lease: another node holds
    /// the work now, and this one must stop.
    #[error("process {process} is fenced: its lease has moved to another holder")]
    Fenced { process: String },
    /// A checkpoint never moves back.
    #[error("process {process} is at {current}, it cannot go back to {requested}")]
    Backwards { process: String, current: Position, requested: Position },
    #[error("the checkpoint store failed: {0}")]
    Storage(String),
}

/// Durable positions by process name (`"outbox"`, `"ai-worker"`, …).
///
/// A process saves a position once every effect of the events up to it is durable, so a
/// restart resumes after it and may see later events again: processes are idempotent
/// for those.
#[async_trait]
pub trait Checkpoints: Send + Sync {
    /// The saved position, or `None` when the process has never saved one.
    async fn load(&self, process: &str) -> Result<Option<Position>, CheckpointError>;

    /// Saves `position` for `process`, if `fence` is the current token of the lease of
    /// the same name ([`Fence::UNLEASED`] for processes that run on every node and hold
    /// no lease). Saving the position already saved is a no-op.
    async fn save(&self, process: &str, position: Position, fence: Fence) -> Result<(), CheckpointError>;
}
