//! The processes that keep their own checkpoints (the read models, the search index, the
//! Merkle log) and the outbox, as they are, under the supervisor: each run resumes from
//! its own checkpoint, and its position is read once a second for `/readyz` and metrics.

use laras_commands::audit::MerkleLog;
use laras_commands::outbox::Outbox;
use laras_commands::runtime::{Checkpoints, Process, ProcessContext, ProcessError};
use laras_commands::store::Position;
use laras_projections::{ProjectionRunner, ReadModels};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_secs(1);

/// Runs `work` to its end, reporting `position()` to the status every second.
async fn watched<E>(
    ctx: &ProcessContext,
    position: impl Fn() -> Position,
    work: impl Future<Output = Result<(), E>>,
) -> Result<(), ProcessError>
where
    ProcessError: From<E>,
{
    tokio::pin!(work);
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            done = &mut work => {
                ctx.status.advanced(position());
                return done.map_err(ProcessError::from);
            }
            _ = poll.tick() => ctx.status.advanced(position()),
        }
    }
}

/// The read models' process name (status, skips).
pub const READ_MODELS: &str = "read-models";

/// The read-model runner, on its own thread and runtime as before; every node keeps its own.
pub struct ReadModelsProcess(pub ProjectionRunner);

#[derive(Debug, thiserror::Error)]
#[error("the read-model thread ended without an answer")]
struct ThreadLost;

#[async_trait::async_trait]
impl Process for ReadModelsProcess {
    fn name(&self) -> &str {
        READ_MODELS
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let models = self.0.models.clone();
        ctx.status.started_from(models.resume_from());
        let cancel = ctx.cancel.clone();
        let mut runner = self.0.clone();
        if let Some(skips) = runner.skips.as_mut() {
            // Skips count in this process's status (`/readyz`, metrics).
            skips.status = ctx.status.clone();
        }
        let thread = runner.spawn_dedicated(async move { cancel.cancelled().await })?;
        let joined = async {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|_| ThreadLost)?
                .map_err(|_| ThreadLost)?
                .map_err(ProcessError::from)
        };
        watched(&ctx, || models.position(), joined).await
    }
}

/// The search index: fed by the read-model runner's indexer thread; this process only
/// shows how far it has committed (a stalled indexer shows as lag).
pub struct SearchIndexProcess(pub ReadModels);

#[async_trait::async_trait]
impl Process for SearchIndexProcess {
    fn name(&self) -> &str {
        "search-index"
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        ctx.status.started_from(self.0.search_position());
        let cancel = ctx.cancel.clone();
        watched(&ctx, || self.0.search_position(), async move {
            cancel.cancelled().await;
            Ok::<(), ProcessError>(())
        })
        .await
    }
}

/// The Merkle log resumes from the checkpoint it keeps with its trees (`audit.sqlite`).
/// Once-only: tree heads are signed by one node.
pub struct MerkleLogProcess(pub MerkleLog);

#[async_trait::async_trait]
impl Process for MerkleLogProcess {
    fn name(&self) -> &str {
        laras_commands::audit::PROCESS
    }

    fn once_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let trees = self.0.trees.clone();
        ctx.status.started_from(trees.checkpoint()?);
        let cancel = ctx.cancel.clone();
        let position = || trees.checkpoint().unwrap_or(0);
        watched(&ctx, position, self.0.clone().run(ctx.fence, async move { cancel.cancelled().await })).await
    }
}

/// The outbox resumes from its own low-water mark (the position before the oldest send
/// still pending) and reports how far it has read. Once-only: one node sends.
pub struct OutboxProcess {
    pub outbox: Outbox,
    pub checkpoints: Arc<dyn Checkpoints>,
}

#[async_trait::async_trait]
impl Process for OutboxProcess {
    fn name(&self) -> &str {
        laras_commands::outbox::PROCESS
    }

    fn once_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let from = self.checkpoints.load(laras_commands::outbox::PROCESS).await?.unwrap_or(0);
        ctx.status.started_from(from);
        let cancel = ctx.cancel.clone();
        let work =
            self.outbox.run(self.checkpoints.as_ref(), ctx.fence, &ctx.status, async move { cancel.cancelled().await });
        watched(&ctx, || self.outbox.position(), work).await
    }
}
