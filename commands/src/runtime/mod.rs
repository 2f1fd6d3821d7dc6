//! What the processes that follow the log need to run once and resume: durable
//! checkpoints and leases with fencing tokens, a supervisor that restarts them and shows
//! their state, and the handling of events that keep failing.
//!
//! A process (the outbox, the AI worker, follow-ups, the Merkle log, media fetching…)
//! that must run on exactly one node holds its [`Lease`] while it works and saves its
//! [`Checkpoint`](checkpoint::Checkpoints) with the lease's [`Fence`]: a node that lost
//! its lease (it paused longer than the lease, and another node took over) can no
//! longer move the checkpoint. Its appends to the log are still safe, since every
//! process derives its events' ids from what caused them and the store answers a
//! repeated id as a duplicate.
//!
//! Backends: in memory (`memory`), the embedded data dir (one process holds the data
//! dir, so its leases are only ever contended within that process), PostgreSQL (shared
//! by every node). `contract` (feature `contract`) is the suite every backend passes.

pub mod checkpoint;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
pub mod follow;
pub mod lanes;
pub mod lease;
pub mod memory;
pub mod poison;
pub mod status;
pub mod supervisor;

pub use checkpoint::{CheckpointError, Checkpoints, Snapshot, Snapshots};
pub use lease::{Fence, Lease, LeaseError, Leases, NodeId};
pub use poison::{handle_or_skip, FailureKind, Handled, PoisonPolicy, Skips};
pub use status::{ProcessState, ProcessStatus, Registry, StatusHandle};
pub use supervisor::{Process, ProcessContext, ProcessError, Supervisor, SupervisorSettings};

/// Checkpoints, snapshots and leases in one backend (they share its fencing).
pub trait RuntimeStore: Checkpoints + Snapshots + Leases {}

impl<T: Checkpoints + Snapshots + Leases> RuntimeStore for T {}
