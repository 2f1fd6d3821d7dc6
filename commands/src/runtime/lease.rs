//! The lease port: one holder at a time for each piece of work, with fencing tokens.

use async_trait::async_trait;
use std::time::Duration;

/// The node asking for a lease: stable for a process's life (host name and process id,
/// or a setting).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fencing token: it increases every time a lease changes holder, so a write carrying
/// an older token is refused. The default is [`Fence::UNLEASED`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fence(pub u64);

impl Fence {
    /// For work that every node does for itself (its own read models, its directory).
    pub const UNLEASED: Fence = Fence(0);
}

/// A held lease. Tokens start at 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: NodeId,
    pub fence: Fence,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LeaseError {
    #[error("the lease store failed: {0}")]
    Storage(String),
}

/// Leases by name (`"outbox"`, `"merkle-log"`, …). Time is the backend's: a shared
/// server's own clock, so nodes' clocks need not agree.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease for `ttl` when it is free, expired or already this node's;
    /// `None` while another holder's lease is live. A change of holder gives a new,
    /// higher fence.
    async fn try_acquire(&self, name: &str, node: &NodeId, ttl: Duration) -> Result<Option<Lease>, LeaseError>;

    /// Extends a held lease by `ttl` from now; `false` when it was lost (it expired and
    /// another node took it; the holder must stop its work).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, LeaseError>;

    /// Gives the lease up, so another node takes over at once rather than after `ttl`.
    async fn release(&self, lease: &Lease) -> Result<(), LeaseError>;

    /// The live fence of `name`, if anyone holds it.
    async fn current(&self, name: &str) -> Result<Option<Fence>, LeaseError>;
}
