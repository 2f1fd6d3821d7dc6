use super::*;
use crate::runtime::memory::MemoryRuntime;
use std::sync::atomic::{AtomicU32, Ordering};

fn quick() -> SupervisorSettings {
    SupervisorSettings {
        lease_ttl: Duration::from_millis(150),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        healthy_after: Duration::from_secs(60),
    }
}

fn supervisor(rt: &MemoryRuntime, node: &str) -> Supervisor {
    Supervisor::new(Arc::new(rt.clone()), NodeId(node.into()), quick())
}

/// Fails its first `failures` runs, then works until cancelled.
struct Flaky {
    failures: u32,
    runs: AtomicU32,
    once_only: bool,
}

impl Flaky {
    fn new(failures: u32, once_only: bool) -> Arc<Self> {
        Arc::new(Self { failures, runs: AtomicU32::new(0), once_only })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure")]
struct Injected;

#[async_trait]
impl Process for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn once_only(&self) -> bool {
        self.once_only
    }
    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(Injected.into());
        }
        ctx.cancel.cancelled().await;
        Ok(())
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn a_failing_process_is_restarted_with_its_failures_visible_until_it_runs() {
    let rt = MemoryRuntime::default();
    let sup = supervisor(&rt, "a");
    let flaky = Flaky::new(3, false);
    sup.spawn(flaky.clone());
    let registry = sup.registry().clone();
    eventually("running after three failures", || {
        registry.get("flaky").is_some_and(|s| s.state == ProcessState::Running && s.failures == 3)
    })
    .await;
    let status = registry.get("flaky").unwrap();
    assert_eq!((status.failures, status.restarts), (3, 3));
    assert_eq!(flaky.runs.load(Ordering::SeqCst), 4);
    sup.shutdown().await;
    assert_eq!(registry.get("flaky").unwrap().state, ProcessState::Stopped);
}

#[tokio::test]
async fn a_restarting_process_shows_its_last_error() {
    let rt = MemoryRuntime::default();
    let sup = Supervisor::new(
        Arc::new(rt.clone()),
        NodeId("a".into()),
        SupervisorSettings { min_backoff: Duration::from_secs(30), max_backoff: Duration::from_secs(30), ..quick() },
    );
    sup.spawn(Flaky::new(1, false));
    let registry = sup.registry().clone();
    eventually("restarting", || registry.get("flaky").is_some_and(|s| !s.state.is_healthy() && s.failures == 1)).await;
    assert_eq!(
        registry.get("flaky").unwrap().state,
        ProcessState::Restarting { last_error: "injected failure".into() }
    );
    // Shutdown does not wait out the backoff.
    tokio::time::timeout(Duration::from_secs(5), sup.shutdown()).await.expect("shutdown during a backoff");
}

#[tokio::test]
async fn a_once_only_process_waits_while_another_node_holds_its_lease_then_takes_over() {
    let rt = MemoryRuntime::default();
    let (a, b) = (supervisor(&rt, "a"), supervisor(&rt, "b"));
    let (on_a, on_b) = (Flaky::new(0, true), Flaky::new(0, true));
    a.spawn(on_a.clone());
    let ra = a.registry().clone();
    eventually("a runs", || ra.get("flaky").is_some_and(|s| s.state == ProcessState::Running)).await;
    b.spawn(on_b.clone());
    let rb = b.registry().clone();
    eventually("b waits", || rb.get("flaky").is_some_and(|s| s.state == ProcessState::WaitingForLease)).await;
    // Waiting for a lease another node holds is healthy; and b never ran the work.
    assert!(rb.get("flaky").unwrap().state.is_healthy());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(on_b.runs.load(Ordering::SeqCst), 0, "a renews its lease, so b keeps waiting");
    a.shutdown().await;
    eventually("b takes over", || rb.get("flaky").is_some_and(|s| s.state == ProcessState::Running)).await;
    assert_eq!(on_b.runs.load(Ordering::SeqCst), 1);
    b.shutdown().await;
}

/// Leases that stop renewing after a while, as when the shared store moved on.
#[derive(Clone)]
struct Forgetful {
    inner: MemoryRuntime,
    renewals: Arc<AtomicU32>,
}

#[async_trait]
impl Leases for Forgetful {
    async fn try_acquire(
        &self,
        name: &str,
        node: &NodeId,
        ttl: Duration,
    ) -> Result<Option<Lease>, super::super::LeaseError> {
        self.inner.try_acquire(name, node, ttl).await
    }
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, super::super::LeaseError> {
        if self.renewals.fetch_add(1, Ordering::SeqCst) >= 1 {
            return Ok(false);
        }
        self.inner.renew(lease, ttl).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), super::super::LeaseError> {
        self.inner.release(lease).await
    }
    async fn current(&self, name: &str) -> Result<Option<Fence>, super::super::LeaseError> {
        self.inner.current(name).await
    }
}

#[tokio::test]
async fn a_process_whose_lease_renewal_fails_is_stopped_and_waits_for_the_lease_again() {
    let leases = Forgetful { inner: MemoryRuntime::default(), renewals: Arc::new(AtomicU32::new(0)) };
    let sup = Supervisor::new(Arc::new(leases.clone()), NodeId("a".into()), quick());
    let flaky = Flaky::new(0, true);
    sup.spawn(flaky.clone());
    // The second renewal fails: the run is cancelled, and the lease taken again (a new run).
    eventually("a second run after losing the lease", || flaky.runs.load(Ordering::SeqCst) >= 2).await;
    assert_eq!(sup.registry().get("flaky").unwrap().failures, 0, "losing a lease is not a failure");
    sup.shutdown().await;
}
