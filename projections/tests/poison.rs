//! The read models meet an event they cannot read: they record it as skipped (once, with
//! its position) and project the events after it; without a way to record skips the
//! runner stops on it instead, as before (its supervisor restarts it).

use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{append_undecodable, ledger_at, onboard_with_channel};
use laras_commands::runtime::Skips;
use laras_commands::{CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DomainEvent, SkipReason};
use laras_domain::ids::{ConversationId, PartnerId};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use laras_projections::*;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const P: PartnerId = PartnerId(Uuid::from_u128(0x9));
const PROCESS: &str = "read-models";

fn runner_for(ledger: &Ledger, dir: &std::path::Path, skips: Option<Skips>) -> ProjectionRunner {
    ProjectionRunner {
        store: ledger.store.clone(),
        keys: ledger.keys.clone(),
        models: ReadModels::open(dir).expect("open read models"),
        clock: ledger.clock.clone(),
        skips,
    }
}

async fn customer_says(ledger: &Ledger, from: &str) {
    let message = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "acct".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: from.into(), name: None },
        channel_message_id: format!("wamid.{from}"),
        sent_at: NOW,
        content: PlainContent::Text("halo".into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    ledger.record_inbound_message(P, message, &CommandMeta::system("test")).await.expect("message");
}

fn inbox_len(models: &ReadModels) -> usize {
    models
        .inbox(&P.to_string(), &InboxFilter::default(), &PageRequest { first: 50, after: None })
        .expect("inbox")
        .items
        .len()
}

#[tokio::test]
async fn an_event_that_cannot_be_read_is_recorded_as_skipped_and_the_read_models_go_on() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, P, ChannelKind::WhatsApp, "acct").await.expect("onboard");
    customer_says(&ledger, "62811").await;
    let stream = StreamId::conversation(ConversationId(Uuid::from_u128(0xbad)));
    let poison = append_undecodable(&ledger, P, stream, "InboundMessageReceived").await.expect("poison");
    customer_says(&ledger, "62812").await;
    let head = *ledger.store.head().borrow();

    // Without a way to record the skip, the runner stops at the event, projecting nothing
    // of its batch.
    let dir = tempfile::tempdir().expect("tempdir");
    let stopping = runner_for(&ledger, dir.path(), None);
    let error = stopping.catch_up(|_, _| {}).await.expect_err("stops on the poison");
    assert_eq!(error.poison(), Some((poison, None)));
    drop(stopping);

    let dir = tempfile::tempdir().expect("tempdir");
    let runner = runner_for(&ledger, dir.path(), Some(Skips::new(ledger.clone(), PROCESS)));
    runner.catch_up(|_, _| {}).await.expect("goes on past the poison");
    assert!(runner.models.position() >= head);
    assert_eq!(inbox_len(&runner.models), 2, "both customers' conversations, before and after the poison");
    let skips = ledger.store.read_stream(&StreamId::process(PROCESS), 0).await.expect("skips");
    assert_eq!(skips.len(), 1);
    match skips[0].envelope.event().expect("a skip decodes") {
        DomainEvent::ProcessSkippedEvent { process, position, reason, .. } => {
            assert_eq!((process.as_str(), position, reason), (PROCESS, poison, SkipReason::Undecodable));
        }
        other => panic!("not a skip: {other:?}"),
    }

    // The skip is in the log too; applying on, and again from the start, records it once.
    let again = tempfile::tempdir().expect("tempdir");
    let rebuilt = runner_for(&ledger, again.path(), Some(Skips::new(ledger.clone(), PROCESS)));
    rebuilt.catch_up(|_, _| {}).await.expect("again");
    assert_eq!(ledger.store.read_stream(&StreamId::process(PROCESS), 0).await.expect("skips").len(), 1);
    assert_eq!(inbox_len(&rebuilt.models), 2);
}

#[tokio::test]
async fn a_fresh_rebuild_records_the_poison_as_skipped_and_goes_on() {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, P, ChannelKind::WhatsApp, "acct").await.expect("onboard");
    customer_says(&ledger, "62811").await;
    let stream = StreamId::conversation(ConversationId(Uuid::from_u128(0xbad)));
    let poison = append_undecodable(&ledger, P, stream, "InboundMessageReceived").await.expect("poison");
    customer_says(&ledger, "62812").await;
    let (store, keys, clock) = (ledger.store.clone(), ledger.keys.clone(), ledger.clock.clone());

    let dir = tempfile::tempdir().expect("tempdir");
    let stopped =
        ProjectionRunner::rebuild_fresh(store.clone(), keys.clone(), clock.clone(), None, dir.path(), |_, _| {})
            .await
            .expect_err("without skips the rebuild stops on the poison");
    assert_eq!(stopped.poison(), Some((poison, None)));

    let skips = Some(Skips::new(ledger.clone(), PROCESS));
    let head = *ledger.store.head().borrow();
    let position = ProjectionRunner::rebuild_fresh(store, keys, clock, skips, dir.path(), |_, _| {})
        .await
        .expect("goes on past the poison");
    assert!(position >= head);
    assert_eq!(inbox_len(&ReadModels::open(dir.path()).expect("open")), 2);
    let skipped = ledger.store.read_stream(&StreamId::process(PROCESS), 0).await.expect("skips");
    assert_eq!(skipped.len(), 1, "recorded once");
}
