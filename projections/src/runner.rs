//! Follows the log into the read models: catch up from the checkpoint, then live.

use crate::error::ProjectionError;
use crate::models::{decode_owned, Decoded, ReadModels};
use laras_commands::keys::ContactKeys;
use laras_commands::runtime::{poison, Skips};
use laras_commands::store::{EventStore, Position, StoredEnvelope};
use laras_commands::subscription::Subscription;
use laras_domain::event::SkipReason;
use laras_domain::time::Clock;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Events per batch while following live.
const PAGE: usize = 2_000;
/// Events per transaction while catching up: index pages touched by many events of one
/// transaction are written once, which is most of a rebuild's cost at scale.
const CATCH_UP_PAGE: usize = 20_000;
/// Pages read and decoded ahead of the one being applied, while catching up.
const PIPELINE: usize = 2;
/// Recency moves with time even when nothing is appended.
const SEGMENTS_EVERY: Duration = Duration::from_secs(10 * 60);

#[derive(Clone)]
pub struct ProjectionRunner {
    pub store: Arc<dyn EventStore>,
    pub keys: Arc<dyn ContactKeys>,
    pub models: ReadModels,
    pub clock: Arc<dyn Clock>,
    /// Where an event that keeps failing is recorded as skipped before the read models go
    /// on without it; None: such an event stops the runner (its supervisor restarts it).
    pub skips: Option<Skips>,
}

impl ProjectionRunner {
    async fn apply(&self, batch: Vec<StoredEnvelope>) -> Result<(), ProjectionError> {
        let decoded =
            tokio::task::spawn_blocking(move || decode_owned(batch)).await.map_err(|_| ProjectionError::Stopped)?;
        self.apply_decoded(decoded).await
    }

    /// Applies a decoded batch in one transaction. An event that fails is tried again with
    /// the batch (an undecodable one is not: it never will decode), and after the policy's
    /// tries it is recorded as skipped and the batch applied without it.
    async fn apply_decoded(&self, batch: Vec<Decoded>) -> Result<(), ProjectionError> {
        let batch = Arc::new(batch);
        let mut skipped = BTreeSet::new();
        let mut tries: HashMap<Position, u32> = HashMap::new();
        loop {
            let (models, keys, now) = (self.models.clone(), self.keys.clone(), self.clock.now().0);
            let (batch_, skipped_) = (batch.clone(), skipped.clone());
            let applied = tokio::task::spawn_blocking(move || {
                models.apply_decoded_skipping(&batch_, keys.as_ref(), now, &skipped_)
            })
            .await
            .map_err(|_| ProjectionError::Stopped)?;
            let (Err(error), Some(skips)) = (&applied, &self.skips) else { return applied };
            let Some((position, failure)) = error.poison() else { return applied };
            let Some((stored, _)) = batch.iter().find(|(s, _)| s.position == position) else { return applied };
            let tried = tries.entry(position).or_default();
            *tried += 1;
            let reason = match failure {
                None => SkipReason::Undecodable,
                Some(failure) if *tried >= skips.policy.attempts.max(1) => {
                    SkipReason::Failed { failure: failure.to_owned(), attempts: *tried }
                }
                Some(_) => {
                    tracing::warn!(process = skips.status.name(), position, try_ = *tried, error = %error, "event failed; trying again");
                    tokio::time::sleep(skips.delay(*tried)).await;
                    continue;
                }
            };
            // Recorded before the checkpoint passes it: a skip is never lost.
            poison::skip(&skips.ledger, &skips.status, stored, reason).await.map_err(|e| match e {
                laras_commands::CommandError::Store(e) => ProjectionError::Store(e),
                other => ProjectionError::SkipNotRecorded(other.to_string()),
            })?;
            skipped.insert(position);
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadModels) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let models = self.models.clone();
        tokio::task::spawn_blocking(move || f(&models)).await.map_err(|_| ProjectionError::Stopped)?
    }

    /// Applies everything up to the log's current head; `progress(done, total)` after each page.
    ///
    /// Pipelined: while one page is applied (in log order, one transaction), the next is
    /// read and decoded on every core. At most [`PIPELINE`] pages wait.
    ///
    /// From empty, the tables load without their deferred indexes, built once at the end
    /// (also when the load fails, so the read models are never left without them).
    pub async fn catch_up(&self, progress: impl FnMut(u64, u64)) -> Result<Position, ProjectionError> {
        let bulk = self.blocking(|m| m.begin_bulk_load()).await?;
        let caught_up = self.catch_up_pages(progress).await;
        if bulk {
            self.blocking(|m| m.end_bulk_load()).await?;
        }
        let after = caught_up?;
        self.blocking(|m| m.flush_search()).await?;
        let now = self.clock.now().0;
        self.blocking(move |m| m.recompute_segments(now)).await?;
        Ok(after)
    }

    async fn catch_up_pages(&self, mut progress: impl FnMut(u64, u64)) -> Result<Position, ProjectionError> {
        let head = *self.store.head().borrow();
        let start = self.models.resume_from();
        let (pages, mut ready) = tokio::sync::mpsc::channel::<Result<Vec<Decoded>, ProjectionError>>(PIPELINE);
        let store = self.store.clone();
        let reader = tokio::spawn(async move {
            let mut after = start;
            while after < head {
                let page = match store.read_all(after, CATCH_UP_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = pages.send(Err(e.into())).await;
                        return;
                    }
                };
                let Some(last) = page.last().map(|s| s.position) else { break };
                after = last;
                let decoded = tokio::task::spawn_blocking(move || decode_owned(page)).await;
                let sent = match decoded {
                    Ok(decoded) => pages.send(Ok(decoded)).await,
                    Err(_) => pages.send(Err(ProjectionError::Stopped)).await,
                };
                if sent.is_err() {
                    return; // the applier stopped
                }
            }
        });
        let mut after = start;
        while let Some(page) = ready.recv().await {
            let page = page?;
            let Some(last) = page.last().map(|(s, _)| s.position) else { continue };
            self.apply_decoded(page).await?;
            after = last;
            progress(after - start, head - start);
        }
        let _ = reader.await;
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

    /// Empties the read models and projects the whole log again, in place.
    pub async fn rebuild(&self, progress: impl FnMut(u64, u64)) -> Result<Position, ProjectionError> {
        self.blocking(|m| m.clear()).await?;
        self.catch_up(progress).await
    }

    /// Projects the whole log into a fresh read-model folder beside `dir`'s, then swaps it
    /// in: until the swap, the read models in `dir` stay as they were (and a failed rebuild
    /// leaves them so). Nothing may have `dir`'s read models open (the server stopped).
    /// With `skips`, an event that cannot be projected is recorded as skipped (once: the
    /// server's runner records the same skip under the same id) and the rebuild goes on.
    pub async fn rebuild_fresh(
        store: Arc<dyn EventStore>,
        keys: Arc<dyn ContactKeys>,
        clock: Arc<dyn Clock>,
        skips: Option<Skips>,
        dir: &Path,
        progress: impl FnMut(u64, u64),
    ) -> Result<Position, ProjectionError> {
        let staging = dir.join("readmodels.rebuild");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ProjectionError::Io { path, source }
        };
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        let position = {
            let runner = Self { store, keys, models: ReadModels::open(&staging)?, clock, skips };
            let position = runner.catch_up(progress).await?;
            let models = runner.models.clone();
            drop(runner);
            // Closing commits the index and checkpoints the WAL into the file.
            tokio::task::spawn_blocking(move || drop(models)).await.map_err(|_| ProjectionError::Stopped)?;
            position
        };
        swap_in(&staging, dir)?;
        Ok(position)
    }
}

/// The files that make up a read-model folder.
const MODEL_FILES: [&str; 4] = ["readmodels.sqlite", "readmodels.sqlite-wal", "readmodels.sqlite-shm", "search"];

/// Moves the staged read models over `dir`'s: the old ones aside first, then the new in,
/// then the old removed. A crash in between leaves some missing, never a mix in one file;
/// missing read models are rebuilt from 0 at the next start.
fn swap_in(staging: &Path, dir: &Path) -> Result<(), ProjectionError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProjectionError::Io { path, source }
    };
    let old = dir.join("readmodels.old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    std::fs::create_dir_all(&old).map_err(io(&old))?;
    for name in MODEL_FILES {
        let live = dir.join(name);
        if live.exists() {
            std::fs::rename(&live, old.join(name)).map_err(io(&live))?;
        }
    }
    for name in MODEL_FILES {
        let staged = staging.join(name);
        if staged.exists() {
            std::fs::rename(&staged, dir.join(name)).map_err(io(&staged))?;
        }
    }
    std::fs::remove_dir_all(&old).map_err(io(&old))?;
    std::fs::remove_dir_all(staging).map_err(io(staging))?;
    Ok(())
}
