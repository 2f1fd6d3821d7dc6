//! Commands without replays: the aggregate cache never serves stale state, a load reads
//! only a stream's tail, and a delivery's signals are recorded in one group.

use async_trait::async_trait;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::store::*;
use laras_commands::{together, CommandError, CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::DomainEvent;
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const ACCOUNT: &str = "1001";

/// A store that remembers how it was asked, around the in-memory reference.
#[derive(Default)]
struct Watched {
    inner: laras_commands::memory::MemoryStore,
    stream_reads: Mutex<Vec<(StreamId, u64)>>,
    groups: Mutex<Vec<usize>>,
}

#[async_trait]
impl EventStore for Watched {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.groups.lock().unwrap().push(1);
        self.inner.append(request).await
    }
    async fn append_each(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        self.groups.lock().unwrap().push(requests.len());
        let mut out = Vec::new();
        for r in requests {
            out.push(self.inner.append(r).await);
        }
        out
    }
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.stream_reads.lock().unwrap().push((stream.clone(), from_version));
        self.inner.read_stream(stream, from_version).await
    }
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        self.inner.stream_head(stream).await
    }
    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    fn head(&self) -> watch::Receiver<Position> {
        self.inner.head()
    }
}

async fn watched_ledger() -> (Ledger, Arc<Watched>, PartnerId) {
    let base = laras_commands::memory::ledger_at(NOW);
    let store = Arc::new(Watched::default());
    let ledger = Ledger::new(store.clone(), base.keys.clone(), base.signer.clone(), base.clock.clone());
    let partner = PartnerId(Uuid::from_u128(1));
    laras_commands::memory::onboard_with_channel(&ledger, partner, ChannelKind::WhatsApp, ACCOUNT).await.unwrap();
    (ledger, store, partner)
}

/// A second ledger on the same store and keys, with a cache of its own (another node).
fn twin(ledger: &Ledger) -> Ledger {
    Ledger::new(ledger.store.clone(), ledger.keys.clone(), ledger.signer.clone(), ledger.clock.clone())
}

fn message(customer: &str, wamid: &str) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: ACCOUNT.into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: customer.into(), name: None },
        channel_message_id: wamid.into(),
        sent_at: NOW,
        content: PlainContent::Text(format!("pesan {wamid}")),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

fn meta() -> CommandMeta {
    CommandMeta::system("webhook")
}

async fn received(ledger: &Ledger) -> Vec<String> {
    let all = ledger.store.read_all(0, 100_000).await.unwrap();
    all.iter()
        .filter_map(|s| match s.envelope.event().unwrap() {
            DomainEvent::InboundMessageReceived { channel_message_id, .. } => Some(channel_message_id),
            _ => None,
        })
        .collect()
}

/// Every stream's versions run 0, 1, 2… and each envelope links to the one before.
async fn chains_hold(ledger: &Ledger) {
    let all = ledger.store.read_all(0, 100_000).await.unwrap();
    let mut heads = std::collections::HashMap::new();
    for s in all {
        let h = &s.envelope.header;
        let (version, hash) = heads.get(&h.stream_id).copied().unwrap_or((u64::MAX, [0; 32]));
        assert_eq!(h.stream_version, version.wrapping_add(1), "{} is gap-free", h.stream_id);
        assert_eq!(h.prev_hash, hash, "{} links", h.stream_id);
        heads.insert(h.stream_id.clone(), (h.stream_version, s.envelope.hash().unwrap()));
    }
}

#[tokio::test]
async fn a_load_reads_only_what_was_stored_after_the_cached_version() {
    let (ledger, store, p) = watched_ledger().await;
    for n in 0..5 {
        ledger.record_inbound_message(p, message("62811", &format!("wamid.{n}")), &meta()).await.unwrap();
    }
    let recorded = ledger.record_inbound_message(p, message("62811", "wamid.last"), &meta()).await.unwrap();
    let conversation = StreamId::conversation(recorded.conversation_id);
    let reads: Vec<u64> =
        store.stream_reads.lock().unwrap().iter().filter(|(s, _)| *s == conversation).map(|(_, v)| *v).collect();
    // The first load finds no stream; the second folds it from 0; every later one reads the tail.
    assert_eq!(reads[..2], [0, 0]);
    assert_eq!(reads[2..], [2, 3, 4, 5], "later loads read only the tail");
    assert!(ledger.cache.stats().hits > 0);
}

#[tokio::test]
async fn a_message_recorded_by_another_ledger_is_seen_before_deciding() {
    let (a, _, p) = watched_ledger().await;
    let b = twin(&a);
    a.record_inbound_message(p, message("62811", "wamid.1"), &meta()).await.unwrap();
    let by_b = b.record_inbound_message(p, message("62811", "wamid.2"), &meta()).await.unwrap();
    assert!(!by_b.committed.is_noop());
    // `a` cached the conversation before `b` wrote: the redelivery must still be known.
    let again = a.record_inbound_message(p, message("62811", "wamid.2"), &meta()).await.unwrap();
    assert!(again.committed.duplicate && again.committed.is_noop(), "{again:?}");
    a.record_inbound_message(p, message("62811", "wamid.3"), &meta()).await.unwrap();
    assert_eq!(received(&a).await, ["wamid.1", "wamid.2", "wamid.3"]);
    chains_hold(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ledgers_racing_on_one_conversation_decide_again_on_fresh_state() {
    let (a, _, p) = watched_ledger().await;
    let b = twin(&a);
    a.record_inbound_message(p, message("62811", "wamid.open"), &meta()).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let ledger = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                ledger.record_inbound_message(p, message("62811", &format!("wamid.{n}")), &meta()).await
            })
        })
        .collect();
    for t in tasks {
        let recorded = t.await.unwrap().unwrap();
        assert!(!recorded.committed.is_noop(), "every message lands once");
    }
    assert_eq!(received(&a).await.len(), 41);
    chains_hold(&a).await;
}

#[tokio::test]
async fn a_deliverys_signals_are_appended_in_one_group_and_a_bad_one_loses_no_neighbour() {
    let (ledger, store, p) = watched_ledger().await;
    ledger.record_inbound_message(p, message("62819", "wamid.old"), &meta()).await.unwrap();
    store.groups.lock().unwrap().clear();
    let mut elsewhere = message("62812", "wamid.elsewhere");
    elsewhere.account_id = "not-connected".into();
    let signals = vec![
        message("62811", "wamid.a"),
        elsewhere,
        message("62813", "wamid.b"),
        message("62819", "wamid.old"),
        message("62814", "wamid.c"),
    ];
    let meta = meta();
    let commands = signals.into_iter().map(|m| ledger.record_inbound_message(p, m, &meta)).collect();
    let results = together::record_together(ledger.store.clone(), commands).await;
    assert!(results[0].is_ok() && results[2].is_ok() && results[4].is_ok());
    assert!(matches!(results[1], Err(CommandError::Domain(_))), "the unconnected account is refused alone");
    assert!(results[3].as_ref().unwrap().committed.duplicate, "the redelivered one is a duplicate");
    assert_eq!(*store.groups.lock().unwrap(), vec![3], "three appends, one group");
    assert_eq!(received(&ledger).await, ["wamid.old", "wamid.a", "wamid.b", "wamid.c"], "in delivery order");
}

#[tokio::test]
async fn two_messages_of_one_conversation_in_one_delivery_land_in_order() {
    let (ledger, store, p) = watched_ledger().await;
    ledger.record_inbound_message(p, message("62811", "wamid.0"), &meta()).await.unwrap();
    store.groups.lock().unwrap().clear();
    let signals = vec![message("62811", "wamid.1"), message("62811", "wamid.2"), message("62812", "wamid.x")];
    let meta = meta();
    let commands = signals.into_iter().map(|m| ledger.record_inbound_message(p, m, &meta)).collect();
    let results = together::record_together(ledger.store.clone(), commands).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(received(&ledger).await, ["wamid.0", "wamid.1", "wamid.x", "wamid.2"]);
    let groups = store.groups.lock().unwrap().clone();
    assert_eq!(groups.first(), Some(&3), "all three try the first group; the second of one conversation retries");
    chains_hold(&ledger).await;
}
