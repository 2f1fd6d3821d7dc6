//! The embedded store against the `EventStore` contract.

use laras_adapters::sqlite_log::SqliteEventStore;
use laras_commands::store::*;
use laras_commands::subscription::Subscription;
use laras_domain::actor::Actor;
use laras_domain::envelope::{Envelope, PendingEvent, ZERO_HASH};
use laras_domain::event::DomainEvent;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use std::sync::Arc;
use uuid::Uuid;

const P: PartnerId = PartnerId(Uuid::from_u128(1));

fn key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([7; 32])
}

/// `n` envelopes continuing `stream` after `head` (None: a new stream).
fn chain(stream: &StreamId, head: Option<(u64, [u8; 32])>, n: usize) -> StreamWrite {
    let mut prev = head.map_or(ZERO_HASH, |h| h.1);
    let first = head.map_or(0, |h| h.0 + 1);
    let envelopes = (0..n as u64)
        .map(|i| {
            let pending = PendingEvent {
                event_id: EventId(Uuid::now_v7()),
                actor: Actor::system("test"),
                causation_id: Uuid::nil(),
                correlation_id: Uuid::nil(),
                event: DomainEvent::ConversationAssigned { assignee: None },
            };
            let env = Envelope::seal(&pending, P, stream.clone(), first + i, prev, Timestamp(1), &key()).unwrap();
            prev = env.hash().unwrap();
            env
        })
        .collect();
    let expected = head.map_or(ExpectedVersion::NoStream, |h| ExpectedVersion::Exact(h.0));
    StreamWrite { stream: stream.clone(), partner: P, expected, envelopes }
}

fn one(write: StreamWrite) -> AppendRequest {
    AppendRequest { writes: vec![write] }
}

fn stream(n: u128) -> StreamId {
    StreamId::from_stored(format!("conversation-{}", Uuid::from_u128(n)))
}

fn open() -> (tempfile::TempDir, Arc<SqliteEventStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteEventStore::open(&dir.path().join("ledger.sqlite")).unwrap());
    (dir, store)
}

#[tokio::test]
async fn what_is_appended_reads_back_byte_for_byte_and_verifies() {
    let (_dir, store) = open();
    let w = chain(&stream(1), None, 3);
    let sent = w.envelopes.clone();
    let outcome = store.append(one(w)).await.unwrap();
    assert_eq!(outcome, AppendOutcome::Appended { positions: vec![1, 2, 3] });
    let read = store.read_stream(&stream(1), 0).await.unwrap();
    assert_eq!(read.iter().map(|s| s.envelope.clone()).collect::<Vec<_>>(), sent);
    assert!(read.iter().all(|s| s.envelope.verify_signature(&key().public())));
    assert_eq!(store.read_stream(&stream(1), 2).await.unwrap().len(), 1);
    assert_eq!(store.read_all(1, 10).await.unwrap().iter().map(|s| s.position).collect::<Vec<_>>(), vec![2, 3]);
    let head = store.stream_head(&stream(1)).await.unwrap().unwrap();
    assert_eq!((head.version, head.hash), (2, sent[2].hash().unwrap()));
    assert_eq!(*store.head().borrow(), 3);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_stores_nothing() {
    let (_dir, store) = open();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let err = store.append(one(chain(&stream(1), None, 1))).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { actual: Some(0), .. }));
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_broken_link_or_a_version_gap_is_refused() {
    let (_dir, store) = open();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let head = store.stream_head(&stream(1)).await.unwrap().unwrap();
    let bad_link = chain(&stream(1), Some((head.version, [9; 32])), 1);
    assert!(matches!(store.append(one(bad_link)).await, Err(StoreError::InvalidAppend(_))));
    let mut gap = chain(&stream(1), Some((head.version, head.hash)), 2);
    gap.envelopes.remove(0);
    assert!(matches!(store.append(one(gap)).await, Err(StoreError::InvalidAppend(_))));
}

#[tokio::test]
async fn the_same_event_ids_are_stored_once_even_when_fired_concurrently() {
    let (_dir, store) = open();
    let request = one(chain(&stream(1), None, 2));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let request = request.clone();
            tokio::spawn(async move { store.append(request).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert!(outcomes.iter().all(|o| o.positions() == [1, 2]));
    assert_eq!(outcomes.iter().filter(|o| matches!(o, AppendOutcome::Appended { .. })).count(), 1);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_appends_are_grouped_into_few_commits_with_dense_positions() {
    let (_dir, store) = open();
    let before = store.metrics().commits;
    let tasks: Vec<_> = (0..2_000u128)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(one(chain(&stream(i + 10), None, 1))).await.unwrap() })
        })
        .collect();
    let mut positions = Vec::new();
    for t in tasks {
        positions.extend_from_slice(t.await.unwrap().positions());
    }
    positions.sort();
    assert_eq!(positions, (1..=2_000).collect::<Vec<_>>());
    let commits = store.metrics().commits - before;
    assert!(commits < 1_000, "2,000 appends took {commits} commits");
}

#[tokio::test]
async fn a_multi_stream_append_is_atomic() {
    let (_dir, store) = open();
    store.append(one(chain(&stream(2), None, 1))).await.unwrap();
    let request = AppendRequest { writes: vec![chain(&stream(1), None, 1), chain(&stream(2), None, 1)] };
    assert!(matches!(store.append(request).await, Err(StoreError::VersionConflict { .. })));
    assert!(store.read_stream(&stream(1), 0).await.unwrap().is_empty(), "the first write rolled back too");
}

#[tokio::test]
async fn a_subscription_catches_up_then_follows_live() {
    let (_dir, store) = open();
    store.append(one(chain(&stream(1), None, 3))).await.unwrap();
    let mut sub = Subscription::new(store.clone(), 0, 2);
    assert_eq!(sub.next_batch().await.unwrap().len(), 2);
    assert_eq!(sub.next_batch().await.unwrap().len(), 1);
    let waiting = tokio::spawn(async move { sub.next_batch().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store.append(one(chain(&stream(2), None, 1))).await.unwrap();
    let live = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(live[0].position, 4);
}

#[tokio::test]
async fn everything_is_there_after_close_and_reopen_and_appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    store.append(one(chain(&stream(1), None, 5))).await.unwrap();
    store.close().await;
    assert_eq!(store.append(one(chain(&stream(9), None, 1))).await, Err(StoreError::Closed));
    drop(store);
    let store = SqliteEventStore::open(&path).unwrap();
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 5);
    assert_eq!(*store.head().borrow(), 5);
    assert_eq!(SqliteEventStore::count(&path).unwrap(), 5);
    assert_eq!(SqliteEventStore::scan(&path).unwrap().count(), 5);
}

#[tokio::test]
async fn a_tampered_row_reads_back_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    store.append(one(chain(&stream(1), None, 3))).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE events SET payload = X'00ff' WHERE position = 2", []).unwrap();
    raw.execute("UPDATE events SET signature = X'00' WHERE position = 3", []).unwrap();
    let items: Vec<_> = SqliteEventStore::scan(&path).unwrap().collect();
    assert!(items[0].is_ok());
    assert!(!items[1].as_ref().unwrap().envelope.verify_signature(&key().public()));
    let err = items[2].as_ref().unwrap_err().to_string();
    assert!(err.contains("position 3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partners_racing_for_one_account_never_both_hold_it() {
    let (_dir, store) = open();
    let ledger = laras_commands::Ledger {
        store,
        keys: Arc::new(laras_commands::memory::MemoryKeys::default()),
        signer: Arc::new(laras_commands::signer::LedgerSigner::new(key())),
        clock: Arc::new(laras_domain::time::ManualClock::at(laras_domain::time::Timestamp(1_767_225_600_000))),
    };
    laras_commands::contract::two_partners_racing_for_one_account_never_both_hold_it(ledger, 30).await;
}
