//! Handlers over the in-memory ports: load, decide, append, as a caller sees them.

use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::{CommandError, CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::envelope::ZERO_HASH;
use laras_domain::error::DomainError;
use laras_domain::event::{DomainEvent, DraftAuthor, MessageContent, RefusalReason, ReplyTarget};
use laras_domain::ids::{PartnerId, UserId};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::Timestamp;
use std::collections::HashMap;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

fn ledger() -> Ledger {
    laras_commands::memory::ledger_at(NOW)
}

async fn partner(ledger: &Ledger, n: u128) -> PartnerId {
    let id = PartnerId(Uuid::from_u128(n));
    laras_commands::memory::onboard_with_channel(ledger, id, ChannelKind::WhatsApp, &format!("10{n}")).await.unwrap();
    id
}

fn message(partner_n: u128, wamid: &str, text: &str) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: format!("10{partner_n}"),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "6281234567".into(), name: Some("Ana".into()) },
        channel_message_id: wamid.into(),
        sent_at: NOW,
        content: PlainContent::Text(text.into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

async fn all_events(ledger: &Ledger) -> Vec<DomainEvent> {
    ledger.store.read_all(0, 100_000).await.unwrap().iter().map(|s| s.envelope.event().unwrap()).collect()
}

fn webhook() -> CommandMeta {
    CommandMeta::system("webhook")
}

#[tokio::test]
async fn an_inbound_message_is_recorded_sealed_and_chained() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let recorded =
        ledger.record_inbound_message(p, message(1, "wamid.A", "Berapa harga batik?"), &webhook()).await.unwrap();
    assert_eq!(recorded.committed.positions.len(), 3, "identified, opened, received");
    let all = ledger.store.read_all(0, 100).await.unwrap();
    let key = LedgerSigningKey::from_secret([7; 32]).public();
    let mut heads = HashMap::new();
    for s in &all {
        let h = &s.envelope.header;
        assert!(s.envelope.verify_signature(&key));
        assert_eq!(h.prev_hash, heads.get(&h.stream_id).copied().unwrap_or(ZERO_HASH));
        heads.insert(h.stream_id.clone(), s.envelope.hash().unwrap());
        let payload = String::from_utf8_lossy(&s.envelope.payload);
        assert!(
            !payload.contains("batik") && !payload.contains("6281234567") && !payload.contains("Ana"),
            "plaintext in {payload}"
        );
    }
    let text = all_events(&ledger).await.into_iter().find_map(|e| match e {
        DomainEvent::InboundMessageReceived { content: MessageContent::Text { body }, .. } => Some(body),
        _ => None,
    });
    assert_eq!(ledger.open(&text.unwrap()).unwrap().as_deref(), Some("Berapa harga batik?"));
}

#[tokio::test]
async fn concurrent_copies_of_one_delivery_are_recorded_once() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(
                async move { ledger.record_inbound_message(p, message(1, "wamid.same", "halo"), &webhook()).await },
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let received = all_events(&ledger)
        .await
        .into_iter()
        .filter(|e| matches!(e, DomainEvent::InboundMessageReceived { .. }))
        .count();
    assert_eq!(received, 1);
}

#[tokio::test]
async fn a_message_to_an_unknown_account_is_refused_and_changes_nothing() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let before = ledger.store.read_all(0, 100).await.unwrap().len();
    let err = ledger.record_inbound_message(p, message(2, "wamid.X", "halo"), &webhook()).await.unwrap_err();
    assert!(matches!(err, CommandError::Domain(DomainError::ChannelNotConnected { .. })));
    assert_eq!(ledger.store.read_all(0, 100).await.unwrap().len(), before);
}

#[tokio::test]
async fn stop_opts_out_and_then_sends_are_refused_with_a_recorded_reason() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    ledger.record_inbound_message(p, message(1, "wamid.1", "halo"), &webhook()).await.unwrap();
    let r = ledger.record_inbound_message(p, message(1, "wamid.2", "STOP"), &webhook()).await.unwrap();
    assert!(all_events(&ledger).await.iter().any(|e| matches!(e, DomainEvent::OptedOut { .. })));
    let user = CommandMeta::partner_user(UserId(Uuid::from_u128(5)));
    let reply = SendRequest {
        reply: OutgoingReply::Person { text: "ok".into(), target: ReplyTarget::Conversation { quote: None } },
        template: None,
        marketing: false,
        media: None,
    };
    let err = ledger.request_send(p, r.conversation_id, reply, &user).await.unwrap_err();
    assert!(matches!(err, CommandError::PolicyRefused { reason: RefusalReason::OptedOut, position: Some(_) }));
    assert!(all_events(&ledger)
        .await
        .iter()
        .any(|e| matches!(e, DomainEvent::SendRefused { reason: RefusalReason::OptedOut, .. })));
}

#[tokio::test]
async fn an_approved_draft_is_requested_once() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let r = ledger.record_inbound_message(p, message(1, "wamid.1", "harga?"), &webhook()).await.unwrap();
    let user = CommandMeta::partner_user(UserId(Uuid::from_u128(5)));
    let (draft, _) = ledger
        .propose_draft(
            p,
            r.conversation_id,
            DraftAuthor::Person { user: UserId(Uuid::from_u128(5)) },
            "Rp 150.000",
            ReplyTarget::Conversation { quote: None },
            &user,
        )
        .await
        .unwrap();
    let send = || SendRequest { reply: OutgoingReply::Draft(draft), template: None, marketing: false, media: None };
    let refused = ledger.request_send(p, r.conversation_id, send(), &user).await.unwrap_err();
    assert!(matches!(refused, CommandError::PolicyRefused { reason: RefusalReason::ApprovalRequired, .. }));
    ledger.approve_draft(p, r.conversation_id, draft, &user).await.unwrap();
    let again = ledger.approve_draft(p, r.conversation_id, draft, &user).await.unwrap_err();
    assert!(matches!(again, CommandError::Domain(DomainError::DraftAlreadyDecided(_))));
    ledger.request_send(p, r.conversation_id, send(), &user).await.unwrap();
    let twice = ledger.request_send(p, r.conversation_id, send(), &user).await.unwrap_err();
    assert!(matches!(twice, CommandError::Domain(DomainError::DraftAlreadySent(_))));
}

#[tokio::test]
async fn another_partner_cannot_touch_a_conversation_by_its_id() {
    let ledger = ledger();
    let a = partner(&ledger, 1).await;
    let b = partner(&ledger, 2).await;
    let r = ledger.record_inbound_message(a, message(1, "wamid.1", "halo"), &webhook()).await.unwrap();
    let before = ledger.store.read_all(0, 1000).await.unwrap().len();
    let meta = CommandMeta::system("test");
    let err = ledger
        .propose_draft(
            b,
            r.conversation_id,
            DraftAuthor::Person { user: UserId(Uuid::nil()) },
            "x",
            ReplyTarget::Conversation { quote: None },
            &meta,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::ForeignStream));
    let err = ledger.add_note(b, r.contact_id, "spy", &meta).await.unwrap_err();
    assert!(matches!(err, CommandError::ForeignStream));
    let err = ledger.erase_contact(b, r.contact_id, &meta).await.unwrap_err();
    assert!(matches!(err, CommandError::ForeignStream));
    assert_eq!(ledger.store.read_all(0, 1000).await.unwrap().len(), before);
}

#[tokio::test]
async fn erasing_a_contact_makes_its_content_unreadable_but_keeps_the_log_verifying() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let r =
        ledger.record_inbound_message(p, message(1, "wamid.1", "alamat saya Jl. Mawar 5"), &webhook()).await.unwrap();
    let before: Vec<_> = ledger.store.read_all(0, 1000).await.unwrap();
    ledger.erase_contact(p, r.contact_id, &CommandMeta::system("test")).await.unwrap();
    let after = ledger.store.read_all(0, 1000).await.unwrap();
    assert_eq!(&after[..before.len()], &before[..], "history unchanged byte for byte");
    let key = LedgerSigningKey::from_secret([7; 32]).public();
    assert!(after.iter().all(|s| s.envelope.verify_signature(&key)));
    for e in all_events(&ledger).await {
        if let DomainEvent::InboundMessageReceived { content: MessageContent::Text { body }, .. } = e {
            assert_eq!(ledger.open(&body).unwrap(), None);
        }
    }
    assert!(ledger.keys.pending_erasures().unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_commands_on_one_stream_all_land_with_dense_versions() {
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    let r = ledger.record_inbound_message(p, message(1, "wamid.1", "halo"), &webhook()).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                ledger.add_note(p, r.contact_id, &format!("note {i}"), &CommandMeta::system("test")).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stream = ledger.store.read_stream(&laras_domain::stream::StreamId::contact(r.contact_id), 0).await.unwrap();
    let versions: Vec<u64> = stream.iter().map(|s| s.envelope.header.stream_version).collect();
    assert_eq!(versions, (0..21).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_rotated_key_signs_what_follows_and_is_endorsed_by_the_old_one() {
    let ledger = ledger();
    ledger.ensure_genesis_key().await.unwrap();
    assert!(ledger.ensure_genesis_key().await.unwrap().is_noop());
    let next = LedgerSigningKey::from_secret([8; 32]);
    ledger.rotate_signing_key(next.clone(), &CommandMeta::system("keys")).await.unwrap();
    let p = partner(&ledger, 1).await;
    let all = ledger.store.read_all(0, 100).await.unwrap();
    let old = LedgerSigningKey::from_secret([7; 32]);
    assert_eq!(&all[1].envelope.header.key_id, old.id(), "the rotation is signed by the old key");
    assert!(all[2..]
        .iter()
        .all(|s| &s.envelope.header.key_id == next.id() && s.envelope.verify_signature(&next.public())));
    assert_eq!(ledger.key_history().await.unwrap(), vec![old.id().to_string(), next.id().to_string()]);
    let _ = p;
}

#[tokio::test]
async fn statuses_find_their_conversation_move_forward_only_and_131050_opts_out_of_marketing() {
    use laras_commands::handlers::status::IncomingStatus;
    use laras_domain::event::DeliveryStatus;
    let ledger = ledger();
    let p = partner(&ledger, 1).await;
    ledger.record_inbound_message(p, message(1, "wamid.1", "halo"), &webhook()).await.unwrap();
    let status = |s: DeliveryStatus| IncomingStatus {
        channel: ChannelKind::WhatsApp,
        account_id: "101".into(),
        recipient: SenderIdentity { kind: IdentityKind::WaId, value: "+62 812-34567".into(), name: None },
        platform_message_id: "wamid.out".into(),
        status: s,
        at: NOW,
        send_ref: None,
    };
    assert_eq!(ledger.record_status(p, status(DeliveryStatus::Read), &webhook()).await.unwrap().positions.len(), 1);
    assert!(
        ledger.record_status(p, status(DeliveryStatus::Delivered), &webhook()).await.unwrap().is_noop(),
        "read came first"
    );
    let failed = DeliveryStatus::Failed { code: 131_050, title: "Unable to deliver: user stopped marketing".into() };
    ledger.record_status(p, status(failed), &webhook()).await.unwrap();
    assert!(all_events(&ledger)
        .await
        .iter()
        .any(|e| matches!(e, DomainEvent::OptedOut { scope: laras_domain::event::OptScope::Marketing, .. })));
    let unknown = IncomingStatus {
        recipient: SenderIdentity { kind: IdentityKind::WaId, value: "999".into(), name: None },
        ..status(DeliveryStatus::Sent)
    };
    assert!(matches!(
        ledger.record_status(p, unknown, &webhook()).await,
        Err(CommandError::Domain(DomainError::ConversationNotFound))
    ));
}
