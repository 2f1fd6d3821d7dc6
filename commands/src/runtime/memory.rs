//! Checkpoints and leases in memory: for tests, for one process, and the reference for
//! the durable backends.

use super::checkpoint::{CheckpointError, Checkpoints, Snapshot, Snapshots};
use super::lease::{Fence, Lease, LeaseError, Leases, NodeId};
use crate::store::Position;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Held {
    holder: NodeId,
    fence: Fence,
    until: Instant,
}

/// Leases and checkpoints sharing one table, as a shared server keeps them.
#[derive(Default, Clone)]
pub struct MemoryRuntime {
    leases: Arc<Mutex<HashMap<String, Held>>>,
    /// The highest fence ever given per name, so tokens never repeat after a release.
    issued: Arc<Mutex<HashMap<String, Fence>>>,
    checkpoints: Arc<Mutex<HashMap<String, Position>>>,
    snapshots: Arc<Mutex<HashMap<String, Snapshot>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryRuntime {
    fn check_fence(&self, process: &str, fence: Fence) -> Result<(), CheckpointError> {
        if fence != Fence::UNLEASED && self.live_fence(process, Instant::now()) != Some(fence) {
            return Err(CheckpointError::Fenced { process: process.to_owned() });
        }
        Ok(())
    }

    fn live_fence(&self, name: &str, now: Instant) -> Option<Fence> {
        lock(&self.leases).get(name).filter(|h| h.until > now).map(|h| h.fence)
    }
}

#[async_trait]
impl Leases for MemoryRuntime {
    async fn try_acquire(&self, name: &str, node: &NodeId, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        let now = Instant::now();
        let mut leases = lock(&self.leases);
        match leases.get_mut(name) {
            Some(held) if held.until > now && held.holder != *node => Ok(None),
            Some(held) if held.until > now => {
                held.until = now + ttl;
                Ok(Some(Lease { name: name.to_owned(), holder: node.clone(), fence: held.fence }))
            }
            _ => {
                let mut issued = lock(&self.issued);
                let fence = Fence(issued.get(name).map_or(1, |f| f.0 + 1));
                issued.insert(name.to_owned(), fence);
                leases.insert(name.to_owned(), Held { holder: node.clone(), fence, until: now + ttl });
                Ok(Some(Lease { name: name.to_owned(), holder: node.clone(), fence }))
            }
        }
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, LeaseError> {
        let now = Instant::now();
        let mut leases = lock(&self.leases);
        match leases.get_mut(&lease.name) {
            Some(held) if held.fence == lease.fence && held.until > now => {
                held.until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let mut leases = lock(&self.leases);
        if leases.get(&lease.name).is_some_and(|h| h.fence == lease.fence) {
            leases.remove(&lease.name);
        }
        Ok(())
    }

    async fn current(&self, name: &str) -> Result<Option<Fence>, LeaseError> {
        Ok(self.live_fence(name, Instant::now()))
    }
}

#[async_trait]
impl Checkpoints for MemoryRuntime {
    async fn load(&self, process: &str) -> Result<Option<Position>, CheckpointError> {
        Ok(lock(&self.checkpoints).get(process).copied())
    }

    async fn save(&self, process: &str, position: Position, fence: Fence) -> Result<(), CheckpointError> {
        self.check_fence(process, fence)?;
        let mut checkpoints = lock(&self.checkpoints);
        let current = checkpoints.get(process).copied().unwrap_or(0);
        if position < current {
            return Err(CheckpointError::Backwards { process: process.to_owned(), current, requested: position });
        }
        checkpoints.insert(process.to_owned(), position);
        Ok(())
    }
}

#[async_trait]
impl Snapshots for MemoryRuntime {
    async fn load_snapshot(&self, process: &str) -> Result<Option<Snapshot>, CheckpointError> {
        Ok(lock(&self.snapshots).get(process).cloned())
    }

    async fn save_snapshot(&self, process: &str, snapshot: &Snapshot, fence: Fence) -> Result<(), CheckpointError> {
        self.check_fence(process, fence)?;
        let mut snapshots = lock(&self.snapshots);
        let current = snapshots.get(process).map_or(0, |s| s.position);
        if snapshot.position < current {
            return Err(CheckpointError::Backwards {
                process: process.to_owned(),
                current,
                requested: snapshot.position,
            });
        }
        snapshots.insert(process.to_owned(), snapshot.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    crate::runtime_contract!(open);

    async fn open() -> Option<super::MemoryRuntime> {
        Some(super::MemoryRuntime::default())
    }
}
