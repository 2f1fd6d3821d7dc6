//! The outbox over in-memory ports with a scripted fake sender: delivery, refusals,
//! retries, per-account throttling, and sends left in doubt by a crash (ADR 010).

use async_trait::async_trait;
use laras_commands::handlers::inbound::{IncomingComment, IncomingEcho, IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::handlers::status::IncomingStatus;
use laras_commands::outbox::*;
use laras_commands::runtime::memory::MemoryRuntime;
use laras_commands::runtime::{Checkpoints, Fence, Registry};
use laras_commands::{CommandError, CommandMeta, Ledger};
use laras_domain::aggregate::partner::ChannelStatus;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{
    DeliveryStatus, DomainEvent, InDoubtPolicy, MessagingMode, RefusalReason, ReplyTarget, SendEvidence,
};
use laras_domain::ids::{ConversationId, PartnerId, SendId, UserId};
use laras_domain::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

/// What the fake Meta does with one call.
enum Reply {
    Answer(Result<String, DeliveryError>),
    /// Meta takes the message (the customer gets it) and the answer never comes back.
    AcceptAndHang,
}

#[derive(Default)]
struct FakeSender {
    /// Every message Meta took, in order: what customers received.
    sent: Mutex<Vec<OutboundMessage>>,
    script: Mutex<VecDeque<Reply>>,
    /// Scripts by receiving account, tried before the shared one.
    by_account: Mutex<HashMap<String, VecDeque<Reply>>>,
}

impl FakeSender {
    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    fn script_account(&self, account: &str, replies: impl IntoIterator<Item = Reply>) {
        self.by_account.lock().unwrap().entry(account.to_owned()).or_default().extend(replies);
    }

    fn sent_to(&self, account: &str) -> usize {
        self.sent.lock().unwrap().iter().filter(|m| m.account_id == account).count()
    }

    fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

#[async_trait]
impl ChannelSender for FakeSender {
    async fn deliver(&self, message: &OutboundMessage) -> Result<String, DeliveryError> {
        let reply = {
            let mut by_account = self.by_account.lock().unwrap();
            match by_account.get_mut(&message.account_id).and_then(VecDeque::pop_front) {
                Some(reply) => Some(reply),
                None => self.script.lock().unwrap().pop_front(),
            }
        };
        let accepted = !matches!(reply, Some(Reply::Answer(Err(_))));
        let n = {
            let mut sent = self.sent.lock().unwrap();
            if accepted {
                sent.push(message.clone());
            }
            sent.len()
        };
        match reply {
            None => Ok(format!("wamid.out.{n}")),
            Some(Reply::Answer(answer)) => answer,
            Some(Reply::AcceptAndHang) => std::future::pending().await,
        }
    }
}

fn unavailable(retry_after: Option<Duration>) -> Reply {
    Reply::Answer(Err(DeliveryError::Unavailable { status: Some(503), detail: "busy".into(), retry_after }))
}

struct World {
    ledger: Ledger,
    sender: Arc<FakeSender>,
    outbox: Outbox,
    partner: PartnerId,
    conversation: ConversationId,
    channel: ChannelKind,
    account: String,
}

fn customer(channel: ChannelKind) -> SenderIdentity {
    let (kind, value) = match channel {
        ChannelKind::WhatsApp => (IdentityKind::WaId, "6281234567"),
        ChannelKind::Messenger => (IdentityKind::Psid, "PSID-1"),
        ChannelKind::Instagram => (IdentityKind::Igsid, "IGSID-1"),
        ChannelKind::Threads => (IdentityKind::ThreadsUserId, "TU-1"),
    };
    SenderIdentity { kind, value: value.into(), name: None }
}

async fn world() -> World {
    world_on(ChannelKind::WhatsApp, 1, "1065").await
}

async fn world_on(channel: ChannelKind, partner: u128, account: &str) -> World {
    world_with(laras_commands::memory::ledger_at(NOW), channel, partner, account).await
}

async fn world_with(ledger: Ledger, channel: ChannelKind, partner: u128, account: &str) -> World {
    let partner = PartnerId(Uuid::from_u128(partner));
    laras_commands::memory::onboard_with_channel(&ledger, partner, channel, account).await.unwrap();
    let meta = CommandMeta::system("test");
    let conversation = if channel == ChannelKind::Threads {
        let comment = IncomingComment {
            channel,
            account_id: account.into(),
            sender: customer(channel),
            post_id: "POST-1".into(),
            comment_id: "REPLY-1".into(),
            parent_id: None,
            text: "ada stok?".into(),
            sent_at: NOW,
        };
        ledger.record_public_comment(partner, comment, &meta).await.unwrap().conversation_id
    } else {
        let msg = IncomingMessage {
            channel,
            account_id: account.into(),
            sender: customer(channel),
            channel_message_id: "wamid.in.1".into(),
            sent_at: NOW,
            content: PlainContent::Text("ada stok?".into()),
            reply_to: None,
            context: Default::default(),
            also: vec![],
        };
        ledger.record_inbound_message(partner, msg, &meta).await.unwrap().conversation_id
    };
    let sender = Arc::new(FakeSender::default());
    let outbox = Outbox::with_settings(ledger.clone(), sender.clone(), fast(Duration::from_secs(3600)));
    World { ledger, sender, outbox, partner, conversation, channel, account: account.into() }
}

/// Settings for tests: quick retries, and `bound` for every channel's sends in doubt.
fn fast(bound: Duration) -> OutboxSettings {
    OutboxSettings {
        concurrency: 4,
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        in_doubt: InDoubtBounds { whatsapp: bound, messenger: bound, instagram: bound, threads: bound },
        poll: Duration::from_millis(10),
    }
}

/// A running outbox that stops (dropping whatever it was doing) when dropped or stopped.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), CommandError>>,
}

impl Running {
    fn start(outbox: Outbox, checkpoints: Arc<MemoryRuntime>) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let status = Registry::default().register(PROCESS);
            outbox
                .run(checkpoints.as_ref(), Fence::UNLEASED, &status, async {
                    let _ = stopped.await;
                })
                .await
        });
        Self { stop: Some(stop), task }
    }

    /// Stops the run as a crash would: sends in flight are dropped where they are.
    async fn kill(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

impl World {
    fn target(&self) -> ReplyTarget {
        match self.channel {
            ChannelKind::Threads => ReplyTarget::ThreadsReply { reply_to_id: "REPLY-1".into() },
            _ => ReplyTarget::Conversation { quote: Some("wamid.in.1".into()) },
        }
    }

    async fn request(&self, text: &str) -> Result<SendId, CommandError> {
        let reply = SendRequest {
            reply: OutgoingReply::Person { text: text.into(), target: self.target() },
            template: None,
            marketing: false,
            media: None,
        };
        let meta = CommandMeta::partner_user(UserId(Uuid::from_u128(9)));
        self.ledger.request_send(self.partner, self.conversation, reply, &meta).await.map(|(send, _)| send)
    }

    fn outbox_with(&self, settings: OutboxSettings) -> Outbox {
        Outbox::with_settings(self.ledger.clone(), self.sender.clone(), settings)
    }

    async fn pending(&self) -> Vec<PendingSend> {
        let mut pending = PendingSends::default();
        for s in self.ledger.store.read_all(0, 10_000).await.unwrap() {
            pending.observe(&s).unwrap();
        }
        pending.take_all()
    }

    async fn deliver_all(&self) -> Vec<DeliveryOutcome> {
        let mut outcomes = Vec::new();
        for send in self.pending().await {
            outcomes.push(self.outbox.deliver(&send).await.unwrap());
        }
        outcomes
    }

    async fn events(&self) -> Vec<DomainEvent> {
        self.ledger.store.read_all(0, 10_000).await.unwrap().iter().map(|s| s.envelope.event().unwrap()).collect()
    }

    async fn count(&self, what: impl Fn(&DomainEvent) -> bool) -> usize {
        self.events().await.iter().filter(|e| what(e)).count()
    }

    /// Waits (up to 10 s) until `what` holds of the log.
    async fn until(&self, why: &str, what: impl Fn(&[DomainEvent]) -> bool) {
        for _ in 0..1000 {
            if what(&self.events().await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {why}: {:#?}", self.events().await);
    }

    async fn until_sender(&self, n: usize) {
        for _ in 0..1000 {
            if self.sender.count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("Meta never got {n} messages");
    }

    /// The platform's echo of the send's reference, as the webhook adapter reads it:
    /// a WhatsApp status, or a Messenger / Instagram message echo.
    async fn echo(&self, message: &OutboundMessage, platform_id: &str) {
        let meta = CommandMeta::system("webhook");
        match self.channel {
            ChannelKind::WhatsApp => {
                let status = IncomingStatus {
                    channel: self.channel,
                    account_id: self.account.clone(),
                    recipient: customer(self.channel),
                    platform_message_id: platform_id.into(),
                    status: DeliveryStatus::Sent,
                    at: NOW,
                    send_ref: Some(message.send_ref),
                };
                self.ledger.record_status(self.partner, status, &meta).await.unwrap();
            }
            _ => {
                let echo = IncomingEcho {
                    channel: self.channel,
                    account_id: self.account.clone(),
                    recipient: customer(self.channel),
                    channel_message_id: platform_id.into(),
                    text: Some(message.text.clone()),
                    sent_at: NOW,
                    attachments: vec![],
                    send_ref: Some(message.send_ref),
                };
                self.ledger.record_echo(self.partner, echo, &meta).await.unwrap();
            }
        }
    }

    /// Requests a reply and lets an outbox take it to Meta, where it is accepted, and then
    /// stops the outbox before the answer comes back: the send is in doubt.
    async fn leave_in_doubt(&self, checkpoints: &Arc<MemoryRuntime>) -> SendId {
        self.sender.script([Reply::AcceptAndHang]);
        let send = self.request("Ada, kak").await.unwrap();
        let first = Running::start(self.outbox_with(fast(Duration::from_secs(3600))), checkpoints.clone());
        self.until_sender(1).await;
        self.until("the attempt", |e| e.iter().any(|e| matches!(e, DomainEvent::SendAttemptStarted { .. }))).await;
        first.kill().await;
        assert_eq!(self.count(|e| matches!(e, DomainEvent::ReplySent { .. })).await, 0, "the answer was lost");
        send
    }
}

#[tokio::test]
async fn a_requested_reply_is_recorded_as_an_attempt_delivered_opened_and_addressed_then_recorded_once() {
    let w = world().await;
    let send = w.request("Ada, kak").await.unwrap();
    assert_eq!(w.deliver_all().await, vec![DeliveryOutcome::Sent { platform_message_id: "wamid.out.1".into() }]);
    let sent = w.sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "Ada, kak");
    assert_eq!(sent[0].recipient, Recipient::WaId("6281234567".into()));
    assert_eq!(sent[0].mode, MessagingMode::Response);
    assert_eq!(sent[0].quote.as_deref(), Some("wamid.in.1"));
    assert_eq!(sent[0].send_ref, SendRef { conversation: w.conversation, send });
    let events = w.events().await;
    let attempt = events.iter().position(|e| matches!(e, DomainEvent::SendAttemptStarted { attempt: 1, .. }));
    let outcome =
        events.iter().position(|e| matches!(e, DomainEvent::ReplySent { evidence: SendEvidence::GraphApiAnswer, .. }));
    assert!(attempt.unwrap() < outcome.unwrap(), "the attempt is durable before the outcome");
    assert!(w.pending().await.is_empty(), "a settled send is not pending");
    assert!(w.deliver_all().await.is_empty());
}

#[tokio::test]
async fn an_opt_out_between_request_and_delivery_is_a_recorded_refusal_and_nothing_is_sent() {
    let w = world().await;
    w.request("promo!").await.unwrap();
    let contact = w.ledger.conversation(w.partner, w.conversation).await.unwrap().contact.unwrap();
    w.ledger
        .opt_out(
            w.partner,
            contact,
            None,
            laras_domain::event::OptScope::All,
            laras_domain::event::OptSignal::Manual,
            &CommandMeta::system("t"),
        )
        .await
        .unwrap();
    assert_eq!(w.deliver_all().await, vec![DeliveryOutcome::Refused(RefusalReason::OptedOut)]);
    assert!(w.sender.sent.lock().unwrap().is_empty());
    assert!(w
        .events()
        .await
        .iter()
        .any(|e| matches!(e, DomainEvent::SendRefused { send_id: Some(_), reason: RefusalReason::OptedOut, .. })));
    assert_eq!(w.count(|e| matches!(e, DomainEvent::SendAttemptStarted { .. })).await, 0);
}

#[tokio::test]
async fn an_expired_token_fails_the_send_and_stops_the_channel() {
    let w = world().await;
    w.sender.script([Reply::Answer(Err(DeliveryError::TokenExpired { code: 190 }))]);
    w.request("halo").await.unwrap();
    assert!(matches!(w.deliver_all().await[..], [DeliveryOutcome::Failed(DeliveryError::TokenExpired { .. })]));
    let partner = w.ledger.partner(w.partner).await.unwrap();
    assert_eq!(partner.channel_status(ChannelKind::WhatsApp), Some(ChannelStatus::NeedsReauthorisation));
    let next = w.request("halo lagi").await.unwrap_err();
    assert!(matches!(next, CommandError::PolicyRefused { reason: RefusalReason::ChannelNeedsReauthorisation, .. }));
}

#[tokio::test]
async fn whatsapp_131047_remembers_the_closed_window_and_131050_records_a_marketing_opt_out() {
    let w = world().await;
    let rejected = |code, title: &str| Reply::Answer(Err(DeliveryError::Rejected { code, title: title.into() }));
    w.sender.script([rejected(131_047, "Re-engagement message")]);
    w.request("a").await.unwrap();
    w.deliver_all().await;
    assert!(w.events().await.iter().any(|e| matches!(e, DomainEvent::WindowClosedByPlatform { code: 131_047, .. })));
    let refused = w.request("b").await.unwrap_err();
    assert!(matches!(refused, CommandError::PolicyRefused { reason: RefusalReason::TemplateRequired { .. }, .. }));

    let w = world().await;
    w.sender.script([rejected(131_050, "User opted out of marketing")]);
    w.request("a").await.unwrap();
    w.deliver_all().await;
    assert!(w.events().await.iter().any(|e| matches!(
        e,
        DomainEvent::OptedOut {
            scope: laras_domain::event::OptScope::Marketing,
            signal: laras_domain::event::OptSignal::PlatformError { code: 131_050 },
            ..
        }
    )));
}

#[tokio::test]
async fn the_running_outbox_delivers_requests_made_before_and_after_it_started_in_order() {
    let w = world().await;
    w.request("before start").await.unwrap();
    let running = Running::start(w.outbox.clone(), Arc::new(MemoryRuntime::default()));
    w.request("after start").await.unwrap();
    w.request("and again").await.unwrap();
    w.until("three sends", |e| e.iter().filter(|e| matches!(e, DomainEvent::ReplySent { .. })).count() == 3).await;
    running.kill().await;
    let texts: Vec<_> = w.sender.sent.lock().unwrap().iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, vec!["before start".to_owned(), "after start".to_owned(), "and again".to_owned()]);
}

#[tokio::test]
async fn a_failed_send_is_retried_without_a_restart_and_succeeds_when_meta_recovers() {
    let w = world().await;
    w.sender.script([unavailable(None), unavailable(None)]);
    w.request("halo").await.unwrap();
    let running = Running::start(w.outbox.clone(), Arc::new(MemoryRuntime::default()));
    w.until("the send", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. }))).await;
    running.kill().await;
    let attempts: Vec<(u32, Option<u32>)> = w
        .events()
        .await
        .iter()
        .filter_map(|e| match e {
            DomainEvent::SendAttemptStarted { attempt, resends_in_doubt, .. } => Some((*attempt, *resends_in_doubt)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![(1, None), (2, None), (3, None)]);
    assert_eq!(w.count(|e| matches!(e, DomainEvent::SendAttemptFailed { code: 503, .. })).await, 2);
    assert_eq!(w.sender.count(), 1, "only the third call reached the customer");
}

#[tokio::test]
async fn a_send_that_keeps_failing_ends_as_reply_send_failed_at_the_limit() {
    let w = world().await;
    w.sender.script((0..4).map(|_| unavailable(None)));
    w.request("halo").await.unwrap();
    let running = Running::start(w.outbox.clone(), Arc::new(MemoryRuntime::default()));
    w.until("the failure", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySendFailed { .. }))).await;
    running.kill().await;
    assert_eq!(w.count(|e| matches!(e, DomainEvent::SendAttemptStarted { .. })).await, 4);
    assert_eq!(w.count(|e| matches!(e, DomainEvent::SendAttemptFailed { .. })).await, 3);
}

#[tokio::test]
async fn retry_after_on_one_account_does_not_hold_another() {
    let ledger = laras_commands::memory::ledger_at(NOW);
    let a = world_with(ledger.clone(), ChannelKind::WhatsApp, 1, "1065").await;
    let b = world_with(ledger.clone(), ChannelKind::WhatsApp, 2, "2065").await;
    let sender = a.sender.clone();
    sender.script_account("1065", [unavailable(Some(Duration::from_secs(60)))]);
    a.request("A first").await.unwrap();
    let running = Running::start(a.outbox_with(fast(Duration::from_secs(3600))), Arc::new(MemoryRuntime::default()));
    a.until("A throttled", |e| {
        e.iter().any(|e| matches!(e, DomainEvent::SendAttemptFailed { retry_after: Some(_), .. }))
    })
    .await;
    b.request("B meanwhile").await.unwrap();
    a.request("A second").await.unwrap();
    b.until("B's send", |e| e.iter().filter(|e| matches!(e, DomainEvent::ReplySent { .. })).count() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.kill().await;
    assert_eq!(sender.sent_to("2065"), 1, "the other account went out at once");
    assert_eq!(sender.sent_to("1065"), 0, "the throttled account waits its Retry-After, later sends included");
    let sent = a.count(|e| matches!(e, DomainEvent::ReplySent { .. })).await;
    assert_eq!(sent, 1, "only B's reply is sent");
}

#[tokio::test]
async fn the_outbox_resumes_from_its_low_water_mark_not_from_zero() {
    let w = world().await;
    let checkpoints = Arc::new(MemoryRuntime::default());
    w.request("one").await.unwrap();
    let running = Running::start(w.outbox.clone(), checkpoints.clone());
    w.until("the send", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. }))).await;
    let head = *w.ledger.store.head().borrow();
    for _ in 0..200 {
        if checkpoints.load(PROCESS).await.unwrap() == Some(head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.kill().await;
    assert_eq!(checkpoints.load(PROCESS).await.unwrap(), Some(head), "nothing pending: the checkpoint is the head");

    // A request that is still pending pins the mark just before it.
    w.sender.script([Reply::AcceptAndHang]);
    w.request("two").await.unwrap();
    let request_position = *w.ledger.store.head().borrow();
    let running = Running::start(w.outbox.clone(), checkpoints.clone());
    w.until_sender(2).await;
    running.kill().await;
    assert_eq!(checkpoints.load(PROCESS).await.unwrap(), Some(request_position - 1));
}

/// Each channel: a send accepted by Meta whose answer was lost is in doubt; the
/// platform's echo of its reference settles it, and nothing is sent twice.
async fn an_echo_settles_a_send_in_doubt_with_no_second_send(channel: ChannelKind) {
    let w = world_on(channel, 1, "ACC").await;
    let checkpoints = Arc::new(MemoryRuntime::default());
    let send = w.leave_in_doubt(&checkpoints).await;
    // Restarted with a long bound: the send waits for its echo and is not sent again.
    let restarted = Running::start(w.outbox_with(fast(Duration::from_secs(3600))), checkpoints.clone());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(w.sender.count(), 1, "a send in doubt is not simply sent again");
    let message = w.sender.sent.lock().unwrap()[0].clone();
    w.echo(&message, "mid.echoed.1").await;
    restarted.kill().await;
    let evidence = match channel {
        ChannelKind::WhatsApp => SendEvidence::StatusWebhook,
        _ => SendEvidence::EchoWebhook,
    };
    let sent: Vec<_> = w.events().await.into_iter().filter(|e| matches!(e, DomainEvent::ReplySent { .. })).collect();
    assert_eq!(
        sent,
        vec![DomainEvent::ReplySent { send_id: send, platform_message_id: "mid.echoed.1".into(), at: NOW, evidence }]
    );
    assert_eq!(w.sender.count(), 1, "no second send");
    assert_eq!(w.count(|e| matches!(e, DomainEvent::EchoRecorded { .. })).await, 0, "our own echo is not the Page's");
}

#[tokio::test]
async fn whatsapp_a_status_with_the_send_reference_settles_a_send_in_doubt() {
    an_echo_settles_a_send_in_doubt_with_no_second_send(ChannelKind::WhatsApp).await;
}

#[tokio::test]
async fn messenger_an_echo_with_the_send_reference_settles_a_send_in_doubt() {
    an_echo_settles_a_send_in_doubt_with_no_second_send(ChannelKind::Messenger).await;
}

#[tokio::test]
async fn instagram_an_echo_with_the_send_reference_settles_a_send_in_doubt() {
    an_echo_settles_a_send_in_doubt_with_no_second_send(ChannelKind::Instagram).await;
}

/// Each channel with an echo: past the bound with no echo, the default policy re-sends,
/// recorded as a re-send of the attempt in doubt.
async fn past_the_bound_the_default_policy_resends(channel: ChannelKind) {
    let w = world_on(channel, 1, "ACC").await;
    let checkpoints = Arc::new(MemoryRuntime::default());
    let send = w.leave_in_doubt(&checkpoints).await;
    let restarted = Running::start(w.outbox_with(fast(Duration::ZERO)), checkpoints.clone());
    w.until("the re-send", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. }))).await;
    restarted.kill().await;
    let trail: Vec<_> = w
        .events()
        .await
        .into_iter()
        .filter(|e| matches!(e, DomainEvent::SendAttemptStarted { .. } | DomainEvent::ReplySent { .. }))
        .collect();
    assert!(
        matches!(
            &trail[..],
            [
                DomainEvent::SendAttemptStarted { send_id: s1, attempt: 1, resends_in_doubt: None, .. },
                DomainEvent::SendAttemptStarted { send_id: s2, attempt: 2, resends_in_doubt: Some(1), .. },
                DomainEvent::ReplySent { evidence: SendEvidence::GraphApiAnswer, .. },
            ] if *s1 == send && *s2 == send
        ),
        "{trail:#?}"
    );
    assert_eq!(w.sender.count(), 2, "the policy's re-send, and only it");
}

#[tokio::test]
async fn whatsapp_past_the_bound_resends_as_a_resend_of_the_attempt_in_doubt() {
    past_the_bound_the_default_policy_resends(ChannelKind::WhatsApp).await;
}

#[tokio::test]
async fn messenger_past_the_bound_resends_as_a_resend_of_the_attempt_in_doubt() {
    past_the_bound_the_default_policy_resends(ChannelKind::Messenger).await;
}

#[tokio::test]
async fn instagram_past_the_bound_resends_as_a_resend_of_the_attempt_in_doubt() {
    past_the_bound_the_default_policy_resends(ChannelKind::Instagram).await;
}

#[tokio::test]
async fn threads_holds_a_send_in_doubt_for_a_person_who_approves_the_resend() {
    let w = world_on(ChannelKind::Threads, 1, "ACC").await;
    let checkpoints = Arc::new(MemoryRuntime::default());
    let send = w.leave_in_doubt(&checkpoints).await;
    let restarted = Running::start(w.outbox_with(OutboxSettings::default()), checkpoints.clone());
    w.until("the hold", |e| e.iter().any(|e| matches!(e, DomainEvent::SendHeldInDoubt { attempt: 1, .. }))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.sender.count(), 1, "held: nothing sent again");
    let meta = CommandMeta::partner_user(UserId(Uuid::from_u128(9)));
    w.ledger.approve_resend(w.partner, w.conversation, send, &meta).await.unwrap();
    w.until("the re-send", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. }))).await;
    restarted.kill().await;
    assert!(w
        .events()
        .await
        .iter()
        .any(|e| matches!(e, DomainEvent::SendAttemptStarted { attempt: 2, resends_in_doubt: Some(1), .. })));
    assert_eq!(w.sender.count(), 2);
}

#[tokio::test]
async fn a_person_marks_a_held_send_as_sent_and_nothing_is_sent_again() {
    let w = world().await;
    let meta = CommandMeta::partner_user(UserId(Uuid::from_u128(9)));
    w.ledger.set_in_doubt_policy(w.partner, ChannelKind::WhatsApp, InDoubtPolicy::HoldForPerson, &meta).await.unwrap();
    let checkpoints = Arc::new(MemoryRuntime::default());
    let send = w.leave_in_doubt(&checkpoints).await;
    let restarted = Running::start(w.outbox_with(fast(Duration::ZERO)), checkpoints.clone());
    w.until("the hold", |e| e.iter().any(|e| matches!(e, DomainEvent::SendHeldInDoubt { .. }))).await;
    w.ledger.mark_sent(w.partner, w.conversation, send, None, &meta).await.unwrap();
    w.until("the outcome", |e| {
        e.iter().any(|e| matches!(e, DomainEvent::ReplySent { evidence: SendEvidence::PersonConfirmed, .. }))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    restarted.kill().await;
    assert_eq!(w.sender.count(), 1);
}

#[tokio::test]
async fn an_echo_for_another_partners_send_changes_nothing() {
    let w = world().await;
    let other = SendRef { conversation: w.conversation, send: SendId(Uuid::from_u128(77)) };
    let stranger = PartnerId(Uuid::from_u128(5));
    let meta = CommandMeta::system("webhook");
    let committed =
        w.ledger.confirm_sent(stranger, other, "mid.x", NOW, SendEvidence::EchoWebhook, &meta).await.unwrap();
    assert!(committed.positions.is_empty());
    let committed =
        w.ledger.confirm_sent(w.partner, other, "mid.x", NOW, SendEvidence::EchoWebhook, &meta).await.unwrap();
    assert!(committed.positions.is_empty());
}

/// A store that refuses every append while `refusing` is set (a disk full, a database
/// down), reading as usual.
#[derive(Default)]
struct Unwritable {
    inner: laras_commands::memory::MemoryStore,
    refusing: std::sync::atomic::AtomicBool,
    refused: std::sync::atomic::AtomicUsize,
}

impl Unwritable {
    fn refuse(&self, on: bool) {
        self.refusing.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), laras_commands::store::StoreError> {
        if self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(laras_commands::store::StoreError::Storage("refused by the test".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl laras_commands::store::EventStore for Unwritable {
    async fn append(
        &self,
        request: laras_commands::store::AppendRequest,
    ) -> Result<laras_commands::store::AppendOutcome, laras_commands::store::StoreError> {
        self.check()?;
        self.inner.append(request).await
    }
    async fn read_stream(
        &self,
        stream: &laras_domain::stream::StreamId,
        from_version: u64,
    ) -> Result<Vec<laras_commands::store::StoredEnvelope>, laras_commands::store::StoreError> {
        self.inner.read_stream(stream, from_version).await
    }
    async fn stream_head(
        &self,
        stream: &laras_domain::stream::StreamId,
    ) -> Result<Option<laras_commands::store::StreamHead>, laras_commands::store::StoreError> {
        self.inner.stream_head(stream).await
    }
    async fn read_all(
        &self,
        after: laras_commands::store::Position,
        limit: usize,
    ) -> Result<Vec<laras_commands::store::StoredEnvelope>, laras_commands::store::StoreError> {
        self.inner.read_all(after, limit).await
    }
    fn head(&self) -> tokio::sync::watch::Receiver<laras_commands::store::Position> {
        self.inner.head()
    }
}

#[tokio::test]
async fn a_send_set_aside_on_our_own_errors_is_worked_on_again_without_a_restart() {
    let base = laras_commands::memory::ledger_at(NOW);
    let store = Arc::new(Unwritable::default());
    let ledger = Ledger::new(store.clone(), base.keys.clone(), base.signer.clone(), base.clock.clone());
    let w = world_with(ledger, ChannelKind::WhatsApp, 1, "1065").await;
    w.request("halo").await.unwrap();

    // Every step fails to record its attempt, so the worker gives up on the send after its
    // tries and sets it aside; nothing reaches the customer.
    store.refuse(true);
    let running = Running::start(w.outbox.clone(), Arc::new(MemoryRuntime::default()));
    let tries = fast(Duration::from_secs(3600)).retry.max_attempts as usize;
    for _ in 0..1000 {
        if store.refused.load(std::sync::atomic::Ordering::SeqCst) >= tries {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(store.refused.load(std::sync::atomic::Ordering::SeqCst) >= tries, "the worker tried and gave up");
    assert_eq!(w.sender.count(), 0);
    assert_eq!(
        w.count(|e| matches!(e, DomainEvent::SendAttemptStarted { .. })).await,
        0,
        "{tries} tries, none recorded"
    );

    // The store recovers: the same run sends it, once.
    store.refuse(false);
    w.until("the send", |e| e.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. }))).await;
    running.kill().await;
    assert_eq!(w.sender.count(), 1);
}
