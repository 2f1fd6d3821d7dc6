//! Sales follow-ups with a clock the test moves: a draft inside the window, the
//! Partner's template outside it on WhatsApp, a recorded skip on Messenger, never for an
//! opted-out contact, and once per silence.

use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::memory::{onboard_with_channel, MemoryKeys, MemoryStore};
use laras_commands::signer::LedgerSigner;
use laras_commands::worker::FollowUps;
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::opportunity::OpenOpportunity;
use laras_domain::aggregate::partner::{ConnectChannel, SetApprovalMode, SetFollowUpPolicy};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::*;
use laras_domain::ids::{ConversationId, OpportunityId, PartnerId, UserId};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::{Clock, ManualClock, Span, Timestamp};
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const PARTNER: PartnerId = PartnerId(Uuid::from_u128(1));

struct Shop {
    ledger: Ledger,
    clock: Arc<ManualClock>,
}

async fn shop(delay_hours: u32) -> Shop {
    let clock = Arc::new(ManualClock::at(NOW));
    let ledger = Ledger::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemoryKeys::default()),
        Arc::new(LedgerSigner::new(LedgerSigningKey::from_secret([7; 32]))),
        clock.clone(),
    );
    onboard_with_channel(&ledger, PARTNER, ChannelKind::WhatsApp, "wa").await.expect("onboard");
    let meta = CommandMeta::system("test");
    let page = ConnectChannel {
        channel: ChannelKind::Messenger,
        account_id: "page".into(),
        display_name: "Toko".into(),
        proof: None,
    };
    let directory = laras_commands::directory::ChannelDirectory::new(ledger.store.clone());
    ledger.connect_channel(PARTNER, page, &directory, &meta).await.expect("messenger");
    ledger
        .set_approval_mode(PARTNER, SetApprovalMode { channel: None, mode: ApprovalMode::Autopilot }, &meta)
        .await
        .expect("mode");
    let policy = SetFollowUpPolicy { delay_hours, whatsapp_template: Some(("follow_up_1".into(), "id".into())) };
    ledger.set_follow_up_policy(PARTNER, policy, &meta).await.expect("policy");
    Shop { ledger, clock }
}

/// A customer asks, a deal is opened, and a person answers an hour later.
async fn deal_waiting_on_customer(
    s: &Shop,
    channel: ChannelKind,
    n: u32,
) -> (ConversationId, laras_domain::ids::ContactId) {
    let (account, kind) = match channel {
        ChannelKind::WhatsApp => ("wa", IdentityKind::WaId),
        _ => ("page", IdentityKind::Psid),
    };
    let msg = IncomingMessage {
        channel,
        account_id: account.into(),
        sender: SenderIdentity { kind, value: format!("62812{n}"), name: None },
        channel_message_id: format!("m.{n}"),
        sent_at: s.clock.now(),
        content: PlainContent::Text("Berapa harga batik tulis?".into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    let meta = CommandMeta::system("test");
    let recorded = s.ledger.record_inbound_message(PARTNER, msg, &meta).await.expect("inbound");
    let open = OpenOpportunity {
        opportunity_id: OpportunityId(Uuid::from_u128(0x0d00 + u128::from(n))),
        contact_id: recorded.contact_id,
        conversation_id: Some(recorded.conversation_id),
        title: "Batik tulis".into(),
        stage: None,
        value: Money { minor_units: 45_000_000, currency: "IDR".into() },
    };
    s.ledger.open_opportunity(PARTNER, open, &meta).await.expect("deal");
    s.clock.advance(Span::hours(1));
    let reply =
        OutgoingReply::Person { text: "Rp 450.000, kak.".into(), target: ReplyTarget::Conversation { quote: None } };
    let person = CommandMeta::partner_user(UserId(Uuid::from_u128(9)));
    let request = SendRequest { reply, template: None, marketing: false, media: None };
    s.ledger.request_send(PARTNER, recorded.conversation_id, request, &person).await.expect("reply");
    (recorded.conversation_id, recorded.contact_id)
}

async fn events_of(ledger: &Ledger, conversation: ConversationId) -> Vec<DomainEvent> {
    let stream = laras_domain::stream::StreamId::conversation(conversation);
    ledger
        .store
        .read_stream(&stream, 0)
        .await
        .expect("read")
        .iter()
        .map(|s| s.envelope.event().expect("event"))
        .collect()
}

fn process(s: &Shop) -> FollowUps {
    FollowUps { ledger: s.ledger.clone(), every: std::time::Duration::from_secs(60) }
}

fn sends(events: &[DomainEvent]) -> Vec<MessagingMode> {
    events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::ReplySendRequested { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn inside_the_window_a_follow_up_draft_goes_out_once_after_the_delay() {
    let s = shop(2).await;
    let (conversation, _) = deal_waiting_on_customer(&s, ChannelKind::WhatsApp, 1).await;
    s.clock.advance(Span::hours(1));
    process(&s).check_now().await.expect("not yet due");
    assert_eq!(sends(&events_of(&s.ledger, conversation).await).len(), 1, "only the person's reply so far");

    s.clock.advance(Span::hours(2));
    process(&s).check_now().await.expect("due");
    let events = events_of(&s.ledger, conversation).await;
    assert_eq!(sends(&events), vec![MessagingMode::Response, MessagingMode::Response]);
    assert!(events.iter().any(|e| matches!(e, DomainEvent::DraftProposed { author: DraftAuthor::AiWorker { generator, .. }, .. } if generator == "follow-up")));

    s.clock.advance(Span::hours(5));
    process(&s).check_now().await.expect("again");
    assert_eq!(sends(&events_of(&s.ledger, conversation).await).len(), 2, "one follow-up per silence");
}

#[tokio::test]
async fn outside_the_window_whatsapp_uses_the_template_and_messenger_records_a_skip() {
    let s = shop(30).await;
    let (whatsapp, _) = deal_waiting_on_customer(&s, ChannelKind::WhatsApp, 1).await;
    let (messenger, _) = deal_waiting_on_customer(&s, ChannelKind::Messenger, 2).await;
    s.clock.advance(Span::hours(31));
    process(&s).check_now().await.expect("due");
    assert_eq!(sends(&events_of(&s.ledger, whatsapp).await).last(), Some(&MessagingMode::Template));
    let events = events_of(&s.ledger, messenger).await;
    assert!(events.iter().any(|e| matches!(
        e,
        DomainEvent::FollowUpSkipped { reason: RefusalReason::AutomatedOutsideWindow { .. }, .. }
    )));
    assert_eq!(sends(&events).len(), 1, "nothing automated outside Messenger's window");
}

#[tokio::test]
async fn an_opted_out_contact_is_never_followed_up() {
    let s = shop(2).await;
    let (conversation, contact) = deal_waiting_on_customer(&s, ChannelKind::WhatsApp, 1).await;
    let meta = CommandMeta::system("test");
    s.ledger.opt_out(PARTNER, contact, None, OptScope::Marketing, OptSignal::Manual, &meta).await.expect("opt out");
    s.clock.advance(Span::hours(3));
    process(&s).check_now().await.expect("due");
    let events = events_of(&s.ledger, conversation).await;
    assert!(events.iter().any(|e| matches!(e, DomainEvent::FollowUpSkipped { reason: RefusalReason::OptedOut, .. })));
    assert_eq!(sends(&events).len(), 1);
    assert!(!events.iter().any(|e| matches!(e, DomainEvent::DraftProposed { .. })));
}

#[tokio::test]
async fn a_won_deal_is_not_followed_up() {
    let s = shop(2).await;
    let (conversation, _) = deal_waiting_on_customer(&s, ChannelKind::WhatsApp, 1).await;
    let won = laras_domain::aggregate::opportunity::WinOpportunity { value: None };
    let deal = OpportunityId(Uuid::from_u128(0x0d01));
    s.ledger.on_opportunity(PARTNER, deal, &won, &CommandMeta::system("test")).await.expect("won");
    s.clock.advance(Span::hours(3));
    process(&s).check_now().await.expect("checked");
    let events = events_of(&s.ledger, conversation).await;
    assert_eq!(sends(&events).len(), 1);
    assert!(!events
        .iter()
        .any(|e| matches!(e, DomainEvent::FollowUpSkipped { .. } | DomainEvent::DraftProposed { .. })));
}

mod supervised {
    use super::*;
    use laras_commands::runtime::memory::MemoryRuntime;
    use laras_commands::runtime::{NodeId, Registry, Snapshots, Supervisor, SupervisorSettings};
    use laras_commands::worker::{FollowUpProcess, FOLLOW_UPS};
    use std::time::{Duration, Instant};

    fn start(s: &Shop, runtime: &MemoryRuntime) -> Supervisor {
        let supervisor = Supervisor::new(Arc::new(runtime.clone()), NodeId("n".into()), SupervisorSettings::default());
        let follow_ups = FollowUps { ledger: s.ledger.clone(), every: Duration::from_millis(20) };
        supervisor.spawn(Arc::new(FollowUpProcess { follow_ups, snapshots: Arc::new(runtime.clone()) }));
        supervisor
    }

    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn position(registry: &Registry) -> u64 {
        registry.get(FOLLOW_UPS).map_or(0, |s| s.position)
    }

    #[tokio::test]
    async fn a_restart_reads_the_saved_book_not_the_log_and_follows_up_once() {
        let s = shop(2).await;
        let (conversation, _) = deal_waiting_on_customer(&s, ChannelKind::WhatsApp, 1).await;
        let head = *s.ledger.store.head().borrow();
        let runtime = MemoryRuntime::default();

        let first = start(&s, &runtime);
        let registry = first.registry().clone();
        until("the book caught up", async || position(&registry) == head).await;
        first.shutdown().await;
        assert_eq!(runtime.load_snapshot(FOLLOW_UPS).await.unwrap().map(|s| s.position), Some(head));
        assert_eq!(sends(&events_of(&s.ledger, conversation).await).len(), 1, "not due yet");

        // The follow-up falls due while the process is down; the restarted one knows the
        // deal from its snapshot alone.
        s.clock.advance(Span::hours(3));
        let second = start(&s, &runtime);
        let registry = second.registry().clone();
        until("the follow-up", async || sends(&events_of(&s.ledger, conversation).await).len() == 2).await;
        assert_eq!(registry.get(FOLLOW_UPS).unwrap().started_from, Some(head));
        tokio::time::sleep(Duration::from_millis(100)).await;
        second.shutdown().await;

        let third = start(&s, &runtime);
        tokio::time::sleep(Duration::from_millis(200)).await;
        third.shutdown().await;
        assert_eq!(sends(&events_of(&s.ledger, conversation).await).len(), 2, "one follow-up per silence");
    }
}
