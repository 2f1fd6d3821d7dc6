//! The runtime ports' contract (checkpoints, snapshots, leases) as one test suite, run
//! against every backend: each backend's tests name an `async fn() -> Option<impl
//! RuntimeStore>` opening a fresh, empty store and call
//! [`runtime_contract!`](crate::runtime_contract); `None` skips (backend unavailable).

use super::{CheckpointError, Fence, NodeId, RuntimeStore, Snapshot};
use std::time::Duration;

/// Generates one test per clause; `$open` is an `async fn() -> Option<impl RuntimeStore>`.
#[macro_export]
macro_rules! runtime_contract {
    ($open:path) => {
        $crate::runtime_contract!(@tests $open;
            one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder,
            an_expired_lease_goes_to_the_next_node_and_fences_the_old_one,
            checkpoints_never_move_back_and_unleased_processes_need_no_lease,
            snapshots_replace_each_other_are_fenced_and_never_move_back,
            leases_and_checkpoints_of_different_processes_are_independent,
        );
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                match $open().await {
                    Some(store) => $crate::runtime::contract::$name(&store).await,
                    None => {}
                }
            }
        )*
    };
}

fn node(n: &str) -> NodeId {
    NodeId(n.to_owned())
}

const LONG: Duration = Duration::from_secs(60);

pub async fn one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder(rt: &impl RuntimeStore) {
    let a = rt.try_acquire("outbox", &node("a"), LONG).await.unwrap().unwrap();
    assert_eq!(a.fence, Fence(1));
    assert_eq!(rt.try_acquire("outbox", &node("b"), LONG).await.unwrap(), None);
    // The holder asking again keeps its fence.
    assert_eq!(rt.try_acquire("outbox", &node("a"), LONG).await.unwrap().unwrap().fence, Fence(1));
    assert_eq!(rt.current("outbox").await.unwrap(), Some(Fence(1)));
    rt.release(&a).await.unwrap();
    assert_eq!(rt.current("outbox").await.unwrap(), None);
    let b = rt.try_acquire("outbox", &node("b"), LONG).await.unwrap().unwrap();
    assert_eq!(b.fence, Fence(2));
    assert!(!rt.renew(&a, LONG).await.unwrap(), "a released lease cannot be renewed");
    assert!(rt.renew(&b, LONG).await.unwrap());
    // Releasing a lease one no longer holds leaves the holder's alone.
    rt.release(&a).await.unwrap();
    assert_eq!(rt.current("outbox").await.unwrap(), Some(Fence(2)));
}

pub async fn an_expired_lease_goes_to_the_next_node_and_fences_the_old_one(rt: &impl RuntimeStore) {
    let a = rt.try_acquire("outbox", &node("a"), Duration::from_millis(20)).await.unwrap().unwrap();
    rt.save("outbox", 5, a.fence).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(rt.current("outbox").await.unwrap(), None, "an expired lease is no one's");
    let b = rt.try_acquire("outbox", &node("b"), LONG).await.unwrap().unwrap();
    assert!(b.fence > a.fence);
    assert!(!rt.renew(&a, LONG).await.unwrap());
    assert_eq!(rt.save("outbox", 9, a.fence).await, Err(CheckpointError::Fenced { process: "outbox".into() }));
    assert_eq!(rt.load("outbox").await.unwrap(), Some(5), "a fenced save changes nothing");
    rt.save("outbox", 9, b.fence).await.unwrap();
    assert_eq!(rt.load("outbox").await.unwrap(), Some(9));
}

pub async fn checkpoints_never_move_back_and_unleased_processes_need_no_lease(rt: &impl RuntimeStore) {
    assert_eq!(rt.load("read-models").await.unwrap(), None);
    rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
    rt.save("read-models", 10, Fence::UNLEASED).await.unwrap();
    assert!(matches!(
        rt.save("read-models", 3, Fence::UNLEASED).await,
        Err(CheckpointError::Backwards { current: 10, requested: 3, .. })
    ));
    assert_eq!(rt.load("read-models").await.unwrap(), Some(10));
}

pub async fn snapshots_replace_each_other_are_fenced_and_never_move_back(rt: &impl RuntimeStore) {
    assert_eq!(rt.load_snapshot("directory").await.unwrap(), None);
    let first = Snapshot { position: 4, state: b"routes v1".to_vec() };
    rt.save_snapshot("directory", &first, Fence::UNLEASED).await.unwrap();
    let second = Snapshot { position: 9, state: vec![0, 1, 2, 255] };
    rt.save_snapshot("directory", &second, Fence::UNLEASED).await.unwrap();
    assert_eq!(rt.load_snapshot("directory").await.unwrap(), Some(second.clone()));
    assert!(matches!(
        rt.save_snapshot("directory", &first, Fence::UNLEASED).await,
        Err(CheckpointError::Backwards { current: 9, requested: 4, .. })
    ));
    let lease = rt.try_acquire("follow-ups", &node("a"), LONG).await.unwrap().unwrap();
    let stale = Fence(lease.fence.0 + 7);
    assert!(matches!(rt.save_snapshot("follow-ups", &first, stale).await, Err(CheckpointError::Fenced { .. })));
    rt.save_snapshot("follow-ups", &first, lease.fence).await.unwrap();
    assert_eq!(rt.load_snapshot("follow-ups").await.unwrap(), Some(first));
    assert_eq!(rt.load_snapshot("directory").await.unwrap(), Some(second));
}

pub async fn leases_and_checkpoints_of_different_processes_are_independent(rt: &impl RuntimeStore) {
    let outbox = rt.try_acquire("outbox", &node("a"), LONG).await.unwrap().unwrap();
    let worker = rt.try_acquire("ai-worker", &node("b"), LONG).await.unwrap().unwrap();
    assert_eq!((outbox.fence, worker.fence), (Fence(1), Fence(1)));
    rt.save("outbox", 3, outbox.fence).await.unwrap();
    rt.save("ai-worker", 8, worker.fence).await.unwrap();
    rt.release(&outbox).await.unwrap();
    let outbox = rt.try_acquire("outbox", &node("c"), LONG).await.unwrap().unwrap();
    assert_eq!(outbox.fence, Fence(2));
    // A fence is only good for its own process's lease.
    assert_eq!(
        rt.save("ai-worker", 9, outbox.fence).await,
        Err(CheckpointError::Fenced { process: "ai-worker".into() })
    );
    assert_eq!((rt.load("outbox").await.unwrap(), rt.load("ai-worker").await.unwrap()), (Some(3), Some(8)));
}
