use super::*;
use crate::sealed::SecretKey;
use rand::{rngs::StdRng, SeedableRng};
use uuid::Uuid;

fn sealed() -> Sealed {
    let mut rng = StdRng::seed_from_u64(3);
    Sealed::seal(DataKeyId(Uuid::from_u128(1)), &SecretKey::from_bytes([9; 32]), b"x", &mut rng)
}

/// One sample of every event type, so that a new variant without a round trip is noticed.
pub(crate) fn samples() -> Vec<DomainEvent> {
    let id = Uuid::from_u128(77);
    let money = Money { minor_units: 10, currency: "IDR".into() };
    use DomainEvent::*;
    vec![
        PartnerOnboarded {
            partner_id: PartnerId(id),
            name: "T".into(),
            approval: ApprovalMode::Approval,
            pipeline: vec![PipelineStage { name: "lead".into(), probability_pct: 10 }],
        },
        ApprovalModeSet { channel: Some(ChannelKind::Instagram), mode: ApprovalMode::Autopilot },
        InDoubtPolicySet { channel: ChannelKind::Threads, policy: InDoubtPolicy::HoldForPerson },
        FollowUpPolicySet {
            delay_hours: 24,
            whatsapp_template: Some("f".into()),
            template_language: Some("id".into()),
        },
        ChannelConnected {
            channel: ChannelKind::WhatsApp,
            account_id: "1".into(),
            display_name: "T".into(),
            proof: Some(AccountProof {
                account_id: "1".into(),
                name: Some("Toko".into()),
                phone_number: Some("+62 812".into()),
            }),
        },
        ChannelDisconnected { channel: ChannelKind::WhatsApp, account_id: "1".into() },
        ChannelNeedsReauthorisation { channel: ChannelKind::Messenger, account_id: "2".into(), error_code: 190 },
        ChannelConnectRefused {
            channel: ChannelKind::Threads,
            account_id: "3".into(),
            reason: ConnectRefusal::AccountHeldElsewhere,
        },
        WitnessRegistered {
            name: "witness.example.org/w1".into(),
            public_key: "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c".into(),
        },
        ChannelAccountClaimed { channel: ChannelKind::Threads, account_id: "3".into(), partner_id: PartnerId(id) },
        ChannelAccountReleased { channel: ChannelKind::Threads, account_id: "3".into(), partner_id: PartnerId(id) },
        KnowledgeArticlePublished {
            article_id: ArticleId(id),
            kind: ArticleKind::Faq,
            title: "t".into(),
            body: "b".into(),
            tags: vec!["x".into()],
        },
        KnowledgeArticleRetired { article_id: ArticleId(id) },
        ContactIdentified {
            contact_id: ContactId(id),
            channel: ChannelKind::Threads,
            identity: IdentityKind::ThreadsUserId,
            blind_index: BlindIndex("ff".into()),
            value: sealed(),
            name: Some(sealed()),
        },
        IdentitiesMerged { survivor: ContactId(id), absorbed: ContactId(Uuid::nil()) },
        OptedOut {
            channel: None,
            scope: OptScope::Marketing,
            signal: OptSignal::PlatformError { code: 131050 },
            at: Timestamp(1),
        },
        OptedIn {
            channel: Some(ChannelKind::WhatsApp),
            signal: OptSignal::Keyword { keyword: "MULAI".into() },
            at: Timestamp(2),
        },
        NoteAdded { note_id: NoteId(id), body: sealed() },
        ContactErased { data_keys: vec![DataKeyId(id)] },
        ConversationOpened {
            conversation_id: ConversationId(id),
            contact_id: ContactId(id),
            channel: ChannelKind::Instagram,
            account_id: "3".into(),
            thread: ThreadRef::Comments { media_id: "m".into() },
        },
        InboundMessageReceived {
            channel_message_id: "wamid.1".into(),
            contact_id: ContactId(id),
            sent_at: Timestamp(3),
            content: MessageContent::VoiceNote {
                media: sealed(),
                mime: Some("audio/ogg".into()),
                sha256: Some(sealed()),
            },
            reply_to: Some("wamid.0".into()),
            context: InboundContext::default(),
        },
        PublicCommentReceived {
            comment_id: "c".into(),
            contact_id: ContactId(id),
            parent_id: None,
            text: sealed(),
            sent_at: Timestamp(4),
        },
        EchoRecorded { channel_message_id: "m_1".into(), body: None, sent_at: Timestamp(5), attachments: None },
        MediaStored {
            channel_message_id: "wamid.1".into(),
            attachment: 0,
            object: "ab".repeat(32),
            sha256: sealed(),
            size: 12_345,
            mime: "audio/ogg".into(),
            width: None,
            height: None,
            duration_ms: Some(2_500),
        },
        MediaUnavailable {
            channel_message_id: "wamid.1".into(),
            attachment: 0,
            reason: MediaUnavailableReason::TooLarge { limit: 5_242_880 },
        },
        SentimentScored { channel_message_id: "wamid.1".into(), score: -0.25, scorer: "lexicon-v1".into() },
        DraftProposed {
            draft_id: DraftId(id),
            author: DraftAuthor::AiWorker {
                generator: "g".into(),
                model: "m".into(),
                prompt_hash: "h".into(),
                article_ids: vec![ArticleId(id)],
                confidence: 0.5,
                latency_ms: 7,
            },
            body: sealed(),
            target: ReplyTarget::ThreadsReply { reply_to_id: "r".into() },
        },
        DraftDeclined { in_reply_to: None, reason: DeclineReason::OffTopic, generator: "g".into() },
        DraftEdited { draft_id: DraftId(id), body: sealed() },
        DraftApproved { draft_id: DraftId(id) },
        DraftRejected { draft_id: DraftId(id), reason: Some("tone".into()) },
        ReplySendRequested {
            send_id: SendId(id),
            draft_id: None,
            body: sealed(),
            target: ReplyTarget::CommentPrivateReply { comment_id: "c".into() },
            mode: MessagingMode::PrivateReply,
            template: Some(TemplateRef { name: "t".into(), language: "en".into(), parameters: vec![sealed()] }),
            media: None,
        },
        ReplySent {
            send_id: SendId(id),
            platform_message_id: "wamid.2".into(),
            at: Timestamp(6),
            evidence: SendEvidence::StatusWebhook,
        },
        ReplySendFailed { send_id: SendId(id), code: 131047, title: "Re-engagement".into() },
        SendAttemptStarted { send_id: SendId(id), attempt: 2, at: Timestamp(6), resends_in_doubt: Some(1) },
        SendAttemptFailed {
            send_id: SendId(id),
            attempt: 1,
            code: 130429,
            title: "rate limited".into(),
            retry_after: Some(Timestamp(9)),
        },
        SendHeldInDoubt { send_id: SendId(id), attempt: 1 },
        InDoubtResendApproved { send_id: SendId(id), attempt: 1 },
        DeliveryStatusChanged {
            platform_message_id: "wamid.2".into(),
            status: DeliveryStatus::Failed { code: 131050, title: "x".into() },
            at: Timestamp(7),
        },
        SendRefused {
            draft_id: Some(DraftId(id)),
            send_id: None,
            reason: RefusalReason::TemplateRequired { closed_at: Timestamp(8) },
        },
        WindowClosedByPlatform { code: 131047, at: Timestamp(9) },
        ConversationStatusChanged { status: ConversationStatus::Snoozed { until: Timestamp(10) } },
        ConversationAssigned { assignee: Some(UserId(id)) },
        FollowUpSkipped {
            opportunity_id: OpportunityId(id),
            reason: RefusalReason::AutomatedOutsideWindow { closed_at: Timestamp(11) },
        },
        OpportunityOpened {
            opportunity_id: OpportunityId(id),
            contact_id: ContactId(id),
            conversation_id: None,
            title: "t".into(),
            stage: "lead".into(),
            value: money.clone(),
        },
        OpportunityStageChanged { from: "lead".into(), to: "proposal".into() },
        OpportunityValueChanged { value: money.clone() },
        OpportunityWon { value: money },
        OpportunityLost { reason: "price".into() },
        ProcessSkippedEvent {
            process: "ai-worker".into(),
            position: 12,
            event_id: EventId(id),
            reason: SkipReason::Failed { failure: "knowledge".into(), attempts: 3 },
        },
        SigningKeyRotated { key_id: "ed25519:00".into(), public_key: "00".into(), previous: None },
        MessageReacted {
            reaction_id: "wamid.R".into(),
            to_message: "wamid.1".into(),
            contact_id: ContactId(id),
            emoji: Some(sealed()),
            sent_at: Timestamp(6),
        },
        CustomerIdentityChanged {
            channel_message_id: "wamid.S".into(),
            contact_id: ContactId(id),
            identity: IdentityKind::WaId,
            value: sealed(),
            sent_at: Timestamp(7),
        },
        ThreadControlChanged { held_by_laras: false, app_id: Some("263902037430900".into()), at: Timestamp(8) },
    ]
}

#[test]
fn every_event_type_round_trips_through_its_payload() {
    let samples = samples();
    let mut types = std::collections::BTreeSet::new();
    for event in samples {
        let payload = event.encode_payload();
        let back = decode(event.event_type(), event.event_version(), &payload).unwrap();
        assert_eq!(back, event);
        // The serde tag and event_type() agree.
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(tagged["type"], event.event_type());
        assert!(types.insert(event.event_type()), "duplicate sample {}", event.event_type());
    }
    assert_eq!(types.len(), 54, "every event type has a sample");
}

#[test]
fn payload_keys_are_sorted_so_bytes_are_stable() {
    let event = DomainEvent::ChannelConnected {
        channel: ChannelKind::WhatsApp,
        account_id: "1".into(),
        display_name: "T".into(),
        proof: None,
    };
    // An absent proof is omitted, so connections recorded before proofs existed re-encode identically.
    assert_eq!(event.encode_payload(), br#"{"account_id":"1","channel":"whatsapp","display_name":"T"}"#);
}

#[test]
fn personal_data_never_appears_in_a_payload_in_plaintext() {
    let mut rng = StdRng::seed_from_u64(1);
    let key = SecretKey::from_bytes([5; 32]);
    let body = Sealed::seal(DataKeyId(Uuid::nil()), &key, b"my phone is 0812", &mut rng);
    let event = DomainEvent::InboundMessageReceived {
        channel_message_id: "w".into(),
        contact_id: ContactId(Uuid::nil()),
        sent_at: Timestamp(0),
        content: MessageContent::Text { body },
        reply_to: None,
        context: InboundContext::default(),
    };
    let payload = String::from_utf8(event.encode_payload()).unwrap();
    assert!(!payload.contains("0812"));
}

#[test]
fn unknown_types_and_future_versions_are_typed_errors() {
    assert_eq!(decode("Nope", 1, b"{}"), Err(DecodeError::UnknownType("Nope".into())));
    assert!(matches!(decode("DraftApproved", 2, b"{}"), Err(DecodeError::FutureVersion { .. })));
    assert!(matches!(decode("DraftApproved", 1, b"not json"), Err(DecodeError::Payload { .. })));
}

#[test]
fn a_payload_is_one_json_value_and_nothing_after_it() {
    let event = DomainEvent::ConversationAssigned { assignee: None };
    let mut payload = event.encode_payload();
    assert_eq!(decode(event.event_type(), 1, &payload), Ok(event.clone()));
    payload.extend_from_slice(b" {}");
    assert!(matches!(decode(event.event_type(), 1, &payload), Err(DecodeError::Payload { .. })));
    // Whatever the payload says, the event's type is the envelope's.
    let smuggled = br#"{"type": "ConversationStatusChanged", "data": {"status": "closed"}}"#;
    assert!(matches!(decode("ConversationAssigned", 1, smuggled), Ok(DomainEvent::ConversationAssigned { .. })));
}

/// Prints the payload of every sample (used to write the catalogue in docs/audit-format.md).
#[test]
#[ignore]
fn print_catalogue() {
    for e in samples() {
        println!("| `{}` | `{}` |", e.event_type(), String::from_utf8(e.encode_payload()).unwrap());
    }
}

/// A message recorded before inbound context existed: its stored bytes.
const OLD_INBOUND: &str = r#"{"channel_message_id":"wamid.1","contact_id":"00000000-0000-0000-0000-00000000004d","content":{"kind":"unsupported","original_kind":"sticker"},"reply_to":null,"sent_at":3}"#;

#[test]
fn messages_recorded_before_inbound_context_decode_and_re_encode_byte_for_byte() {
    let event = decode("InboundMessageReceived", 1, OLD_INBOUND.as_bytes()).unwrap();
    let DomainEvent::InboundMessageReceived { context, .. } = &event else { panic!("{event:?}") };
    assert_eq!(context, &InboundContext::default());
    assert_eq!(String::from_utf8(event.encode_payload()).unwrap(), OLD_INBOUND);
    let old_echo = r#"{"body":null,"channel_message_id":"m_1","sent_at":5}"#;
    let echo = decode("EchoRecorded", 1, old_echo.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(echo.encode_payload()).unwrap(), old_echo);
}

#[test]
fn every_kind_of_inbound_context_and_content_round_trips() {
    let id = Uuid::from_u128(77);
    let context = InboundContext {
        group_id: Some("Y2FwaV9ncm91cDoxNzA1".into()),
        referral: Some(Referral {
            source_type: "ad".into(),
            source_id: Some("120201".into()),
            source_url: Some("https://fb.me/3cr4Wqqkv".into()),
            headline: Some("Batik sale".into()),
            body: Some("50% off".into()),
            ctwa_clid: Some(sealed()),
        }),
        story: Some(StoryRef { mention: true, id: Some("1799".into()), url: Some(sealed()) }),
        standby: Some(true),
    };
    let contents = [
        MessageContent::FlowReply { name: Some("flow".into()), response: sealed() },
        MessageContent::Order {
            catalog_id: "cat".into(),
            note: Some(sealed()),
            items: vec![OrderLine {
                product_retailer_id: "SKU1".into(),
                quantity: 2,
                item_price: "100.50".into(),
                currency: "IDR".into(),
            }],
        },
        MessageContent::Shared { share: "ig_reel".into(), title: Some(sealed()), url: None },
    ];
    for content in contents {
        let event = DomainEvent::InboundMessageReceived {
            channel_message_id: "w".into(),
            contact_id: ContactId(id),
            sent_at: Timestamp(1),
            content,
            reply_to: None,
            context: context.clone(),
        };
        assert_eq!(decode(event.event_type(), 1, &event.encode_payload()).unwrap(), event);
    }
    let echo = DomainEvent::EchoRecorded {
        channel_message_id: "m".into(),
        body: None,
        sent_at: Timestamp(1),
        attachments: Some(vec![EchoAttachment {
            kind: "ig_reel".into(),
            title: Some("Reel".into()),
            url: Some(sealed()),
        }]),
    };
    assert_eq!(decode(echo.event_type(), 1, &echo.encode_payload()).unwrap(), echo);
}

#[test]
fn a_flow_reply_reads_as_its_answers_without_the_flow_token() {
    let mut answers = flow_answers(r#"{"flow_token":"t-1","size":"M","qty":2}"#);
    answers.sort();
    assert_eq!(answers, vec!["qty: 2".to_owned(), "size: M".to_owned()]);
    assert_eq!(flow_answers("not json"), vec!["not json".to_owned()]);
}

#[test]
fn a_reply_sent_before_evidence_existed_decodes_as_the_graph_api_answer_and_re_encodes_byte_for_byte() {
    let old = br#"{"at":6,"platform_message_id":"wamid.2","send_id":"00000000-0000-0000-0000-000000000007"}"#;
    let event = decode("ReplySent", 1, old).unwrap();
    assert!(matches!(event, DomainEvent::ReplySent { evidence: SendEvidence::GraphApiAnswer, .. }));
    assert_eq!(event.encode_payload(), old.to_vec());
}

#[test]
fn media_messages_recorded_before_their_sha256_was_kept_re_encode_byte_for_byte() {
    let media = sealed().to_text();
    let old = format!(
        r#"{{"channel_message_id":"wamid.7","contact_id":"00000000-0000-0000-0000-00000000004d","content":{{"caption":null,"kind":"image","media":"{media}","mime":"image/jpeg"}},"reply_to":null,"sent_at":3}}"#
    );
    let event = decode("InboundMessageReceived", 1, old.as_bytes()).unwrap();
    let DomainEvent::InboundMessageReceived { content, .. } = &event else { panic!("{event:?}") };
    let found = content.media().unwrap();
    assert_eq!((found.kind, found.mime, found.sha256), (crate::media::MediaKind::Image, Some("image/jpeg"), None));
    assert_eq!(String::from_utf8(event.encode_payload()).unwrap(), old);
}

#[test]
fn a_reply_with_a_file_round_trips_and_one_without_keeps_its_old_bytes() {
    let plain = samples().into_iter().find(|e| e.event_type() == "ReplySendRequested").unwrap();
    assert!(!String::from_utf8(plain.encode_payload()).unwrap().contains("media"));
    let DomainEvent::ReplySendRequested { send_id, draft_id, body, mode, .. } = plain else { unreachable!() };
    let with_file = DomainEvent::ReplySendRequested {
        send_id,
        draft_id,
        body,
        target: ReplyTarget::Conversation { quote: None },
        mode,
        template: None,
        media: Some(ReplyMedia {
            kind: crate::media::MediaKind::Image,
            mime: "image/jpeg".into(),
            size: 1234,
            object: "ab".repeat(32),
            from_message: Some(MessageFile { channel_message_id: "wamid.1".into(), attachment: 0 }),
        }),
    };
    let payload = with_file.encode_payload();
    assert!(String::from_utf8(payload.clone()).unwrap().contains(
        r#""media":{"from_message":{"attachment":0,"channel_message_id":"wamid.1"},"kind":"image","mime":"image/jpeg""#
    ));
    assert_eq!(decode("ReplySendRequested", 1, &payload), Ok(with_file));
}
