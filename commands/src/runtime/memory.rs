//! Checkpoints and leases in memory: for tests, for one process, and the reference for
//! the durable backends.

use super::checkpoint::{CheckpointError, Checkpoints};
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryRuntime {
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
        if fence != Fence::UNLEASED && self.live_fence(process, Instant::now()) != Some(fence) {
            return Err(CheckpointError::Fenced { process: process.to_owned() });
        }
        let mut checkpoints = lock(&self.checkpoints);
        let current = checkpoints.get(process).copied().unwrap_or(0);
        if position < current {
            return Err(CheckpointError::Backwards { process: process.to_owned(), current, requested: position });
        }
        checkpoints.insert(process.to_owned(), position);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> NodeId {
        NodeId(n.to_owned())
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder() {
        let rt = MemoryRuntime::default();
        let ttl = Duration::from_secs(60);
        let a = rt.try_acquire("outbox", &node("a"), ttl).await.unwrap().unwrap();
        assert_eq!(a.fence, Fence(1));
        assert_eq!(rt.try_acquire("outbox", &node("b"), ttl).await.unwrap(), None);
        // The holder asking again keeps its fence.
        assert_eq!(rt.try_acquire("outbox", &node("a"), ttl).await.unwrap().unwrap().fence, Fence(1));
        rt.release(&a).await.unwrap();
        let b = rt.try_acquire("outbox", &node("b"), ttl).await.unwrap().unwrap();
        assert_eq!(b.fence, Fence(2));
        assert!(!rt.renew(&a, ttl).await.unwrap(), "a released lease cannot be renewed");
        assert!(rt.renew(&b, ttl).await.unwrap());
    }

    #[tokio::test]
    async fn an_expired_lease_goes_to_the_next_node_and_fences_the_old_one() {
        let rt = MemoryRuntime::default();
        let a = rt.try_acquire("outbox", &node("a"), Duration::from_millis(1)).await.unwrap().unwrap();
        rt.save("outbox", 5, a.fence).await.unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = rt.try_acquire("outbox", &node("b"), Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(b.fence > a.fence);
        assert!(!rt.renew(&a, Duration::from_secs(60)).await.unwrap());
        assert_eq!(rt.save("outbox", 9, a.fence).await, Err(CheckpointError::Fenced { process: "outbox".into() }));
        rt.save("outbox", 9, b.fence).await.unwrap();
        assert_eq!(rt.load("outbox").await.unwrap(), Some(9));
    }

    #[tokio::test]
    async fn checkpoints_never_move_back_and_unleased_processes_need_no_lease() {
        let rt = MemoryRuntime::default();
        assert_eq!(rt.load("read-models").await.unwrap(), None);
        rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
        rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
        assert!(matches!(
            rt.save("read-models", 3, Fence::UNLEASED).await,
            Err(CheckpointError::Backwards { current: 10, requested: 3, .. })
        ));
    }
}
