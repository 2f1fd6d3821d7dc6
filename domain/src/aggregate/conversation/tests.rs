use super::*;
use crate::sealed::SecretKey;
use crate::testing::{given, given_state, TEST_NOW};
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use uuid::Uuid;

pub(crate) fn sealed(text: &str) -> Sealed {
    let mut rng = StdRng::seed_from_u64(text.len() as u64);
    Sealed::seal(DataKeyId(Uuid::from_u128(3)), &SecretKey::from_bytes([1; 32]), text.as_bytes(), &mut rng)
}

pub(crate) fn origin(channel: ChannelKind) -> ConversationOrigin {
    ConversationOrigin {
        conversation_id: ConversationId(Uuid::from_u128(10)),
        contact_id: ContactId(Uuid::from_u128(11)),
        channel,
        account_id: "1065".into(),
        thread: ThreadRef::Direct,
    }
}

pub(crate) fn inbound(id: &str, at: Timestamp) -> RecordInboundMessage {
    RecordInboundMessage {
        origin: origin(ChannelKind::WhatsApp),
        channel_message_id: id.into(),
        sent_at: at,
        content: MessageContent::Text { body: sealed("halo") },
        reply_to: None,
        context: InboundContext::default(),
    }
}

fn draft_id() -> DraftId {
    DraftId(Uuid::from_u128(20))
}

pub(crate) fn with_draft() -> Vec<DomainEvent> {
    let mut history = inbound("wamid.1", TEST_NOW).decide(&Conversation::default(), TEST_NOW).unwrap();
    history.push(DomainEvent::DraftProposed {
        draft_id: draft_id(),
        author: DraftAuthor::Person { user: UserId(Uuid::nil()) },
        body: sealed("terima kasih"),
        target: ReplyTarget::Conversation { quote: None },
    });
    history
}

#[test]
fn the_first_message_opens_the_conversation() {
    let events = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0], DomainEvent::ConversationOpened { .. }));
    assert!(matches!(events[1], DomainEvent::InboundMessageReceived { .. }));
}

#[test]
fn the_same_channel_message_id_is_recorded_once() {
    let history = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    given::<Conversation>(history).when(&inbound("wamid.1", TEST_NOW)).then(vec![]);
}

#[test]
fn an_empty_message_id_is_bad_input() {
    assert!(matches!(
        given::<Conversation>(vec![]).when(&inbound("", TEST_NOW)).result(),
        Err(DomainError::BadInput { .. })
    ));
}

#[test]
fn approving_a_draft_twice_is_refused() {
    let mut history = with_draft();
    history.extend(given::<Conversation>(history.clone()).when(&ApproveDraft { draft_id: draft_id() }).events());
    given::<Conversation>(history)
        .when(&ApproveDraft { draft_id: draft_id() })
        .then_err(DomainError::DraftAlreadyDecided(draft_id()));
}

#[test]
fn rejecting_an_approved_draft_is_refused() {
    let mut history = with_draft();
    history.push(DomainEvent::DraftApproved { draft_id: draft_id() });
    given::<Conversation>(history)
        .when(&RejectDraft { draft_id: draft_id(), reason: None })
        .then_err(DomainError::DraftAlreadyDecided(draft_id()));
}

#[test]
fn editing_a_decided_draft_is_refused() {
    let mut history = with_draft();
    history.push(DomainEvent::DraftRejected { draft_id: draft_id(), reason: None });
    given::<Conversation>(history)
        .when(&EditDraft { draft_id: draft_id(), body: sealed("x") })
        .then_err(DomainError::DraftAlreadyDecided(draft_id()));
}

#[test]
fn approving_an_unknown_draft_is_refused() {
    let other = DraftId(Uuid::from_u128(99));
    given::<Conversation>(with_draft())
        .when(&ApproveDraft { draft_id: other })
        .then_err(DomainError::DraftNotFound(other));
}

fn status(s: DeliveryStatus) -> RecordDeliveryStatus {
    RecordDeliveryStatus { platform_message_id: "wamid.out".into(), status: s, at: TEST_NOW }
}

#[test]
fn delivery_statuses_move_forward_only() {
    let mut history = with_draft();
    history.push(DomainEvent::DeliveryStatusChanged {
        platform_message_id: "wamid.out".into(),
        status: DeliveryStatus::Read,
        at: TEST_NOW,
    });
    given::<Conversation>(history.clone()).when(&status(DeliveryStatus::Delivered)).then(vec![]);
    given::<Conversation>(history.clone()).when(&status(DeliveryStatus::Sent)).then(vec![]);
    let failed = DeliveryStatus::Failed { code: 131047, title: "Re-engagement message".into() };
    assert_eq!(given::<Conversation>(history).when(&status(failed)).events().len(), 1);
}

#[test]
fn read_may_come_without_delivered() {
    let mut history = with_draft();
    history.push(DomainEvent::DeliveryStatusChanged {
        platform_message_id: "wamid.out".into(),
        status: DeliveryStatus::Sent,
        at: TEST_NOW,
    });
    assert_eq!(given::<Conversation>(history).when(&status(DeliveryStatus::Read)).events().len(), 1);
}

#[test]
fn a_sentiment_score_outside_minus_one_to_one_is_bad_input() {
    let cmd = ScoreSentiment { channel_message_id: "wamid.1".into(), score: 1.5, scorer: "lexicon".into() };
    assert!(matches!(given::<Conversation>(with_draft()).when(&cmd).result(), Err(DomainError::BadInput { .. })));
    let nan = ScoreSentiment { channel_message_id: "wamid.1".into(), score: f64::NAN, scorer: "lexicon".into() };
    assert!(given::<Conversation>(with_draft()).when(&nan).result().is_err());
}

#[test]
fn an_echo_of_our_own_send_is_not_recorded_again() {
    let mut history = with_draft();
    let send_id = SendId(Uuid::from_u128(30));
    history.push(DomainEvent::ReplySendRequested {
        send_id,
        draft_id: None,
        body: sealed("x"),
        target: ReplyTarget::Conversation { quote: None },
        mode: MessagingMode::Response,
        template: None,
        media: None,
    });
    history.push(DomainEvent::ReplySent {
        send_id,
        platform_message_id: "m_1".into(),
        at: TEST_NOW,
        evidence: SendEvidence::GraphApiAnswer,
    });
    let echo = RecordEcho {
        origin: origin(ChannelKind::Messenger),
        channel_message_id: "m_1".into(),
        body: None,
        sent_at: TEST_NOW,
        attachments: None,
    };
    given::<Conversation>(history).when(&echo).then(vec![]);
}

proptest! {
    /// Statuses delivered in any order end at the highest one (or failed, which always applies).
    #[test]
    fn delivery_status_is_the_maximum_of_any_order(order in proptest::collection::vec(0u8..4, 1..12)) {
        let mut conv = Conversation::from_events(&with_draft());
        for s in &order {
            let status = match s { 0 => DeliveryStatus::Sent, 1 => DeliveryStatus::Delivered, 2 => DeliveryStatus::Read, _ => DeliveryStatus::Failed { code: 1, title: "x".into() } };
            let cmd = RecordDeliveryStatus { platform_message_id: "w".into(), status, at: TEST_NOW };
            for e in cmd.decide(&conv, TEST_NOW).unwrap() {
                conv.apply(&e);
            }
        }
        let max = order.iter().max().copied().unwrap_or(0);
        let final_rank = conv.delivery.get("w").map(|s| s.rank()).unwrap_or(0);
        prop_assert_eq!(final_rank, max + 1);
    }

    /// A random sequence of approvals and rejections decides a draft at most once.
    #[test]
    fn a_draft_is_decided_at_most_once(ops in proptest::collection::vec(any::<bool>(), 1..10)) {
        let mut conv = Conversation::from_events(&with_draft());
        let mut decisions = 0;
        for approve in ops {
            let r = if approve { ApproveDraft { draft_id: draft_id() }.decide(&conv, TEST_NOW) } else { RejectDraft { draft_id: draft_id(), reason: None }.decide(&conv, TEST_NOW) };
            if let Ok(events) = r { decisions += events.len(); for e in events { conv.apply(&e); } }
        }
        prop_assert_eq!(decisions, 1);
    }

    /// Duplicate and reordered deliveries of the same messages record each id once.
    #[test]
    fn every_message_id_is_recorded_once(ids in proptest::collection::vec(0u8..6, 1..30)) {
        let mut conv = Conversation::default();
        let mut recorded = 0;
        for id in &ids {
            let events = inbound(&format!("wamid.{id}"), TEST_NOW).decide(&conv, TEST_NOW).unwrap();
            recorded += events.iter().filter(|e| matches!(e, DomainEvent::InboundMessageReceived { .. })).count();
            for e in events { conv.apply(&e); }
        }
        let distinct: BTreeSet<_> = ids.iter().collect();
        prop_assert_eq!(recorded, distinct.len());
    }
}

#[test]
fn a_read_watermark_marks_every_earlier_send_read_once() {
    let mut history = with_draft();
    for (n, at) in [(1u128, 10i64), (2, 20), (3, 30)] {
        let send_id = SendId(Uuid::from_u128(n));
        history.push(DomainEvent::ReplySendRequested {
            send_id,
            draft_id: None,
            body: sealed("x"),
            target: ReplyTarget::Conversation { quote: None },
            mode: MessagingMode::Response,
            template: None,
            media: None,
        });
        history.push(DomainEvent::ReplySent {
            send_id,
            platform_message_id: format!("m_{n}"),
            at: TEST_NOW.plus(crate::time::Span::seconds(at)),
            evidence: SendEvidence::GraphApiAnswer,
        });
    }
    let cmd =
        RecordWatermark { status: DeliveryStatus::Read, watermark: TEST_NOW.plus(crate::time::Span::seconds(20)) };
    let events = given::<Conversation>(history.clone()).when(&cmd).events();
    assert_eq!(events.len(), 2, "m_1 and m_2, not m_3");
    history.extend(events);
    given::<Conversation>(history).when(&cmd).then(vec![]);
}

#[test]
fn a_skipped_follow_up_is_recorded_only_on_an_existing_conversation() {
    let skip = SkipFollowUp { opportunity_id: OpportunityId(Uuid::from_u128(5)), reason: RefusalReason::OptedOut };
    let events = given::<Conversation>(with_draft()).when(&skip).events();
    assert!(matches!(events.as_slice(), [DomainEvent::FollowUpSkipped { reason: RefusalReason::OptedOut, .. }]));
    assert!(given::<Conversation>(vec![]).when(&skip).result().is_err());
}

fn reaction(id: &str, emoji: Option<&str>) -> RecordReaction {
    RecordReaction {
        origin: origin(ChannelKind::WhatsApp),
        reaction_id: id.into(),
        to_message: "wamid.OUT".into(),
        emoji: emoji.map(sealed),
        sent_at: TEST_NOW,
    }
}

fn replay(commands: &[&dyn Decide<State = Conversation>]) -> Conversation {
    let mut state = Conversation::default();
    for c in commands {
        for e in c.decide(&state, TEST_NOW).unwrap() {
            state.apply(&e);
        }
    }
    state
}

#[test]
fn a_reaction_attaches_to_its_message_once_and_an_empty_one_takes_it_back() {
    let opened = origin(ChannelKind::WhatsApp).open_if_new(&Conversation::default());
    let react = reaction("wamid.R1", Some("👍"));
    let state = replay(&[&inbound("wamid.1", TEST_NOW), &react]);
    assert!(state.reactions.contains_key("wamid.OUT"));
    assert!(state.inbound_ids.len() == 1, "a reaction is not a message");
    given::<Conversation>(opened.clone()).when(&react).then(vec![DomainEvent::MessageReacted {
        reaction_id: "wamid.R1".into(),
        to_message: "wamid.OUT".into(),
        contact_id: ContactId(Uuid::from_u128(11)),
        emoji: react.emoji.clone(),
        sent_at: TEST_NOW,
    }]);
    let state = replay(&[&inbound("wamid.1", TEST_NOW), &react, &react, &reaction("wamid.R2", None)]);
    assert!(state.reactions.is_empty());
    assert_eq!(state.reaction_ids.len(), 2);
    assert_eq!(state.window.last_inbound_at, Some(TEST_NOW), "reactions do not move the window");
}

#[test]
fn standby_messages_and_a_take_put_the_thread_elsewhere_and_a_pass_brings_it_back() {
    let control = |held_by_laras| RecordThreadControl {
        origin: origin(ChannelKind::Messenger),
        held_by_laras,
        app_id: Some("263902037430900".into()),
        at: TEST_NOW,
    };
    let mut standby = inbound("m_1", TEST_NOW);
    standby.context.standby = Some(true);
    assert!(replay(&[&standby]).held_elsewhere);
    assert!(!replay(&[&standby, &control(true)]).held_elsewhere);
    assert!(replay(&[&inbound("m_2", TEST_NOW), &control(false)]).held_elsewhere);
    // A move to where the thread already is records nothing.
    given_state(replay(&[&inbound("m_2", TEST_NOW)])).when(&control(true)).then(vec![]);
    given_state(replay(&[&standby])).when(&control(false)).then(vec![]);
}

#[test]
fn an_identity_change_notice_is_recorded_once() {
    let notice = RecordIdentityChange {
        origin: origin(ChannelKind::WhatsApp),
        channel_message_id: "wamid.SYS".into(),
        identity: crate::blind::IdentityKind::WaId,
        value: sealed("12195555358"),
        sent_at: TEST_NOW,
    };
    let state = replay(&[&inbound("wamid.1", TEST_NOW), &notice]);
    assert!(state.notice_ids.contains("wamid.SYS"));
    given_state(state).when(&notice).then(vec![]);
}

#[test]
fn a_snooze_must_end_in_the_future_and_within_a_year_and_a_day() {
    let history = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    let snooze =
        |until: i64| ChangeConversationStatus { status: ConversationStatus::Snoozed { until: Timestamp(until) } };
    for until in [-1, 0, TEST_NOW.0, TEST_NOW.plus(MAX_SNOOZE).0 + 1, 1 << 62, i64::MAX] {
        assert!(
            matches!(
                given::<Conversation>(history.clone()).when(&snooze(until)).result(),
                Err(DomainError::BadInput { field: "snoozed_until", .. })
            ),
            "{until}"
        );
    }
    let tomorrow = TEST_NOW.plus(Span::days(1));
    given::<Conversation>(history)
        .when(&snooze(tomorrow.0))
        .then(vec![DomainEvent::ConversationStatusChanged { status: ConversationStatus::Snoozed { until: tomorrow } }]);
}

fn stored_media(object: &str) -> MediaOutcome {
    MediaOutcome::Stored(StoredMedia {
        object: object.into(),
        sha256: sealed("digest"),
        size: 10,
        mime: "image/jpeg".into(),
        width: Some(2),
        height: Some(1),
        duration_ms: None,
    })
}

fn record_media(id: &str, outcome: MediaOutcome) -> RecordMedia {
    RecordMedia { channel_message_id: id.into(), attachment: 0, outcome }
}

#[test]
fn a_fetched_file_is_recorded_once_whatever_the_second_outcome() {
    let history = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    let first =
        given::<Conversation>(history.clone()).when(&record_media("wamid.1", stored_media(&"ab".repeat(32)))).events();
    assert!(matches!(&first[..], [DomainEvent::MediaStored { size: 10, .. }]));
    let later = [history, first].concat();
    let again = MediaOutcome::Unavailable(MediaUnavailableReason::Expired);
    given::<Conversation>(later).when(&record_media("wamid.1", again)).then(vec![]);
}

#[test]
fn an_unavailable_file_records_its_reason() {
    let history = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    let reason = MediaUnavailableReason::TooLarge { limit: 5 };
    given::<Conversation>(history)
        .when(&record_media("wamid.1", MediaOutcome::Unavailable(reason.clone())))
        .then(vec![DomainEvent::MediaUnavailable { channel_message_id: "wamid.1".into(), attachment: 0, reason }]);
}

#[test]
fn media_for_an_unknown_message_or_with_a_bad_object_name_is_bad_input() {
    let history = given::<Conversation>(vec![]).when(&inbound("wamid.1", TEST_NOW)).events();
    let unknown = given::<Conversation>(history.clone()).when(&record_media("wamid.2", stored_media(&"ab".repeat(32))));
    assert!(matches!(unknown.result(), Err(DomainError::BadInput { field: "channel_message_id", .. })));
    let bad = given::<Conversation>(history).when(&record_media("wamid.1", stored_media("../../etc/passwd")));
    assert!(matches!(bad.result(), Err(DomainError::BadInput { field: "object", .. })));
}
