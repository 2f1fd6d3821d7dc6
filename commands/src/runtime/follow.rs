//! A once-only process that follows the log and works per conversation in lanes (the AI
//! worker's drafts, the media fetcher's files): pages are read while earlier work still
//! runs, and the checkpoint stays just below the oldest event whose work is unfinished,
//! so a restart redoes only what was not done.

use super::lanes::Lanes;
use super::poison::Handled;
use super::{Checkpoints, ProcessContext, ProcessError};
use crate::error::CommandError;
use crate::store::{EventStore, Position, StoredEnvelope};
use crate::subscription::Subscription;
use async_trait::async_trait;
use laras_domain::ids::ConversationId;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

type Outcome = (Position, Result<Handled, CommandError>);

#[derive(Debug, thiserror::Error)]
#[error("a task of {process} panicked")]
struct JobPanicked {
    process: &'static str,
}

/// Work queued per conversation, with the positions of the events it came from.
pub struct LaneJobs {
    process: &'static str,
    lanes: Lanes<ConversationId, Outcome>,
    pending: BTreeSet<Position>,
}

impl LaneJobs {
    fn new(process: &'static str, limit: usize) -> Self {
        Self { process, lanes: Lanes::new(limit), pending: BTreeSet::new() }
    }

    /// Runs `job` for the event at `position` after the conversation's earlier jobs.
    pub fn push(
        &mut self,
        conversation: ConversationId,
        position: Position,
        job: impl Future<Output = Result<Handled, CommandError>> + Send + 'static,
    ) {
        self.pending.insert(position);
        self.lanes.push(conversation, async move { (position, job.await) });
    }

    /// Waits for every queued job (before work that must not overtake them).
    pub async fn drain(&mut self) -> Result<(), ProcessError> {
        while let Some(done) = self.lanes.next().await {
            self.finish(done)?;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        done: Result<(ConversationId, Outcome), super::lanes::Panicked<ConversationId>>,
    ) -> Result<(), ProcessError> {
        let (_, (position, result)) = done.map_err(|_| JobPanicked { process: self.process })?;
        self.pending.remove(&position);
        result?;
        Ok(())
    }

    /// The last position whose work, and all work before it, is done.
    fn done_up_to(&self, read: Position) -> Position {
        self.pending.first().map_or(read, |p| p - 1)
    }
}

/// What a lane follower does with each page it reads.
#[async_trait]
pub trait LaneFollower: Send + Sync {
    /// Handles `batch`, queuing its slow work in `jobs`.
    async fn take(
        &self,
        batch: &[StoredEnvelope],
        ctx: &ProcessContext,
        jobs: &mut LaneJobs,
    ) -> Result<(), ProcessError>;
}

/// How a lane follower runs.
pub struct LaneSettings {
    /// Its name: checkpoint, lease, logs.
    pub process: &'static str,
    /// Events read per page.
    pub page: usize,
    /// Conversations worked on at once.
    pub concurrency: usize,
    /// Jobs queued before it stops reading ahead.
    pub max_queued: usize,
}

/// Follows the log from `process`'s checkpoint until cancelled. Jobs still running when
/// it stops are not checkpointed: the next run meets their events again.
pub async fn follow_in_lanes(
    follower: &dyn LaneFollower,
    settings: &LaneSettings,
    store: Arc<dyn EventStore>,
    checkpoints: &dyn Checkpoints,
    from: Position,
    ctx: &ProcessContext,
) -> Result<(), ProcessError> {
    let mut subscription = Subscription::new(store, from, settings.page);
    let mut jobs = LaneJobs::new(settings.process, settings.concurrency);
    let (mut read, mut saved) = (from, from);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            Some(done) = jobs.lanes.next(), if !jobs.lanes.is_empty() => jobs.finish(done)?,
            batch = subscription.next_batch(), if jobs.lanes.len() < settings.max_queued => {
                follower.take(&batch?, ctx, &mut jobs).await?;
                read = subscription.position();
            }
        }
        let done = jobs.done_up_to(read);
        if done > saved {
            checkpoints.save(settings.process, done, ctx.fence).await?;
            saved = done;
            ctx.status.advanced(done);
        }
    }
    Ok(())
}
