//! Bounded concurrency across keys, in order within one key: the jobs of one
//! conversation run one after another, while up to `limit` conversations run at once.
//! A key with queued work waits for a free slot in turn, so a busy key cannot starve
//! the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use tokio::task::{Id, JoinError, JoinSet};

type Job<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub struct Lanes<K, T> {
    limit: usize,
    queued: HashMap<K, VecDeque<Job<T>>>,
    waiting: VecDeque<K>,
    busy: HashSet<K>,
    running: JoinSet<T>,
    keys: HashMap<Id, K>,
    len: usize,
}

/// A job that panicked, with its key.
#[derive(Debug)]
pub struct Panicked<K>(pub K, pub JoinError);

impl<K: Hash + Eq + Clone + Send + 'static, T: Send + 'static> Lanes<K, T> {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            queued: HashMap::new(),
            waiting: VecDeque::new(),
            busy: HashSet::new(),
            running: JoinSet::new(),
            keys: HashMap::new(),
            len: 0,
        }
    }

    /// Jobs queued or running.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs `job` after every job of `key` pushed before it.
    pub fn push(&mut self, key: K, job: impl Future<Output = T> + Send + 'static) {
        self.len += 1;
        let queue = self.queued.entry(key.clone()).or_default();
        queue.push_back(Box::pin(job));
        if queue.len() == 1 && !self.busy.contains(&key) {
            self.waiting.push_back(key);
        }
        self.fill();
    }

    fn fill(&mut self) {
        while self.running.len() < self.limit {
            let Some(key) = self.waiting.pop_front() else { return };
            let Some(job) = self.queued.get_mut(&key).and_then(VecDeque::pop_front) else { continue };
            if self.queued.get(&key).is_some_and(VecDeque::is_empty) {
                self.queued.remove(&key);
            }
            let handle = self.running.spawn(job);
            self.keys.insert(handle.id(), key.clone());
            self.busy.insert(key);
        }
    }

    /// The next finished job's key and output; `None` when nothing is queued or running.
    pub async fn next(&mut self) -> Option<Result<(K, T), Panicked<K>>> {
        let joined = self.running.join_next_with_id().await?;
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let key = self.keys.remove(&id)?;
        self.len -= 1;
        self.busy.remove(&key);
        if self.queued.contains_key(&key) {
            // Its next job waits its turn behind other keys already waiting.
            self.waiting.push_back(key.clone());
        }
        self.fill();
        Some(match joined {
            Ok((_, out)) => Ok((key, out)),
            Err(e) => Err(Panicked(key, e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test]
    async fn jobs_of_one_key_run_in_order_and_other_keys_are_not_held_by_a_slow_one() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lanes = Lanes::new(2);
        for (key, n, ms) in [("slow", 1, 300), ("slow", 2, 0), ("fast", 1, 0), ("fast", 2, 0), ("fast", 3, 0)] {
            let log = log.clone();
            lanes.push(key, async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                log.lock().unwrap().push((key, n));
            });
        }
        assert_eq!(lanes.len(), 5);
        while let Some(done) = lanes.next().await {
            done.unwrap();
        }
        assert!(lanes.is_empty());
        let log = log.lock().unwrap().clone();
        assert_eq!(&log[..3], &[("fast", 1), ("fast", 2), ("fast", 3)], "fast ran while slow slept");
        assert_eq!(&log[3..], &[("slow", 1), ("slow", 2)], "slow kept its order");
    }

    #[tokio::test]
    async fn no_more_than_the_limit_run_at_once() {
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        let mut lanes = Lanes::new(3);
        for key in 0..10 {
            let running = running.clone();
            lanes.push(key, async move {
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 = r.1.max(r.0);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.lock().unwrap().0 -= 1;
            });
        }
        while lanes.next().await.is_some() {}
        assert_eq!(running.lock().unwrap().1, 3);
    }
}
