//! Follows the log into the read models: catch up from the checkpoint, then live.

use crate::error::ProjectionError;
use crate::models::ReadModels;
use laras_commands::keys::ContactKeys;
use laras_commands::store::{EventStore, Position, StoredEnvelope};
use laras_commands::subscription::Subscription;
use laras_domain::time::Clock;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Events per batch while following live.
const PAGE: usize = 2_000;
/// Events per transaction while catching up: index pages touched by many events of one
/// transaction are written once, which is most of a rebuild's cost at scale.
const CATCH_UP_PAGE: usize = 20_000;
/// Recency moves with time even when nothing is appended.
const SEGMENTS_EVERY: Duration = Duration::from_secs(10 * 60);

#[derive(Clone)]
pub struct ProjectionRunner {
    pub store: Arc<dyn EventStore>,
    pub keys: Arc<dyn ContactKeys>,
    pub models: ReadModels,
    pub clock: Arc<dyn Clock>,
}

impl ProjectionRunner {
    async fn apply(&self, batch: Vec<StoredEnvelope>) -> Result<(), ProjectionError> {
        let (models, keys, now) = (self.models.clone(), self.keys.clone(), self.clock.now().0);
        tokio::task::spawn_blocking(move || models.apply_batch(&batch, keys.as_ref(), now))
            .await
            .map_err(|_| ProjectionError::Stopped)?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadModels) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let models = self.models.clone();
        tokio::task::spawn_blocking(move || f(&models)).await.map_err(|_| ProjectionError::Stopped)?
    }

    /// Applies everything up to the log's current head; `progress(done, total)` after each page.
    pub async fn catch_up(&self, mut progress: impl FnMut(u64, u64)) -> Result<Position, ProjectionError> {
        let head = *self.store.head().borrow();
        let start = self.models.resume_from();
        let mut after = start;
        while after < head {
            let batch = self.store.read_all(after, CATCH_UP_PAGE).await?;
            let Some(last) = batch.last().map(|s| s.position) else { break };
            self.apply(batch).await?;
            after = last;
            progress(after - start, head - start);
        }
        self.blocking(|m| m.flush_search()).await?;
        let now = self.clock.now().0;
        self.blocking(move |m| m.recompute_segments(now)).await?;
        Ok(after)
    }

    /// Follows the log until `stop` resolves.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), ProjectionError> {
        tokio::pin!(stop);
        let mut subscription = Subscription::new(self.store.clone(), self.models.resume_from(), PAGE);
        let mut segments = tokio::time::interval(SEGMENTS_EVERY);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                batch = subscription.next_batch() => self.apply(batch?).await?,
                _ = segments.tick() => {
                    let now = self.clock.now().0;
                    let n = self.blocking(move |m| m.recompute_segments(now)).await?;
                    tracing::debug!(contacts = n, "segments recomputed");
                }
            }
        }
        self.blocking(|m| m.flush_search()).await
    }

    /// Follows the log on a thread and runtime of its own, so request traffic on the
    /// main runtime never delays the read models (append-to-visible lag stays low under load).
    pub fn spawn_dedicated(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<std::thread::JoinHandle<Result<(), ProjectionError>>, ProjectionError> {
        let io = |source| ProjectionError::Io { path: "projection runner thread".into(), source };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io)?;
        std::thread::Builder::new()
            .name("read-models".into())
            .spawn(move || runtime.block_on(self.run(stop)))
            .map_err(io)
    }

    /// Empties the read models and projects the whole log again.
    pub async fn rebuild(&self, progress: impl FnMut(u64, u64)) -> Result<Position, ProjectionError> {
        self.blocking(|m| m.clear()).await?;
        self.catch_up(progress).await
    }
}
