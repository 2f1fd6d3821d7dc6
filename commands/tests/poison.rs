//! A process that meets an event it cannot read records it as skipped (once, with the
//! reason and its position) and goes on with the events after it: the channel directory,
//! follow-ups and the outbox. (The AI worker's case is in `adapters/tests/worker_process.rs`,
//! the read models' in `projections/tests/poison.rs`.)

use async_trait::async_trait;
use laras_commands::directory::{ChannelDirectory, DirectoryProcess, CHANNEL_DIRECTORY};
use laras_commands::memory::{append_undecodable, ledger_at, onboard_with_channel};
use laras_commands::outbox::{ChannelSender, DeliveryError, OutboundMessage, Outbox, PROCESS};
use laras_commands::runtime::memory::MemoryRuntime;
use laras_commands::runtime::{Checkpoints, Fence, NodeId, Process, Registry, Supervisor, SupervisorSettings};
use laras_commands::worker::{FollowUpProcess, FollowUps, FOLLOW_UPS};
use laras_commands::Ledger;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DomainEvent, SkipReason};
use laras_domain::ids::{ConversationId, OpportunityId, PartnerId};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const FIRST: PartnerId = PartnerId(Uuid::from_u128(0xa1));
const SECOND: PartnerId = PartnerId(Uuid::from_u128(0xa2));

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn supervise(runtime: &MemoryRuntime, process: Arc<dyn Process>) -> Supervisor {
    let settings = SupervisorSettings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..SupervisorSettings::default()
    };
    let supervisor = Supervisor::new(Arc::new(runtime.clone()), NodeId("test".into()), settings);
    supervisor.spawn(process);
    supervisor
}

/// The skips `process` recorded: (position, reason) each.
async fn skips(ledger: &Ledger, process: &str) -> Vec<(u64, SkipReason)> {
    let stream = ledger.store.read_stream(&StreamId::process(process), 0).await.expect("read skips");
    stream
        .iter()
        .map(|s| match s.envelope.event().expect("a skip decodes") {
            DomainEvent::ProcessSkippedEvent { process: p, position, reason, .. } => {
                assert_eq!(p, process);
                (position, reason)
            }
            other => panic!("not a skip: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn the_directory_records_a_route_event_it_cannot_read_and_routes_the_ones_after_it() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, FIRST, ChannelKind::WhatsApp, "acct-1").await.unwrap();
    let poison = append_undecodable(&ledger, FIRST, StreamId::partner(FIRST), "ChannelConnected").await.unwrap();
    onboard_with_channel(&ledger, SECOND, ChannelKind::WhatsApp, "acct-2").await.unwrap();

    let runtime = MemoryRuntime::default();
    let directory = ChannelDirectory::new(ledger.store.clone());
    let process = DirectoryProcess {
        directory: directory.clone(),
        ledger: ledger.clone(),
        snapshots: Arc::new(runtime.clone()),
        save_every: Duration::from_millis(20),
    };
    let supervisor = supervise(&runtime, Arc::new(process));
    let registry = supervisor.registry().clone();
    until("the route after the poison", async || {
        directory.partner_for(ChannelKind::WhatsApp, "acct-2", Duration::ZERO).await == Some(SECOND)
    })
    .await;
    until("the skip", async || !skips(&ledger, CHANNEL_DIRECTORY).await.is_empty()).await;
    assert_eq!(skips(&ledger, CHANNEL_DIRECTORY).await, vec![(poison, SkipReason::Undecodable)]);
    assert_eq!(directory.partner_for(ChannelKind::WhatsApp, "acct-1", Duration::ZERO).await, Some(FIRST));
    let status = registry.get(CHANNEL_DIRECTORY).unwrap();
    assert_eq!((status.skipped, status.failures), (1, 0), "{status:?}");
    supervisor.shutdown().await;

    // Another node's directory (or a restart without the snapshot) records it once.
    let again = ChannelDirectory::new(ledger.store.clone());
    let process = DirectoryProcess {
        directory: again.clone(),
        ledger: ledger.clone(),
        snapshots: Arc::new(MemoryRuntime::default()),
        save_every: Duration::from_millis(20),
    };
    let supervisor = supervise(&runtime, Arc::new(process));
    until("the second directory", async || {
        again.partner_for(ChannelKind::WhatsApp, "acct-2", Duration::ZERO).await == Some(SECOND)
    })
    .await;
    supervisor.shutdown().await;
    assert_eq!(skips(&ledger, CHANNEL_DIRECTORY).await.len(), 1, "one skip per process and event");
}

#[tokio::test]
async fn a_route_event_passed_over_by_a_webhook_lookup_is_still_recorded_before_the_routes_are_saved() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, FIRST, ChannelKind::WhatsApp, "acct-1").await.unwrap();
    let poison = append_undecodable(&ledger, FIRST, StreamId::partner(FIRST), "ChannelConnected").await.unwrap();
    onboard_with_channel(&ledger, SECOND, ChannelKind::WhatsApp, "acct-2").await.unwrap();
    let head = *ledger.store.head().borrow();

    // A webhook's look-up reads the log before the process does: the directory moves past
    // the poison with nothing recorded yet.
    let directory = ChannelDirectory::new(ledger.store.clone());
    assert_eq!(directory.route_now(ChannelKind::WhatsApp, "acct-2").await.unwrap(), Some(SECOND));
    assert_eq!(directory.position(), head);
    assert!(skips(&ledger, CHANNEL_DIRECTORY).await.is_empty());

    let runtime = MemoryRuntime::default();
    let process = DirectoryProcess {
        directory: directory.clone(),
        ledger: ledger.clone(),
        snapshots: Arc::new(runtime.clone()),
        save_every: Duration::from_millis(20),
    };
    let supervisor = supervise(&runtime, Arc::new(process));
    until("the skip", async || !skips(&ledger, CHANNEL_DIRECTORY).await.is_empty()).await;
    until("the routes saved", async || {
        use laras_commands::runtime::Snapshots;
        runtime.load_snapshot(CHANNEL_DIRECTORY).await.unwrap().is_some()
    })
    .await;
    supervisor.shutdown().await;
    assert_eq!(skips(&ledger, CHANNEL_DIRECTORY).await, vec![(poison, SkipReason::Undecodable)]);
}

#[tokio::test]
async fn follow_ups_record_a_deal_event_they_cannot_read_and_follow_the_log_after_it() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, FIRST, ChannelKind::WhatsApp, "acct-1").await.unwrap();
    let stream = StreamId::opportunity(OpportunityId(Uuid::from_u128(0x0dd)));
    let poison = append_undecodable(&ledger, FIRST, stream, "OpportunityOpened").await.unwrap();
    // Unreadable events of types follow-ups do not read are none of their business.
    let other = StreamId::conversation(ConversationId(Uuid::from_u128(0xc0)));
    append_undecodable(&ledger, FIRST, other, "ConversationAssigned").await.unwrap();
    onboard_with_channel(&ledger, SECOND, ChannelKind::WhatsApp, "acct-2").await.unwrap();
    let head = *ledger.store.head().borrow();

    let runtime = MemoryRuntime::default();
    let follow_ups = FollowUps { ledger: ledger.clone(), every: Duration::from_millis(20) };
    let process = FollowUpProcess { follow_ups, snapshots: Arc::new(runtime.clone()) };
    let supervisor = supervise(&runtime, Arc::new(process));
    let registry = supervisor.registry().clone();
    until("follow-ups past the poison", async || registry.get(FOLLOW_UPS).is_some_and(|s| s.position >= head)).await;
    assert_eq!(skips(&ledger, FOLLOW_UPS).await, vec![(poison, SkipReason::Undecodable)]);
    let status = registry.get(FOLLOW_UPS).unwrap();
    assert_eq!((status.skipped, status.failures, status.restarts), (1, 0, 0), "{status:?}");
    supervisor.shutdown().await;
}

/// A platform that must not be called: these logs hold no send to make.
struct NoSends;

#[async_trait]
impl ChannelSender for NoSends {
    async fn deliver(&self, _message: &OutboundMessage) -> Result<String, DeliveryError> {
        panic!("nothing here asks for a send")
    }
}

#[tokio::test]
async fn the_outbox_records_a_send_request_it_cannot_read_and_moves_its_checkpoint_past_it() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, FIRST, ChannelKind::WhatsApp, "acct-1").await.unwrap();
    let conversation = StreamId::conversation(ConversationId(Uuid::from_u128(0xc1)));
    let poison = append_undecodable(&ledger, FIRST, conversation, "ReplySendRequested").await.unwrap();
    onboard_with_channel(&ledger, SECOND, ChannelKind::WhatsApp, "acct-2").await.unwrap();
    let head = *ledger.store.head().borrow();

    let runtime = Arc::new(MemoryRuntime::default());
    let outbox = Outbox::new(ledger.clone(), Arc::new(NoSends));
    let registry = Registry::default();
    let status = registry.register(PROCESS);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = {
        let (outbox, runtime, status) = (outbox.clone(), runtime.clone(), status.clone());
        tokio::spawn(async move {
            outbox
                .run(runtime.as_ref(), Fence::UNLEASED, &status, async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    until("the checkpoint past the poison", async || runtime.load(PROCESS).await.unwrap().unwrap_or(0) >= head).await;
    assert_eq!(skips(&ledger, PROCESS).await, vec![(poison, SkipReason::Undecodable)]);
    assert_eq!(registry.get(PROCESS).unwrap().skipped, 1);
    let _ = stop.send(());
    run.await.unwrap().expect("the outbox ran without an error");
}
