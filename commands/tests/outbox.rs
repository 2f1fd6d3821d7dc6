//! The outbox over in-memory ports with a scripted fake sender.

use async_trait::async_trait;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::outbox::*;
use laras_commands::{CommandError, CommandMeta, Ledger};
use laras_domain::aggregate::partner::ChannelStatus;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DomainEvent, MessagingMode, RefusalReason, ReplyTarget};
use laras_domain::ids::{ConversationId, PartnerId, UserId};
use laras_domain::time::Timestamp;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

#[derive(Default)]
struct FakeSender {
    sent: Mutex<Vec<OutboundMessage>>,
    script: Mutex<Vec<Result<String, DeliveryError>>>,
}

#[async_trait]
impl ChannelSender for FakeSender {
    async fn deliver(&self, message: &OutboundMessage) -> Result<String, DeliveryError> {
        self.sent.lock().unwrap().push(message.clone());
        let n = self.sent.lock().unwrap().len();
        self.script.lock().unwrap().pop().unwrap_or(Ok(format!("wamid.out.{n}")))
    }
}

struct World {
    ledger: Ledger,
    sender: Arc<FakeSender>,
    outbox: Outbox,
    partner: PartnerId,
    conversation: ConversationId,
}

async fn world() -> World {
    let ledger = laras_commands::memory::ledger_at(NOW);
    let partner = PartnerId(Uuid::from_u128(1));
    laras_commands::memory::onboard_with_channel(&ledger, partner, ChannelKind::WhatsApp, "1065").await.unwrap();
    let meta = CommandMeta::system("test");
    let msg = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "1065".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "6281234567".into(), name: None },
        channel_message_id: "wamid.in.1".into(),
        sent_at: NOW,
        content: PlainContent::Text("ada stok?".into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    let conversation = ledger.record_inbound_message(partner, msg, &meta).await.unwrap().conversation_id;
    let sender = Arc::new(FakeSender::default());
    let outbox = Outbox::new(ledger.clone(), sender.clone());
    World { ledger, sender, outbox, partner, conversation }
}

impl World {
    async fn request(&self, text: &str) -> Result<(), CommandError> {
        let reply = SendRequest {
            reply: OutgoingReply::Person {
                text: text.into(),
                target: ReplyTarget::Conversation { quote: Some("wamid.in.1".into()) },
            },
            template: None,
            marketing: false,
        };
        self.ledger
            .request_send(
                self.partner,
                self.conversation,
                reply,
                &CommandMeta::partner_user(UserId(Uuid::from_u128(9))),
            )
            .await
            .map(|_| ())
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
}

#[tokio::test]
async fn a_requested_reply_is_delivered_opened_and_addressed_then_recorded_once() {
    let w = world().await;
    w.request("Ada, kak").await.unwrap();
    assert_eq!(w.deliver_all().await, vec![DeliveryOutcome::Sent { platform_message_id: "wamid.out.1".into() }]);
    let sent = w.sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "Ada, kak");
    assert_eq!(sent[0].recipient, Recipient::WaId("6281234567".into()));
    assert_eq!(sent[0].mode, MessagingMode::Response);
    assert_eq!(sent[0].quote.as_deref(), Some("wamid.in.1"));
    assert!(w.events().await.iter().any(|e| matches!(e, DomainEvent::ReplySent { .. })));
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
}

#[tokio::test]
async fn an_expired_token_fails_the_send_and_stops_the_channel() {
    let w = world().await;
    w.sender.script.lock().unwrap().push(Err(DeliveryError::TokenExpired { code: 190 }));
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
    w.sender
        .script
        .lock()
        .unwrap()
        .push(Err(DeliveryError::Rejected { code: 131_047, title: "Re-engagement message".into() }));
    w.request("a").await.unwrap();
    w.deliver_all().await;
    assert!(w.events().await.iter().any(|e| matches!(e, DomainEvent::WindowClosedByPlatform { code: 131_047, .. })));
    let refused = w.request("b").await.unwrap_err();
    assert!(matches!(refused, CommandError::PolicyRefused { reason: RefusalReason::TemplateRequired { .. }, .. }));

    let w = world().await;
    w.sender
        .script
        .lock()
        .unwrap()
        .push(Err(DeliveryError::Rejected { code: 131_050, title: "User opted out of marketing".into() }));
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
async fn the_running_outbox_delivers_requests_made_before_and_after_it_started() {
    let w = world().await;
    w.request("before start").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let outbox = Outbox::new(w.ledger.clone(), w.sender.clone());
    let task = tokio::spawn(async move {
        outbox
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    w.request("after start").await.unwrap();
    for _ in 0..200 {
        if w.events().await.iter().filter(|e| matches!(e, DomainEvent::ReplySent { .. })).count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let texts: Vec<_> = w.sender.sent.lock().unwrap().iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, vec!["before start".to_owned(), "after start".to_owned()]);
}
