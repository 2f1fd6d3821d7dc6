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

/// A process's state as of a position, saved in one write: for processes whose state
/// is built from the whole log (the channel directory, follow-ups) and would otherwise
/// read the log from 0 at every start. The state is opaque bytes of the process's own
/// format; one that cannot be read is ignored and rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub position: Position,
    pub state: Vec<u8>,
}

#[async_trait]
pub trait Snapshots: Send + Sync {
    async fn load_snapshot(&self, process: &str) -> Result<Option<Snapshot>, CheckpointError>;

    /// Replaces the process's snapshot, if `fence` is current (as for
    /// [`Checkpoints::save`]) and it does not go back.
    async fn save_snapshot(&self, process: &str, snapshot: &Snapshot, fence: Fence) -> Result<(), CheckpointError>;
}
