//! Aggregates the `Ledger` has already folded, by stream and version.
//!
//! A command used to read its streams from version 0 and decode and hash every stored
//! event, so its cost grew with the stream. With this cache a load asks the store only
//! for the events after the cached version (usually none), folds those into a copy of the
//! cached state and hashes only the new head. The store stays the only source of truth:
//! every load still reads the stream's tail, so an event appended by another writer (a
//! second node, another `Ledger` on the same store) is folded in before anyone decides on
//! it, and a lost race is still a `VersionConflict` from the store. Nothing is invalidated
//! by hand, because a stream never changes below its head (ADR 012).
//!
//! Only existing streams are cached (a missing one costs one empty read). The cache is
//! bounded: past `capacity` entries, an arbitrary eighth is dropped; a dropped stream is
//! simply folded from 0 again on its next load.

use crate::store::StreamHead;
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many (stream, aggregate type) states are kept by default.
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

/// A folded stream: its state, the head it was folded up to, and its owner.
pub struct Cached<A> {
    pub state: A,
    pub head: StreamHead,
    pub owner: PartnerId,
}

struct Entry {
    state: Box<dyn Any + Send + Sync>,
    head: StreamHead,
    owner: PartnerId,
}

/// The cache itself; one per `Ledger` (clones of a `Ledger` share it).
pub struct AggregateCache {
    entries: Mutex<HashMap<(StreamId, TypeId), Entry>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counters for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

impl Default for AggregateCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl AggregateCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(StreamId, TypeId), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the cached state of `stream` folded as `A`, if any.
    pub fn get<A: Clone + Send + Sync + 'static>(&self, stream: &StreamId) -> Option<Cached<A>> {
        let found = {
            let entries = self.lock();
            entries.get(&(stream.clone(), TypeId::of::<A>())).and_then(|e| {
                let state = e.state.downcast_ref::<A>()?.clone();
                Some(Cached { state, head: e.head, owner: e.owner })
            })
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `state` as `stream` folded up to `head`, unless a later head is already kept
    /// (two commands folding the same stream at once: the further one wins).
    pub fn put<A: Clone + Send + Sync + 'static>(&self, stream: &StreamId, cached: Cached<A>) {
        let key = (stream.clone(), TypeId::of::<A>());
        let mut entries = self.lock();
        if entries.get(&key).is_some_and(|e| e.head.version >= cached.head.version) {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let drop_n = (self.capacity / 8).max(1);
            let victims: Vec<_> = entries.keys().take(drop_n).cloned().collect();
            for victim in victims {
                entries.remove(&victim);
            }
        }
        entries.insert(key, Entry { state: Box::new(cached.state), head: cached.head, owner: cached.owner });
    }

    /// Forgets every state of `stream` (any aggregate type).
    pub fn forget(&self, stream: &StreamId) {
        self.lock().retain(|(s, _), _| s != stream);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn stream(n: u128) -> StreamId {
        StreamId::from_stored(format!("conversation-{n}"))
    }

    fn head(version: u64) -> StreamHead {
        StreamHead { version, hash: [version as u8; 32] }
    }

    const P: PartnerId = PartnerId(Uuid::from_u128(1));

    #[test]
    fn a_state_is_kept_per_stream_and_aggregate_type() {
        let cache = AggregateCache::default();
        cache.put(&stream(1), Cached { state: 7_u32, head: head(3), owner: P });
        assert_eq!(cache.get::<u32>(&stream(1)).map(|c| (c.state, c.head)), Some((7, head(3))));
        assert!(cache.get::<u64>(&stream(1)).is_none(), "another aggregate type is another entry");
        assert!(cache.get::<u32>(&stream(2)).is_none());
    }

    #[test]
    fn an_older_fold_never_replaces_a_newer_one() {
        let cache = AggregateCache::default();
        cache.put(&stream(1), Cached { state: 5_u32, head: head(5), owner: P });
        cache.put(&stream(1), Cached { state: 4_u32, head: head(4), owner: P });
        assert_eq!(cache.get::<u32>(&stream(1)).map(|c| c.state), Some(5));
        cache.put(&stream(1), Cached { state: 6_u32, head: head(6), owner: P });
        assert_eq!(cache.get::<u32>(&stream(1)).map(|c| c.state), Some(6));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = AggregateCache::with_capacity(16);
        for n in 0..100 {
            cache.put(&stream(n), Cached { state: n, head: head(0), owner: P });
        }
        assert!(cache.stats().entries <= 16);
        assert!(cache.get::<u128>(&stream(99)).is_some(), "the latest put is kept");
    }

    #[test]
    fn forgetting_a_stream_drops_every_type_folded_from_it() {
        let cache = AggregateCache::default();
        cache.put(&stream(1), Cached { state: 1_u32, head: head(0), owner: P });
        cache.put(&stream(1), Cached { state: 1_u64, head: head(0), owner: P });
        cache.forget(&stream(1));
        assert_eq!(cache.stats().entries, 0);
    }
}
