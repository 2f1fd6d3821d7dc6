//! The outbox: turns `ReplySendRequested` events into Graph API calls, and their
//! outcomes into events.
//!
//! Nothing is kept apart from the log: the pending sends are the requests without an
//! outcome (`ReplySent`, `ReplySendFailed`, or `SendRefused` with the send's id), so a
//! crash never loses a request. The outbox resumes from its checkpoint, the low-water
//! mark just before the oldest pending request, never from 0.
//!
//! Each call to the platform is recorded first (`SendAttemptStarted`, durable before the
//! call). A send whose latest attempt has no outcome after a restart is **in doubt**: it
//! is not sent again until the platform's echo of its send id settles it, or its bound
//! runs out and the Partner's policy re-sends it (recorded as a re-send of that attempt)
//! or holds it for a person. `docs/sends.md` has the rule per channel, ADR 010 the why.
//!
//! Sends run concurrently across conversations (bounded by a setting) and one at a time,
//! in log order, within a conversation. A failure that may pass is retried with
//! exponential backoff and jitter up to a limit, then recorded as `ReplySendFailed`; a
//! `Retry-After` holds only the account that asked for it.

mod attempt;
mod pending;
mod port;
mod retry;
mod send_ref;

pub use attempt::DeliveryOutcome;
pub use pending::{PendingSend, PendingSends};
pub use port::*;
pub use retry::RetryPolicy;

use crate::error::CommandError;
use crate::ledger::Ledger;
use crate::media::MediaVault;
use crate::runtime::{poison, CheckpointError, Checkpoints, Fence, StatusHandle};
use crate::store::Position;
use crate::subscription::Subscription;
use laras_domain::channel::ChannelKind;
use laras_domain::event::SkipReason;
use laras_domain::ids::{ConversationId, SendId};
use laras_domain::time::Span;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// WhatsApp: the customer has not written in 24 h ("re-engagement message").
pub const WA_WINDOW_CLOSED: i64 = 131_047;
/// WhatsApp: the user stopped receiving marketing messages.
pub const WA_MARKETING_OPT_OUT: i64 = 131_050;

/// The outbox's name for its checkpoint and lease.
pub const PROCESS: &str = "outbox";

/// How long an attempt in doubt waits for the platform's echo of its send id before the
/// Partner's policy applies, per channel (`docs/sends.md` justifies the defaults).
#[derive(Clone, Debug)]
pub struct InDoubtBounds {
    pub whatsapp: Duration,
    pub messenger: Duration,
    pub instagram: Duration,
    /// Threads echoes nothing, so waiting learns nothing: 0 applies the policy at once.
    pub threads: Duration,
}

impl Default for InDoubtBounds {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self { whatsapp: minutes(10), messenger: minutes(10), instagram: minutes(10), threads: Duration::ZERO }
    }
}

impl InDoubtBounds {
    pub fn bound(&self, channel: ChannelKind) -> Span {
        let d = match channel {
            ChannelKind::WhatsApp => self.whatsapp,
            ChannelKind::Messenger => self.messenger,
            ChannelKind::Instagram => self.instagram,
            ChannelKind::Threads => self.threads,
        };
        Span::millis(d.as_millis().min(i64::MAX as u128) as i64)
    }
}

#[derive(Clone, Debug)]
pub struct OutboxSettings {
    /// Sends in flight at once across conversations (one at a time within one).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub in_doubt: InDoubtBounds,
    /// How often a send waiting for its bound looks at the clock again.
    pub poll: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            retry: RetryPolicy::default(),
            in_doubt: InDoubtBounds::default(),
            poll: Duration::from_secs(1),
        }
    }
}

pub(crate) struct Inner {
    ledger: Ledger,
    sender: Arc<dyn ChannelSender>,
    settings: OutboxSettings,
    /// Where the files replies carry are kept (none: a reply with a file fails).
    files: Option<MediaVault>,
    permits: Semaphore,
    throttles: retry::Throttles,
    /// The last position read from the log, for status and lag.
    read: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

/// What a conversation's worker did with each of its sends.
type WorkerReport = Vec<(SendId, Result<DeliveryOutcome, CommandError>)>;

impl Outbox {
    pub fn new(ledger: Ledger, sender: Arc<dyn ChannelSender>) -> Self {
        Self::with_settings(ledger, sender, OutboxSettings::default())
    }

    pub fn with_settings(ledger: Ledger, sender: Arc<dyn ChannelSender>, settings: OutboxSettings) -> Self {
        Self::build(ledger, sender, settings, None)
    }

    /// The outbox that reads the files replies carry from `files`.
    pub fn with_files(
        ledger: Ledger,
        sender: Arc<dyn ChannelSender>,
        settings: OutboxSettings,
        files: MediaVault,
    ) -> Self {
        Self::build(ledger, sender, settings, Some(files))
    }

    fn build(
        ledger: Ledger,
        sender: Arc<dyn ChannelSender>,
        settings: OutboxSettings,
        files: Option<MediaVault>,
    ) -> Self {
        let permits = Semaphore::new(settings.concurrency.max(1));
        let (throttles, read) = (Default::default(), Default::default());
        Self { inner: Arc::new(Inner { ledger, sender, settings, files, permits, throttles, read }) }
    }

    /// How far the outbox has read the log (not its checkpoint, which stays before the
    /// oldest send still pending).
    pub fn position(&self) -> Position {
        self.inner.read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resumes from the checkpoint in `checkpoints` (saving it with `fence`), catches up,
    /// then delivers each new request as it is committed, until `shutdown` resolves.
    /// Sends in flight at shutdown are dropped where they are: an attempt already recorded
    /// is in doubt at the next start, and resolved as such.
    pub async fn run(
        &self,
        checkpoints: &dyn Checkpoints,
        fence: Fence,
        status: &StatusHandle,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), CommandError> {
        let store = self.inner.ledger.store.clone();
        let mut saved = checkpoints.load(PROCESS).await?.unwrap_or(0);
        tracing::info!(process = PROCESS, from = saved, "outbox resumes");
        let mut subscription = Subscription::new(store.clone(), saved, 1024);
        let mut pending = PendingSends::default();
        let mut running: std::collections::BTreeSet<ConversationId> = Default::default();
        let mut workers: JoinSet<(ConversationId, WorkerReport)> = JoinSet::new();
        let mut worker_of: std::collections::HashMap<tokio::task::Id, ConversationId> = Default::default();
        tokio::pin!(shutdown);
        loop {
            let next_wake = pending.next_wake();
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                batch = subscription.next_batch() => {
                    for stored in &batch? {
                        if let Err(CommandError::Decode { .. }) = pending.observe(stored) {
                            // Recorded before the checkpoint can pass it; the sends after it go on.
                            poison::skip(&self.inner.ledger, status, stored, SkipReason::Undecodable).await?;
                        }
                    }
                }
                Some(done) = workers.join_next_with_id(), if !workers.is_empty() => {
                    let set_aside_until = tokio::time::Instant::now() + self.inner.settings.retry.max_delay;
                    match done {
                        Ok((id, (conversation, report))) => {
                            worker_of.remove(&id);
                            running.remove(&conversation);
                            for (send, result) in report {
                                file_result(&mut pending, send, result, set_aside_until);
                            }
                        }
                        // A worker panicked: its conversation's sends stay pending and are
                        // set aside like a failed one (never sent twice: attempts are recorded).
                        Err(e) => {
                            tracing::error!(error = %e, "outbox worker stopped");
                            if let Some(conversation) = worker_of.remove(&e.id()) {
                                running.remove(&conversation);
                                pending.set_aside_conversation(conversation, set_aside_until);
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(next_wake.unwrap_or_else(tokio::time::Instant::now)), if next_wake.is_some() => {
                    pending.wake(tokio::time::Instant::now());
                }
            }
            self.inner.read.store(subscription.position(), std::sync::atomic::Ordering::Relaxed);
            let low_water = pending.low_water_mark(subscription.position());
            if low_water > saved {
                match checkpoints.save(PROCESS, low_water, fence).await {
                    Ok(()) => saved = low_water,
                    Err(e @ CheckpointError::Fenced { .. }) => return Err(e.into()),
                    Err(e) => tracing::warn!(error = %e, "outbox checkpoint not saved; kept in memory"),
                }
            }
            // Work only once caught up to the head, so outcomes already in the log count.
            if subscription.position() < *store.head().borrow() {
                continue;
            }
            for (conversation, sends) in pending.active_by_conversation() {
                if running.insert(conversation) {
                    let outbox = self.clone();
                    let worker = workers.spawn(async move { (conversation, outbox.work(sends).await) });
                    worker_of.insert(worker.id(), conversation);
                }
            }
        }
    }

    /// One conversation's sends, one after another in log order.
    async fn work(&self, sends: Vec<PendingSend>) -> WorkerReport {
        let mut report = Vec::with_capacity(sends.len());
        for send in sends {
            let result = self.settle(&send).await;
            report.push((send.send_id, result));
        }
        report
    }

    /// Works on one send until it is settled or held: retried after failures that may
    /// pass, waiting while its account is throttled or while it is in doubt.
    pub async fn settle(&self, send: &PendingSend) -> Result<DeliveryOutcome, CommandError> {
        let inner = &self.inner;
        let mut errors = 0;
        loop {
            let step = {
                let _permit = inner.permits.acquire().await;
                inner.step(send).await
            };
            let outcome = match step {
                Ok(outcome) => outcome,
                Err(e) => {
                    errors += 1;
                    if errors >= inner.settings.retry.max_attempts {
                        return Err(e);
                    }
                    tracing::warn!(send = ?send.send_id, error = %e, "outbox step failed; trying again");
                    tokio::time::sleep(inner.settings.retry.delay(errors, None)).await;
                    continue;
                }
            };
            match outcome {
                DeliveryOutcome::WillRetry { after, .. } => tokio::time::sleep(after).await,
                DeliveryOutcome::Throttled { until } => tokio::time::sleep_until(until).await,
                DeliveryOutcome::Waiting { until } => {
                    let left = until.since(inner.ledger.clock.now()).0.max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(left).min(inner.settings.poll)).await;
                }
                DeliveryOutcome::InDoubt { .. } => {}
                settled => return Ok(settled),
            }
        }
    }

    /// One step of one send (an attempt, a decision on an attempt in doubt, or nothing),
    /// without waiting or retrying.
    pub async fn deliver(&self, send: &PendingSend) -> Result<DeliveryOutcome, CommandError> {
        self.inner.step(send).await
    }
}

fn file_result(
    pending: &mut PendingSends,
    send: SendId,
    result: Result<DeliveryOutcome, CommandError>,
    set_aside_until: tokio::time::Instant,
) {
    match result {
        Ok(DeliveryOutcome::Held) => {
            tracing::info!(?send, "send held in doubt for a person");
            pending.park(send);
        }
        Ok(outcome) => {
            tracing::info!(?send, outcome = outcome.name(), "delivery settled");
            pending.settled(send);
        }
        Err(e) => {
            tracing::error!(?send, error = %e, "send set aside; tried again later");
            pending.set_aside(send, set_aside_until);
        }
    }
}
