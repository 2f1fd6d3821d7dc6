//! A subscription over any [`EventStore`]: catches up from a position, then follows live.

use crate::store::{EventStore, Position, StoreError, StoredEnvelope};
use std::sync::Arc;
use tokio::sync::watch;

/// Pages through the log from a checkpoint, then waits for new commits.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    after: Position,
    head: watch::Receiver<Position>,
    page: usize,
}

impl Subscription {
    pub fn new(store: Arc<dyn EventStore>, after: Position, page: usize) -> Self {
        let head = store.head();
        Self { store, after, head, page: page.max(1) }
    }

    /// The last position handed out.
    pub fn position(&self) -> Position {
        self.after
    }

    /// The next batch of events in position order; waits while the log has nothing new.
    /// Returns `Err(StoreError::Closed)` when the store shuts down.
    pub async fn next_batch(&mut self) -> Result<Vec<StoredEnvelope>, StoreError> {
        loop {
            let batch = self.store.read_all(self.after, self.page).await?;
            if let Some(last) = batch.last() {
                self.after = last.position;
                return Ok(batch);
            }
            // Nothing new: wait until the head moves past what we have seen.
            let after = self.after;
            self.head.wait_for(|head| *head > after).await.map_err(|_| StoreError::Closed)?;
        }
    }
}
