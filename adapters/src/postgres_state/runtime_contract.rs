//! The promises of the `Checkpoints` and `Leases` ports (commands/src/runtime), as one
//! suite for every backend. `open` gives another handle on the same state: another node.
//! (P's `commands/src/runtime/contract.rs` may replace this once merged.)

use laras_commands::runtime::{CheckpointError, Checkpoints, Fence, Leases, NodeId};
use std::sync::Arc;
use std::time::Duration;

pub trait Runtime: Leases + Checkpoints {}
impl<T: Leases + Checkpoints> Runtime for T {}

pub type Open<'a> = &'a (dyn Fn() -> Arc<dyn Runtime> + Sync);

fn node(n: &str) -> NodeId {
    NodeId(n.to_owned())
}

const LONG: Duration = Duration::from_secs(60);

pub async fn one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder(open: Open<'_>) {
    let (a_node, b_node) = (open(), open());
    let a = a_node.try_acquire("outbox", &node("a"), LONG).await.unwrap().expect("free lease");
    assert!(a.fence > Fence::UNLEASED, "tokens start above the unleased fence");
    assert_eq!(b_node.try_acquire("outbox", &node("b"), LONG).await.unwrap(), None);
    assert_eq!(b_node.current("outbox").await.unwrap(), Some(a.fence));
    // The holder asking again keeps its fence.
    assert_eq!(a_node.try_acquire("outbox", &node("a"), LONG).await.unwrap().unwrap().fence, a.fence);
    // Another name is another lease.
    assert!(b_node.try_acquire("ai-worker", &node("b"), LONG).await.unwrap().is_some());
    a_node.release(&a).await.unwrap();
    assert_eq!(b_node.current("outbox").await.unwrap(), None);
    let b = b_node.try_acquire("outbox", &node("b"), LONG).await.unwrap().expect("released lease");
    assert!(b.fence > a.fence);
    assert!(!a_node.renew(&a, LONG).await.unwrap(), "a released lease cannot be renewed");
    assert!(b_node.renew(&b, LONG).await.unwrap());
    // Releasing with an old lease does not free the new holder's.
    a_node.release(&a).await.unwrap();
    assert_eq!(a_node.current("outbox").await.unwrap(), Some(b.fence));
    // The same node taking its lease again after a release gets a new fence too.
    b_node.release(&b).await.unwrap();
    assert!(b_node.try_acquire("outbox", &node("b"), LONG).await.unwrap().unwrap().fence > b.fence);
}

pub async fn an_expired_lease_goes_to_the_next_node_and_fences_the_old_one(open: Open<'_>) {
    let (a_node, b_node) = (open(), open());
    let a = a_node.try_acquire("merkle-log", &node("a"), Duration::from_millis(300)).await.unwrap().unwrap();
    a_node.save("merkle-log", 5, a.fence).await.unwrap();
    assert_eq!(b_node.try_acquire("merkle-log", &node("b"), LONG).await.unwrap(), None, "still live");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a_node.current("merkle-log").await.unwrap(), None, "expired");
    let b = b_node.try_acquire("merkle-log", &node("b"), LONG).await.unwrap().expect("expired lease");
    assert!(b.fence > a.fence);
    assert!(!a_node.renew(&a, LONG).await.unwrap());
    assert_eq!(
        a_node.save("merkle-log", 9, a.fence).await,
        Err(CheckpointError::Fenced { process: "merkle-log".into() })
    );
    assert_eq!(b_node.load("merkle-log").await.unwrap(), Some(5), "a fenced write changes nothing");
    b_node.save("merkle-log", 9, b.fence).await.unwrap();
    assert_eq!(a_node.load("merkle-log").await.unwrap(), Some(9));
    // A holder that renews in time keeps its lease past the first ttl.
    let c = a_node.try_acquire("follow-ups", &node("a"), Duration::from_millis(400)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(a_node.renew(&c, LONG).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b_node.try_acquire("follow-ups", &node("b"), LONG).await.unwrap(), None);
}

pub async fn a_checkpoint_needs_the_live_fence_of_its_own_lease(open: Open<'_>) {
    let rt = open();
    assert_eq!(
        rt.save("outbox-2", 1, Fence(1)).await,
        Err(CheckpointError::Fenced { process: "outbox-2".into() }),
        "no lease at all"
    );
    let other = rt.try_acquire("other", &node("a"), LONG).await.unwrap().unwrap();
    let mine = rt.try_acquire("outbox-2", &node("a"), LONG).await.unwrap().unwrap();
    if other.fence != mine.fence {
        assert!(rt.save("outbox-2", 1, other.fence).await.is_err(), "another lease's fence");
    }
    rt.save("outbox-2", 1, mine.fence).await.unwrap();
    rt.release(&mine).await.unwrap();
    assert!(matches!(rt.save("outbox-2", 2, mine.fence).await, Err(CheckpointError::Fenced { .. })));
}

pub async fn checkpoints_never_move_back_and_unleased_processes_need_no_lease(open: Open<'_>) {
    let (rt, other) = (open(), open());
    assert_eq!(rt.load("read-models").await.unwrap(), None);
    rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
    rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
    assert!(matches!(
        other.save("read-models", 3, Fence::UNLEASED).await,
        Err(CheckpointError::Backwards { current: 10, requested: 3, .. })
    ));
    assert_eq!(other.load("read-models").await.unwrap(), Some(10));
    assert_eq!(other.load("never-saved").await.unwrap(), None);
}

pub async fn many_nodes_racing_for_a_lease_give_one_holder(open: Open<'_>) {
    let nodes: Vec<_> = (0..12).map(|_| open()).collect();
    let mut races = Vec::new();
    for (i, rt) in nodes.into_iter().enumerate() {
        races.push(tokio::spawn(async move {
            rt.try_acquire("race", &NodeId(format!("node-{i}")), LONG).await.unwrap().map(|l| l.holder)
        }));
    }
    let mut holders = Vec::new();
    for race in races {
        holders.extend(race.await.unwrap());
    }
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(open().current("race").await.unwrap().is_some());
}

pub async fn run_all(open: Open<'_>) {
    one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder(open).await;
    an_expired_lease_goes_to_the_next_node_and_fences_the_old_one(open).await;
    a_checkpoint_needs_the_live_fence_of_its_own_lease(open).await;
    checkpoints_never_move_back_and_unleased_processes_need_no_lease(open).await;
    many_nodes_racing_for_a_lease_give_one_holder(open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_runtime_keeps_the_contract() {
    let shared = laras_commands::runtime::memory::MemoryRuntime::default();
    run_all(&move || -> Arc<dyn Runtime> { Arc::new(shared.clone()) }).await;
}
