//! The [`EventStore`] contract as one test suite, run against every backend.
//!
//! Each backend's test file names a function that opens a fresh, empty log and calls
//! [`event_store_contract!`](crate::event_store_contract), which generates one test per
//! clause (the pattern of arrow-rs `object_store`'s `integration.rs`). A fixture whose
//! backend is unavailable (no PostgreSQL server named) returns `None` and the tests print
//! one line saying they were skipped.

use super::*;
use crate::subscription::Subscription;
use async_trait::async_trait;
use laras_domain::actor::Actor;
use laras_domain::envelope::{Envelope, PendingEvent, ZERO_HASH};
use laras_domain::event::DomainEvent;
use laras_domain::ids::EventId;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// An empty log under test, and a way to open it again.
#[async_trait]
pub trait StoreFixture: Send + Sync {
    fn store(&self) -> Arc<dyn EventStore>;
    /// A second handle on the same durable log, opened while the first is neither closed
    /// nor flushed, as a restarted process would after a crash. `None`: the backend has
    /// nothing durable (the in-memory reference).
    async fn reopen(&self) -> Option<Arc<dyn EventStore>>;
}

/// Generates the contract's tests; `$open` is an `async fn() -> Option<impl StoreFixture>`.
#[macro_export]
macro_rules! event_store_contract {
    ($open:path) => {
        $crate::event_store_contract!(@tests $open;
            appended_events_read_back_byte_for_byte,
            a_stale_expected_version_is_a_conflict_and_stores_nothing,
            envelopes_that_do_not_continue_their_stream_are_refused,
            a_multi_stream_append_is_atomic,
            a_whole_repeat_answers_the_first_positions_and_a_partial_repeat_is_an_error,
            duplicates_fired_concurrently_are_stored_once,
            concurrent_appenders_get_dense_positions_in_request_order,
            concurrent_writers_to_one_stream_conflict_and_exactly_one_wins,
            a_concurrent_reader_sees_every_position_in_order_without_gaps,
            a_subscription_catches_up_then_follows,
            acknowledged_appends_survive_a_reopen_without_close,
            append_each_checks_each_request_on_its_own,
            a_stream_moved_by_another_handle_is_a_conflict_not_a_fork,
        );
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                match $open().await {
                    Some(fixture) => $crate::store::contract::$name(&fixture).await,
                    None => {}
                }
            }
        )*
    };
}

const PARTNER: PartnerId = PartnerId(Uuid::from_u128(0xc0ffee));

pub fn signing_key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([7; 32])
}

pub fn stream(n: u128) -> StreamId {
    StreamId::from_stored(format!("conversation-{}", Uuid::from_u128(n)))
}

/// `n` envelopes continuing `stream` after `head` (None: a new stream).
pub fn chain(stream: &StreamId, head: Option<StreamHead>, n: usize) -> StreamWrite {
    let mut prev = head.map_or(ZERO_HASH, |h| h.hash);
    let first = head.map_or(0, |h| h.version + 1);
    let key = signing_key();
    let envelopes = (0..n as u64)
        .map(|i| {
            let pending = PendingEvent {
                event_id: EventId(Uuid::now_v7()),
                actor: Actor::system("contract"),
                causation_id: Uuid::nil(),
                correlation_id: Uuid::nil(),
                event: DomainEvent::ConversationAssigned { assignee: None },
            };
            let env = Envelope::seal(&pending, PARTNER, stream.clone(), first + i, prev, Timestamp(1), &key)
                .expect("a test envelope seals");
            prev = env.hash().expect("a test envelope hashes");
            env
        })
        .collect();
    let expected = head.map_or(ExpectedVersion::NoStream, |h| ExpectedVersion::Exact(h.version));
    StreamWrite { stream: stream.clone(), partner: PARTNER, expected, envelopes }
}

pub fn one(write: StreamWrite) -> AppendRequest {
    AppendRequest { writes: vec![write] }
}

async fn everything(store: &dyn EventStore) -> Vec<StoredEnvelope> {
    store.read_all(0, usize::MAX >> 1).await.expect("read_all")
}

pub async fn appended_events_read_back_byte_for_byte(f: &impl StoreFixture) {
    let store = f.store();
    let w = chain(&stream(1), None, 3);
    let sent = w.envelopes.clone();
    let outcome = store.append(one(w)).await.unwrap();
    assert_eq!(outcome, AppendOutcome::Appended { positions: vec![1, 2, 3] });
    let read = store.read_stream(&stream(1), 0).await.unwrap();
    assert_eq!(read.iter().map(|s| s.envelope.clone()).collect::<Vec<_>>(), sent);
    assert!(read.iter().all(|s| s.envelope.verify_signature(&signing_key().public())));
    assert_eq!(store.read_stream(&stream(1), 2).await.unwrap().len(), 1);
    assert!(store.read_stream(&stream(2), 0).await.unwrap().is_empty());
    let after_one: Vec<_> = store.read_all(1, 10).await.unwrap().iter().map(|s| s.position).collect();
    assert_eq!(after_one, vec![2, 3]);
    assert_eq!(store.read_all(0, 2).await.unwrap().len(), 2, "read_all honours its limit");
    let head = store.stream_head(&stream(1)).await.unwrap().unwrap();
    assert_eq!((head.version, head.hash), (2, sent[2].hash().unwrap()));
    assert_eq!(store.stream_head(&stream(2)).await.unwrap(), None);
    assert_eq!(*store.head().borrow(), 3);
}

pub async fn a_stale_expected_version_is_a_conflict_and_stores_nothing(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let err = store.append(one(chain(&stream(1), None, 1))).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { actual: Some(0), .. }), "{err:?}");
    let ahead = chain(&stream(2), Some(StreamHead { version: 4, hash: ZERO_HASH }), 1);
    let err = store.append(one(ahead)).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { actual: None, .. }), "{err:?}");
    assert_eq!(everything(store.as_ref()).await.len(), 1);
}

pub async fn envelopes_that_do_not_continue_their_stream_are_refused(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let head = store.stream_head(&stream(1)).await.unwrap().unwrap();
    let bad_link = chain(&stream(1), Some(StreamHead { version: head.version, hash: [9; 32] }), 1);
    assert!(matches!(store.append(one(bad_link)).await, Err(StoreError::InvalidAppend(_))));
    let mut gap = chain(&stream(1), Some(head), 2);
    gap.envelopes.remove(0);
    assert!(matches!(store.append(one(gap)).await, Err(StoreError::InvalidAppend(_))));
    let mut elsewhere = chain(&stream(2), None, 1);
    elsewhere.stream = stream(3);
    assert!(matches!(store.append(one(elsewhere)).await, Err(StoreError::InvalidAppend(_))));
    let mut other_partner = chain(&stream(4), None, 1);
    other_partner.partner = PartnerId(Uuid::from_u128(99));
    assert!(matches!(store.append(one(other_partner)).await, Err(StoreError::InvalidAppend(_))));
    assert!(matches!(store.append(AppendRequest::default()).await, Err(StoreError::InvalidAppend(_))));
    let w = chain(&stream(5), None, 1);
    let twice = AppendRequest { writes: vec![w.clone(), StreamWrite { stream: stream(6), ..w }] };
    assert!(matches!(store.append(twice).await, Err(StoreError::InvalidAppend(_))));
    assert_eq!(everything(store.as_ref()).await.len(), 1, "nothing refused was stored");
    assert_eq!(*store.head().borrow(), 1);
}

pub async fn a_multi_stream_append_is_atomic(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(2), None, 1))).await.unwrap();
    let request = AppendRequest { writes: vec![chain(&stream(1), None, 1), chain(&stream(2), None, 1)] };
    assert!(matches!(store.append(request).await, Err(StoreError::VersionConflict { .. })));
    assert!(store.read_stream(&stream(1), 0).await.unwrap().is_empty(), "the first write rolled back too");
    let head2 = store.stream_head(&stream(2)).await.unwrap();
    let request = AppendRequest { writes: vec![chain(&stream(1), None, 2), chain(&stream(2), head2, 2)] };
    let outcome = store.append(request).await.unwrap();
    assert_eq!(outcome.positions(), [2, 3, 4, 5], "one append takes consecutive positions in request order");
    let positions: Vec<_> = store.read_stream(&stream(2), 0).await.unwrap().iter().map(|s| s.position).collect();
    assert_eq!(positions, vec![1, 4, 5]);
}

pub async fn a_whole_repeat_answers_the_first_positions_and_a_partial_repeat_is_an_error(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(9), None, 1))).await.unwrap();
    let request = AppendRequest { writes: vec![chain(&stream(1), None, 2), chain(&stream(2), None, 1)] };
    let first = store.append(request.clone()).await.unwrap();
    assert_eq!(first, AppendOutcome::Appended { positions: vec![2, 3, 4] });
    assert_eq!(store.append(request.clone()).await.unwrap(), AppendOutcome::Duplicate { positions: vec![2, 3, 4] });
    let head1 = store.stream_head(&stream(1)).await.unwrap();
    let partial = AppendRequest { writes: vec![request.writes[1].clone(), chain(&stream(1), head1, 1)] };
    assert_eq!(store.append(partial).await, Err(StoreError::PartialDuplicate));
    assert_eq!(everything(store.as_ref()).await.len(), 4, "a partial repeat stores nothing");
}

pub async fn duplicates_fired_concurrently_are_stored_once(f: &impl StoreFixture) {
    let store = f.store();
    let request = one(chain(&stream(1), None, 2));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let request = request.clone();
            tokio::spawn(async move { store.append(request).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    assert!(outcomes.iter().all(|o| o.positions() == [1, 2]), "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| matches!(o, AppendOutcome::Appended { .. })).count(), 1);
    assert_eq!(everything(store.as_ref()).await.len(), 2);
}

pub async fn concurrent_appenders_get_dense_positions_in_request_order(f: &impl StoreFixture) {
    let store = f.store();
    let tasks: Vec<_> = (0..600u128)
        .map(|i| {
            let store = store.clone();
            let request = one(chain(&stream(i + 10), None, 1 + (i % 3) as usize));
            tokio::spawn(async move {
                let ids: Vec<_> = request.writes[0].envelopes.iter().map(|e| e.header.event_id).collect();
                (ids, store.append(request).await)
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for t in tasks {
        let (ids, outcome) = t.await.unwrap();
        let positions = outcome.unwrap().positions().to_vec();
        assert!(positions.windows(2).all(|p| p[1] == p[0] + 1), "an append's positions are consecutive");
        acknowledged.extend(ids.into_iter().zip(positions));
    }
    acknowledged.sort_by_key(|(_, p)| *p);
    let expected: Vec<Position> = (1..=acknowledged.len() as Position).collect();
    assert_eq!(acknowledged.iter().map(|(_, p)| *p).collect::<Vec<_>>(), expected, "no gap, no repeat");
    let stored: Vec<_> =
        everything(store.as_ref()).await.into_iter().map(|s| (s.envelope.header.event_id, s.position)).collect();
    assert_eq!(stored, acknowledged, "each acknowledged position holds that event");
}

pub async fn concurrent_writers_to_one_stream_conflict_and_exactly_one_wins(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let head = store.stream_head(&stream(1)).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let store = store.clone();
            let request = one(chain(&stream(1), head, 1));
            tokio::spawn(async move { store.append(request).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(AppendOutcome::Appended { positions }) => {
                won += 1;
                assert_eq!(positions, vec![2]);
            }
            Err(StoreError::VersionConflict { actual: Some(1), expected: ExpectedVersion::Exact(0), .. }) => {}
            other => panic!("a racing writer gets a conflict, not {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.read_stream(&stream(1), 0).await.unwrap().len(), 2);
}

pub async fn a_concurrent_reader_sees_every_position_in_order_without_gaps(f: &impl StoreFixture) {
    let store = f.store();
    const APPENDS: u128 = 400;
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen: Position = 0;
            while seen < APPENDS as Position {
                let page = store.read_all(seen, 64).await.expect("read_all");
                for s in &page {
                    assert_eq!(s.position, seen + 1, "a reader never sees a later position before an earlier one");
                    seen = s.position;
                }
                if page.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            seen
        })
    };
    let tasks: Vec<_> = (0..APPENDS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(one(chain(&stream(i + 1), None, 1))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(30), reader).await.expect("the reader catches up").unwrap();
    assert_eq!(seen, APPENDS as Position);
}

pub async fn a_subscription_catches_up_then_follows(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(1), None, 3))).await.unwrap();
    let mut sub = Subscription::new(store.clone(), 1, 1);
    assert_eq!(sub.next_batch().await.unwrap()[0].position, 2);
    assert_eq!(sub.next_batch().await.unwrap()[0].position, 3);
    let waiting = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 5 {
            got.extend(sub.next_batch().await.unwrap().into_iter().map(|s| s.position));
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    for i in 0..5 {
        store.append(one(chain(&stream(10 + i), None, 1))).await.unwrap();
    }
    let live = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the subscription follows").unwrap();
    assert_eq!(live, vec![4, 5, 6, 7, 8]);
}

pub async fn acknowledged_appends_survive_a_reopen_without_close(f: &impl StoreFixture) {
    let store = f.store();
    let tasks: Vec<_> = (0..200u128)
        .map(|i| {
            let store = store.clone();
            let request = one(chain(&stream(i + 1), None, 1));
            let id = request.writes[0].envelopes[0].header.event_id;
            tokio::spawn(async move { (id, store.append(request).await) })
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        let (id, outcome) = t.await.unwrap();
        acknowledged.insert((outcome.unwrap().positions()[0], id));
    }
    let Some(fresh) = f.reopen().await else { return };
    let stored: BTreeSet<_> =
        everything(fresh.as_ref()).await.into_iter().map(|s| (s.position, s.envelope.header.event_id)).collect();
    assert_eq!(stored, acknowledged);
    assert_eq!(*fresh.head().borrow(), 200);
    let head = fresh.stream_head(&stream(1)).await.unwrap();
    let next = fresh.append(one(chain(&stream(1), head, 1))).await.unwrap();
    assert_eq!(next.positions(), [201], "the reopened log continues where it was");
}

pub async fn append_each_checks_each_request_on_its_own(f: &impl StoreFixture) {
    let store = f.store();
    let stored = one(chain(&stream(9), None, 1));
    store.append(stored.clone()).await.unwrap();
    let first = chain(&stream(1), None, 2);
    let after_first = StreamHead { version: 1, hash: first.envelopes[1].hash().expect("a test envelope hashes") };
    let bad_link = chain(&stream(9), Some(StreamHead { version: 0, hash: [9; 32] }), 1);
    let continuing = chain(&stream(1), Some(after_first), 1);
    let stale = chain(&stream(1), None, 1);
    let results = store.append_each(vec![one(first), one(bad_link), stored, one(continuing), one(stale)]).await;
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], Ok(AppendOutcome::Appended { positions: vec![2, 3] }));
    assert!(matches!(results[1], Err(StoreError::InvalidAppend(_))), "{:?}", results[1]);
    assert_eq!(results[2], Ok(AppendOutcome::Duplicate { positions: vec![1] }));
    assert_eq!(results[3], Ok(AppendOutcome::Appended { positions: vec![4] }), "a later request sees the earlier");
    assert!(matches!(results[4], Err(StoreError::VersionConflict { actual: Some(2), .. })), "{:?}", results[4]);
    assert_eq!(everything(store.as_ref()).await.len(), 4, "the refused ones stored nothing, the rest everything");
    assert_eq!(*store.head().borrow(), 4);
    assert!(store.append_each(vec![]).await.is_empty());
}

pub async fn a_stream_moved_by_another_handle_is_a_conflict_not_a_fork(f: &impl StoreFixture) {
    let store = f.store();
    store.append(one(chain(&stream(1), None, 1))).await.unwrap();
    let head = store.stream_head(&stream(1)).await.unwrap();
    let Some(other) = f.reopen().await else { return };
    other.append(one(chain(&stream(1), head, 1))).await.unwrap();
    // The first handle last saw version 0; the stream is at 1 now.
    let err = store.append(one(chain(&stream(1), head, 1))).await.unwrap_err();
    assert!(err.is_retryable_conflict(), "{err:?}");
    let moved = store.stream_head(&stream(1)).await.unwrap();
    assert_eq!(moved.map(|h| h.version), Some(1));
    let next = store.append(one(chain(&stream(1), moved, 1))).await.unwrap();
    assert_eq!(next.positions(), [3]);
    let versions: Vec<_> =
        store.read_stream(&stream(1), 0).await.unwrap().iter().map(|s| s.envelope.header.stream_version).collect();
    assert_eq!(versions, vec![0, 1, 2], "one chain, no fork");
}
