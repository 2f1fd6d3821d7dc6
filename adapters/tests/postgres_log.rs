//! The PostgreSQL store: the `EventStore` contract, several nodes on one database,
//! migrations raced by nodes starting together, copying a log in with its positions.
//! Needs `LARAS_TEST_DATABASE_URL` (e.g. postgres://postgres@127.0.0.1:5432/postgres);
//! without it each test prints one line saying it was skipped.

use laras_adapters::postgres_log::testing::TestDatabase;
use laras_adapters::postgres_log::PgEventStore;
use laras_commands::store::contract::{chain, one, stream, StoreFixture};
use laras_commands::store::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct Fixture {
    store: Arc<PgEventStore>,
    db: TestDatabase,
}

#[async_trait::async_trait]
impl StoreFixture for Fixture {
    fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }
    async fn reopen(&self) -> Option<Arc<dyn EventStore>> {
        // Another node's view: the first handle is neither closed nor dropped.
        Some(Arc::new(PgEventStore::open(&self.db.url).await.unwrap()))
    }
}

async fn fixture() -> Option<Fixture> {
    let db = TestDatabase::create("a PostgreSQL contract test").await?;
    let store = Arc::new(PgEventStore::open(&db.url).await.unwrap());
    Some(Fixture { store, db })
}

laras_commands::event_store_contract!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_migrate_once_and_share_one_gap_free_log() {
    let Some(db) = TestDatabase::create("nodes_starting_together…").await else { return };
    let opening: Vec<_> = (0..4).map(|_| tokio::spawn(PgEventStore::open_owned(db.url.clone()))).collect();
    let mut nodes = Vec::new();
    for o in opening {
        nodes.push(Arc::new(o.await.unwrap().expect("every node starts, whoever migrates")));
    }
    let tasks: Vec<_> = (0..400u128)
        .map(|i| {
            let node = nodes[i as usize % nodes.len()].clone();
            tokio::spawn(async move { node.append(one(chain(&stream(i + 1), None, 1))).await.unwrap() })
        })
        .collect();
    let mut positions = BTreeSet::new();
    for t in tasks {
        positions.insert(t.await.unwrap().positions()[0]);
    }
    assert_eq!(positions, (1..=400).collect(), "positions from every node are dense and distinct");
    for node in &nodes {
        let mut head = node.head();
        tokio::time::timeout(Duration::from_secs(10), head.wait_for(|h| *h == 400))
            .await
            .expect("each node's head follows the commits of the others")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_sent_to_two_nodes_is_stored_once() {
    let Some(db) = TestDatabase::create("a_duplicate_sent_to_two_nodes…").await else { return };
    let a = Arc::new(PgEventStore::open(&db.url).await.unwrap());
    let b = Arc::new(PgEventStore::open(&db.url).await.unwrap());
    let request = one(chain(&stream(1), None, 3));
    let (x, y) = tokio::join!(a.append(request.clone()), b.append(request));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.positions(), y.positions());
    assert_eq!(x.positions(), [1, 2, 3]);
    assert_eq!(a.read_all(0, 100).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_keeps_positions_is_idempotent_and_refuses_a_different_log() {
    let Some(source_db) = TestDatabase::create("an_import_keeps_positions…").await else { return };
    let Some(target_db) = TestDatabase::create("an_import_keeps_positions…").await else { return };
    let source = PgEventStore::open(&source_db.url).await.unwrap();
    for i in 0..5 {
        source.append(one(chain(&stream(i), None, 2))).await.unwrap();
    }
    let all = source.read_all(0, 100).await.unwrap();
    let target = PgEventStore::open(&target_db.url).await.unwrap();
    let first = target.import(&all[..4]).await.unwrap();
    assert_eq!((first.copied, first.already), (4, 0));
    let rest = target.import(&all).await.unwrap();
    assert_eq!((rest.copied, rest.already), (6, 4), "a rerun skips what is there");
    assert_eq!(target.read_all(0, 100).await.unwrap(), all, "every position, hash and signature intact");
    let again = target.import(&all).await.unwrap();
    assert_eq!(again.copied, 0);
    let mut other = all.clone();
    other[2].envelope.payload.push(0);
    assert!(target.import(&other).await.is_err(), "a different event at a stored position is refused");
    assert!(target.import(&all[..0]).await.is_ok());
    let after = target.stream_head(&stream(0)).await.unwrap();
    let next = target.append(one(chain(&stream(0), after, 1))).await.unwrap();
    assert_eq!(next.positions(), [11], "appends continue after the copy");
    let scanned: Vec<_> = laras_adapters::postgres_log::PgLogScan::open(&target_db.url).unwrap().collect();
    assert_eq!(scanned.len(), 11);
    assert!(scanned.iter().all(|s| s.is_ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_after_close_are_refused_and_what_was_acknowledged_is_there() {
    let Some(db) = TestDatabase::create("appends_after_close…").await else { return };
    let store = PgEventStore::open(&db.url).await.unwrap();
    store.append(one(chain(&stream(1), None, 5))).await.unwrap();
    store.close().await;
    assert_eq!(store.append(one(chain(&stream(9), None, 1))).await, Err(StoreError::Closed));
    let store = PgEventStore::open(&db.url).await.unwrap();
    assert_eq!(*store.head().borrow(), 5);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 5);
}
