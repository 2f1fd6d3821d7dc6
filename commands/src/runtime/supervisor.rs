//! Runs the processes that follow the log: each under a supervisor that restarts it
//! with exponential backoff and jitter when it fails, keeps the lease of a once-only
//! process (waiting while another node holds it, stopping the work when renewal fails),
//! reports its state to the [`Registry`], and stops it on shutdown.
//!
//! The contract with a process is small: [`Process::run`] does the work until its
//! [`ProcessContext::cancel`] token fires, then returns `Ok(())`; an `Err` is a failure
//! that the supervisor shows and retries. A process resumes from its own checkpoint on
//! every run, so a restart costs only the events since.

use super::lease::{Fence, Lease, Leases, NodeId};
use super::status::{ProcessState, Registry, StatusHandle};
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a run of a process ended badly. Any error will do; only its text is shown.
#[derive(Debug)]
pub struct ProcessError(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ProcessError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

/// What a run is given.
#[derive(Clone)]
pub struct ProcessContext {
    /// Fires on shutdown, or when a once-only process lost its lease: stop soon.
    pub cancel: CancellationToken,
    /// The lease's fencing token ([`Fence::UNLEASED`] for per-node work); checkpoints are
    /// saved with it.
    pub fence: Fence,
    pub status: StatusHandle,
}

#[async_trait]
pub trait Process: Send + Sync + 'static {
    /// A short name (`"ai-worker"`): its checkpoint, lease, stream of skips and metric label.
    fn name(&self) -> &str;

    /// Work that must happen once across nodes (sending, drafting) holds a lease;
    /// work every node does for itself (its directory, its read models) does not.
    fn once_only(&self) -> bool {
        false
    }

    /// Does the work until `ctx.cancel` fires.
    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError>;
}

#[derive(Clone, Copy, Debug)]
pub struct SupervisorSettings {
    pub lease_ttl: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// A run that lasted this long starts the backoff over.
    pub healthy_after: Duration,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// Owns every process task of this node.
#[derive(Clone)]
pub struct Supervisor {
    tracker: TaskTracker,
    cancel: CancellationToken,
    registry: Registry,
    leases: Arc<dyn Leases>,
    node: NodeId,
    settings: SupervisorSettings,
}

impl Supervisor {
    pub fn new(leases: Arc<dyn Leases>, node: NodeId, settings: SupervisorSettings) -> Self {
        Self {
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            registry: Registry::default(),
            leases,
            node,
            settings,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Fires when the supervisor shuts down.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Starts `process` under supervision.
    pub fn spawn(&self, process: Arc<dyn Process>) {
        let status = self.registry.register(process.name());
        let this = self.clone();
        self.tracker.spawn(async move { this.supervise(process, status).await });
    }

    /// Cancels every process and waits until each has stopped.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.min_backoff)
            .with_max_delay(self.settings.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }

    async fn supervise(&self, process: Arc<dyn Process>, status: StatusHandle) {
        let mut backoff = self.backoff();
        while !self.cancel.is_cancelled() {
            let lease = if process.once_only() {
                match self.acquire(process.name(), &status).await {
                    Some(lease) => Some(lease),
                    None => break,
                }
            } else {
                None
            };
            let run = self.cancel.child_token();
            let ctx = ProcessContext {
                cancel: run.clone(),
                fence: lease.as_ref().map_or(Fence::UNLEASED, |l| l.fence),
                status: status.clone(),
            };
            status.set_state(ProcessState::Running);
            let started = Instant::now();
            let (result, lost) = match &lease {
                Some(lease) => {
                    let work = async {
                        let r = process.run(ctx).await;
                        run.cancel();
                        r
                    };
                    tokio::join!(work, self.keep(lease, run.clone()))
                }
                None => (process.run(ctx).await, false),
            };
            if let Some(lease) = &lease {
                if !lost {
                    if let Err(e) = self.leases.release(lease).await {
                        tracing::warn!(process = process.name(), error = %e, "could not release a lease");
                    }
                }
            }
            if started.elapsed() >= self.settings.healthy_after {
                backoff = self.backoff();
            }
            if self.cancel.is_cancelled() {
                if let Err(e) = result {
                    tracing::warn!(process = process.name(), error = %e, "process failed while stopping");
                }
                break;
            }
            let error = match result {
                Err(e) => e.to_string(),
                // Another node took the work over; wait for the lease again at once.
                Ok(()) if lost => continue,
                Ok(()) => "the process stopped by itself".to_owned(),
            };
            status.failed();
            status.set_state(ProcessState::Restarting { last_error: error });
            let delay = backoff.next().unwrap_or(self.settings.max_backoff);
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(delay) => status.restarting(),
            }
        }
        status.set_state(ProcessState::Stopped);
    }

    /// Waits for the lease of `name`; None on shutdown.
    async fn acquire(&self, name: &str, status: &StatusHandle) -> Option<Lease> {
        let ttl = self.settings.lease_ttl;
        loop {
            match self.leases.try_acquire(name, &self.node, ttl).await {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => status.set_state(ProcessState::WaitingForLease),
                Err(e) => status.set_state(ProcessState::Restarting { last_error: e.to_string() }),
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return None,
                _ = tokio::time::sleep(ttl / 3) => {}
            }
        }
    }

    /// Renews `lease` until `run` is cancelled; when renewal fails, cancels `run` and
    /// answers true (the lease is lost: another node may hold it now).
    async fn keep(&self, lease: &Lease, run: CancellationToken) -> bool {
        let ttl = self.settings.lease_ttl;
        loop {
            tokio::select! {
                _ = run.cancelled() => return false,
                _ = tokio::time::sleep(ttl / 3) => {}
            }
            match self.leases.renew(lease, ttl).await {
                Ok(true) => {}
                outcome => {
                    let error = outcome.err().map(|e| e.to_string()).unwrap_or_else(|| "expired".into());
                    tracing::warn!(process = %lease.name, error = %error, "lease lost; stopping the work");
                    run.cancel();
                    return true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
