//! The AI worker and follow-ups as supervised processes: each resumes from its durable
//! checkpoint (the worker) or snapshot (follow-ups), never from the start of the log.

use super::follow_up::{FollowUpBook, FollowUps};
use super::{AiWorker, Seen, WorkerError};
use crate::runtime::follow::{follow_in_lanes, LaneFollower, LaneJobs, LaneSettings};
use crate::runtime::poison::{self, handle_or_skip, FailureKind, PoisonPolicy};
use crate::runtime::{Checkpoints, Process, ProcessContext, ProcessError, Snapshot, Snapshots};
use crate::store::{Position, StoredEnvelope};
use crate::subscription::Subscription;
use async_trait::async_trait;
use laras_domain::event::SkipReason;
use std::sync::Arc;

/// The AI worker's process name (checkpoint, lease, skips).
pub const AI_WORKER: &str = "ai-worker";
/// The follow-ups' process name.
pub const FOLLOW_UPS: &str = "follow-ups";
const PAGE: usize = 2_000;
/// Messages waiting for a draft before the worker stops reading ahead.
const MAX_QUEUED: usize = 4_096;

impl FailureKind for WorkerError {
    fn failure_kind(&self) -> &'static str {
        match self {
            WorkerError::Knowledge(_) => "knowledge",
            WorkerError::Generator(_) => "generator",
            WorkerError::Store(_) => "store",
        }
    }
}

/// The AI worker under a supervisor: once-only (it holds the `ai-worker` lease).
pub struct WorkerProcess {
    pub worker: AiWorker,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub poison: PoisonPolicy,
}

impl WorkerProcess {
    /// Teaches the knowledge index what it lacks before `to`: an index kept in memory, or
    /// one restored from an older state, learns again without answering anything again.
    async fn relearn(&self, from: Position, to: Position) -> Result<(), ProcessError> {
        let mut after = from;
        while after < to {
            let batch = self.worker.ledger.store.read_all(after, PAGE).await?;
            let Some(last) = batch.last().map(|s| s.position) else { break };
            for stored in batch.iter().take_while(|s| s.position <= to) {
                if let Ok(Seen::Learn(lesson)) = self.worker.read(stored) {
                    // Events that failed here were skipped (and recorded) the first time.
                    if let Err(e) = self.worker.learn(stored.envelope.header.partner_id, lesson) {
                        tracing::warn!(position = stored.position, error = %e, "an article could not be learned again");
                    }
                }
            }
            after = last.min(to);
        }
        self.worker.knowledge.commit_at(to)?;
        Ok(())
    }
}

#[async_trait]
impl LaneFollower for WorkerProcess {
    /// Learns what `batch` teaches and queues the messages it asks to answer.
    async fn take(
        &self,
        batch: &[StoredEnvelope],
        ctx: &ProcessContext,
        jobs: &mut LaneJobs,
    ) -> Result<(), ProcessError> {
        let ledger = &self.worker.ledger;
        let mut learned = false;
        for stored in batch {
            match self.worker.read(stored) {
                Err(_) => poison::skip(ledger, &ctx.status, stored, SkipReason::Undecodable).await?,
                Ok(Seen::Nothing) => {}
                Ok(Seen::Learn(lesson)) => {
                    let partner = stored.envelope.header.partner_id;
                    let learn = || {
                        let lesson = lesson.clone();
                        async move { self.worker.learn(partner, lesson) }
                    };
                    handle_or_skip(ledger, &ctx.status, self.poison, stored, learn).await?;
                    learned = true;
                }
                Ok(Seen::Answer(message)) => {
                    let (worker, status, policy) = (self.worker.clone(), ctx.status.clone(), self.poison);
                    let stored = stored.clone();
                    jobs.push(message.conversation, stored.position, async move {
                        let answer = || worker.answer(&message);
                        handle_or_skip(&worker.ledger, &status, policy, &stored, answer).await
                    });
                }
            }
        }
        if let (true, Some(last)) = (learned, batch.last()) {
            self.worker.knowledge.commit_at(last.position)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Process for WorkerProcess {
    fn name(&self) -> &str {
        AI_WORKER
    }

    fn once_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let from = self.checkpoints.load(AI_WORKER).await?.unwrap_or(0);
        ctx.status.started_from(from);
        let learned = self.worker.knowledge.learned_up_to().unwrap_or(0);
        if learned < from {
            self.relearn(learned, from).await?;
        }
        let settings = LaneSettings {
            process: AI_WORKER,
            page: PAGE,
            concurrency: self.worker.settings.concurrency,
            max_queued: MAX_QUEUED,
        };
        follow_in_lanes(self, &settings, self.worker.ledger.store.clone(), self.checkpoints.as_ref(), from, &ctx)
            .await?;
        // Drafts still queued are not checkpointed: the next run answers them (a message
        // already scored is passed over, so none is answered twice).
        Ok(())
    }
}

/// Follow-ups under a supervisor: once-only; the book of open deals is saved as a
/// snapshot with its position, so a restart reads only the log after it.
pub struct FollowUpProcess {
    pub follow_ups: FollowUps,
    pub snapshots: Arc<dyn Snapshots>,
}

impl FollowUpProcess {
    async fn save(&self, book: &FollowUpBook, position: Position, ctx: &ProcessContext) -> Result<(), ProcessError> {
        let snapshot = Snapshot { position, state: book.to_bytes() };
        self.snapshots.save_snapshot(FOLLOW_UPS, &snapshot, ctx.fence).await?;
        Ok(())
    }
}

#[async_trait]
impl Process for FollowUpProcess {
    fn name(&self) -> &str {
        FOLLOW_UPS
    }

    fn once_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let saved = self.snapshots.load_snapshot(FOLLOW_UPS).await?;
        let (mut book, from) =
            match saved.as_ref().and_then(|s| Some((FollowUpBook::from_bytes(&s.state)?, s.position))) {
                Some(restored) => restored,
                None => {
                    if saved.is_some() {
                        tracing::warn!(process = FOLLOW_UPS, "the saved book cannot be read; reading the log again");
                    }
                    (FollowUpBook::default(), 0)
                }
            };
        ctx.status.started_from(from);
        let ledger = &self.follow_ups.ledger;
        let mut subscription = Subscription::new(ledger.store.clone(), from, PAGE);
        let mut tick = tokio::time::interval(self.follow_ups.every);
        let mut dirty = false;
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                batch = subscription.next_batch() => {
                    for stored in &batch? {
                        if book.learn(stored).is_err() {
                            poison::skip(ledger, &ctx.status, stored, SkipReason::Undecodable).await?;
                        }
                    }
                    ctx.status.advanced(subscription.position());
                    dirty = true;
                }
                _ = tick.tick() => {
                    // Only a book that has caught up knows which deals were followed up already.
                    if subscription.position() >= *ledger.store.head().borrow() {
                        self.follow_ups.follow_up_due(&book).await?;
                    }
                    if dirty {
                        self.save(&book, subscription.position(), &ctx).await?;
                        dirty = false;
                    }
                }
            }
        }
        if dirty {
            self.save(&book, subscription.position(), &ctx).await?;
        }
        Ok(())
    }
}
