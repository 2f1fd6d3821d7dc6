//! Poison events: an event that keeps failing for one process is tried a few times with
//! backoff, then recorded as skipped for that process (`ProcessSkippedEvent` on the
//! process's stream, with a reason naming a kind of failure) and passed over, so one bad
//! event never stops the work on every event after it.

use super::status::StatusHandle;
use crate::error::CommandError;
use crate::handlers::signing_keys::SYSTEM_PARTNER;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use crate::store::StoredEnvelope;
use backon::{BackoffBuilder, ExponentialBuilder};
use laras_domain::aggregate::process::{ProcessSkips, SkipEvent};
use laras_domain::aggregate::Decide;
use laras_domain::event::SkipReason;
use laras_domain::stream::StreamId;
use std::future::Future;
use std::time::Duration;

/// Names the part that failed, for a skip's reason: a fixed word, never the message
/// (which may quote an outside service or the event).
pub trait FailureKind {
    fn failure_kind(&self) -> &'static str;
}

impl FailureKind for CommandError {
    fn failure_kind(&self) -> &'static str {
        match self {
            CommandError::Store(_) => "store",
            CommandError::Decode { .. } => "decode",
            CommandError::Domain(_) => "domain",
            _ => "command",
        }
    }
}

/// How hard a process tries before it skips an event.
#[derive(Clone, Copy, Debug)]
pub struct PoisonPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for PoisonPolicy {
    fn default() -> Self {
        Self { attempts: 3, first_delay: Duration::from_millis(100) }
    }
}

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    Done,
    Skipped,
}

impl Ledger {
    /// Records that `process` skipped `stored`; once per (process, event), whoever asks.
    pub async fn record_skip(
        &self,
        process: &str,
        stored: &StoredEnvelope,
        reason: SkipReason,
    ) -> Result<Committed, CommandError> {
        let stream = StreamId::process(process);
        let event_id = stored.envelope.header.event_id;
        let command = SkipEvent { process: process.to_owned(), position: stored.position, event_id, reason };
        // Derived ids: two nodes (or two runs) skipping the same event record it once.
        let ids = EventIds::DerivedFrom(format!("skip/{process}/{}", event_id.0));
        let meta = CommandMeta::system(process).caused_by(event_id.0);
        self.with_retry(|| async {
            let loaded = self.load::<ProcessSkips>(&stream).await?;
            let events = command.decide(&loaded.state, self.clock.now())?;
            self.commit(SYSTEM_PARTNER, vec![Decided::new(stream.clone(), &loaded, events)], &meta, &ids).await
        })
        .await
    }
}

/// Runs `handle` for `stored`, again with backoff while it fails, up to the policy's
/// attempts; then records the skip and answers [`Handled::Skipped`]. An error here is
/// the store's (the skip could not be recorded): the process should stop and be restarted.
pub async fn handle_or_skip<E, F, Fut>(
    ledger: &Ledger,
    status: &StatusHandle,
    policy: PoisonPolicy,
    stored: &StoredEnvelope,
    mut handle: F,
) -> Result<Handled, CommandError>
where
    E: std::fmt::Display + FailureKind,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(policy.first_delay * 8)
        .with_jitter()
        .without_max_times()
        .build();
    let mut tries = 0;
    let failure = loop {
        tries += 1;
        match handle().await {
            Ok(()) => return Ok(Handled::Done),
            Err(e) if tries >= policy.attempts.max(1) => break e,
            Err(e) => {
                tracing::warn!(process = status.name(), position = stored.position, try_ = tries, error = %e, "event failed; trying again");
                tokio::time::sleep(delays.next().unwrap_or(policy.first_delay)).await;
            }
        }
    };
    let reason = SkipReason::Failed { failure: failure.failure_kind().to_owned(), attempts: tries };
    skip(ledger, status, stored, reason).await?;
    Ok(Handled::Skipped)
}

/// Records `reason` as the skip of `stored` by this process, logs it and counts it.
pub async fn skip(
    ledger: &Ledger,
    status: &StatusHandle,
    stored: &StoredEnvelope,
    reason: SkipReason,
) -> Result<(), CommandError> {
    ledger.record_skip(status.name(), stored, reason.clone()).await?;
    status.skipped();
    tracing::error!(
        process = status.name(),
        position = stored.position,
        event_id = %stored.envelope.header.event_id.0,
        reason = %reason,
        "event skipped after failing every try"
    );
    Ok(())
}

/// How a process that follows the log without a ledger of its own (the read models)
/// records the events it skips: the ledger to record them with, the status to count them
/// in, and how hard to try first.
#[derive(Clone)]
pub struct Skips {
    pub ledger: Ledger,
    pub status: StatusHandle,
    pub policy: PoisonPolicy,
}

impl Skips {
    /// Skips counted in a status of their own (a command-line rebuild has no registry).
    pub fn new(ledger: Ledger, process: &str) -> Self {
        let status = super::status::Registry::default().register(process);
        Self { ledger, status, policy: PoisonPolicy::default() }
    }

    /// The delay before try `tries + 1` of one event (100 ms doubling, by default).
    pub fn delay(&self, tries: u32) -> Duration {
        self.policy.first_delay.saturating_mul(1 << tries.saturating_sub(1).min(3))
    }
}
