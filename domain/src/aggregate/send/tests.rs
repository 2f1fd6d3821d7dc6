use super::*;
use crate::aggregate::conversation::tests::{inbound, origin, sealed, with_draft};
use crate::aggregate::conversation::{Conversation, RecordPublicComment};
use crate::aggregate::partner::default_pipeline;
use crate::aggregate::Aggregate;
use crate::blind::{BlindIndex, IdentityKind};
use crate::channel::ChannelKind;
use crate::ids::*;
use crate::policy::window::{HUMAN_AGENT_WINDOW, PRIVATE_REPLY_WINDOW};
use crate::testing::{given_state, TEST_NOW};
use crate::time::Span;
use proptest::prelude::*;
use uuid::Uuid;

pub(super) fn partner(mode: ApprovalMode, channel: ChannelKind) -> Partner {
    Partner::from_events(&[
        DomainEvent::PartnerOnboarded {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "Toko".into(),
            approval: mode,
            pipeline: default_pipeline(),
        },
        DomainEvent::ChannelConnected { channel, account_id: "1065".into(), display_name: "Toko".into(), proof: None },
    ])
}

pub(super) fn contact() -> Contact {
    Contact::from_events(&[DomainEvent::ContactIdentified {
        contact_id: ContactId(Uuid::from_u128(11)),
        channel: ChannelKind::WhatsApp,
        identity: IdentityKind::WaId,
        blind_index: BlindIndex("b".into()),
        value: sealed("628"),
        name: None,
    }])
}

fn ctx(mode: ApprovalMode) -> SendContext {
    SendContext {
        partner: partner(mode, ChannelKind::WhatsApp),
        contact: contact(),
        conversation: Conversation::from_events(&with_draft()),
    }
}

const DRAFT: DraftId = DraftId(Uuid::from_u128(20));

fn send_draft() -> RequestSend {
    RequestSend {
        send_id: SendId(Uuid::from_u128(40)),
        source: SendSource::Draft(DRAFT),
        template: None,
        marketing: false,
        media: None,
    }
}

fn person_reply() -> RequestSend {
    RequestSend {
        send_id: SendId(Uuid::from_u128(41)),
        source: SendSource::PersonReply { body: sealed("hi"), target: ReplyTarget::Conversation { quote: None } },
        template: None,
        marketing: false,
        media: None,
    }
}

fn refused(reason: RefusalReason, draft: Option<DraftId>) -> Vec<DomainEvent> {
    vec![DomainEvent::SendRefused { draft_id: draft, send_id: None, reason }]
}

#[test]
fn an_unapproved_draft_is_refused_when_approval_is_required() {
    given_state(ctx(ApprovalMode::Approval))
        .when(&send_draft())
        .then(refused(RefusalReason::ApprovalRequired, Some(DRAFT)));
}

#[test]
fn an_approved_draft_is_requested_in_the_window() {
    let mut c = ctx(ApprovalMode::Approval);
    c.conversation.apply(&DomainEvent::DraftApproved { draft_id: DRAFT });
    let events = given_state(c).when(&send_draft()).events();
    assert!(matches!(
        &events[..],
        [DomainEvent::ReplySendRequested { mode: MessagingMode::Response, draft_id: Some(DRAFT), .. }]
    ));
}

#[test]
fn autopilot_sends_an_unapproved_draft() {
    let events = given_state(ctx(ApprovalMode::Autopilot)).when(&send_draft()).events();
    assert!(matches!(&events[..], [DomainEvent::ReplySendRequested { .. }]));
}

#[test]
fn a_sent_draft_cannot_be_sent_again() {
    let mut c = ctx(ApprovalMode::Autopilot);
    for e in send_draft().decide(&c, TEST_NOW).unwrap() {
        c.conversation.apply(&e);
    }
    given_state(c).when(&send_draft()).then_err(DomainError::DraftAlreadySent(DRAFT));
}

#[test]
fn nothing_goes_to_an_opted_out_contact() {
    let mut c = ctx(ApprovalMode::Autopilot);
    c.contact.apply(&DomainEvent::OptedOut {
        channel: None,
        scope: OptScope::All,
        signal: OptSignal::Manual,
        at: TEST_NOW,
    });
    given_state(c.clone()).when(&send_draft()).then(refused(RefusalReason::OptedOut, Some(DRAFT)));
    given_state(c).when(&person_reply()).then(refused(RefusalReason::OptedOut, None));
}

#[test]
fn a_marketing_opt_out_stops_follow_ups_but_not_service_replies() {
    let mut c = ctx(ApprovalMode::Autopilot);
    c.contact.apply(&DomainEvent::OptedOut {
        channel: None,
        scope: OptScope::Marketing,
        signal: OptSignal::PlatformError { code: 131050 },
        at: TEST_NOW,
    });
    let follow_up = RequestSend { marketing: true, ..send_draft() };
    given_state(c.clone()).when(&follow_up).then(refused(RefusalReason::OptedOut, Some(DRAFT)));
    assert!(matches!(&given_state(c).when(&person_reply()).events()[..], [DomainEvent::ReplySendRequested { .. }]));
}

#[test]
fn a_channel_needing_reauthorisation_sends_nothing() {
    let mut c = ctx(ApprovalMode::Autopilot);
    c.partner.apply(&DomainEvent::ChannelNeedsReauthorisation {
        channel: ChannelKind::WhatsApp,
        account_id: "1065".into(),
        error_code: 190,
    });
    given_state(c).when(&person_reply()).then(refused(RefusalReason::ChannelNeedsReauthorisation, None));
}

#[test]
fn a_disconnected_channel_sends_nothing() {
    let mut c = ctx(ApprovalMode::Autopilot);
    c.partner.apply(&DomainEvent::ChannelDisconnected { channel: ChannelKind::WhatsApp, account_id: "1065".into() });
    given_state(c).when(&person_reply()).then(refused(RefusalReason::ChannelDisconnected, None));
}

#[test]
fn outside_the_window_whatsapp_needs_a_template_and_uses_it() {
    let later = TEST_NOW.plus(Span::hours(25));
    given_state(ctx(ApprovalMode::Autopilot))
        .at(later)
        .when(&person_reply())
        .then(refused(RefusalReason::TemplateRequired { closed_at: TEST_NOW.plus(Span::hours(24)) }, None));
    let template = TemplateRef { name: "follow_up".into(), language: "id".into(), parameters: vec![] };
    let with_template = RequestSend { template: Some(template.clone()), ..person_reply() };
    let events = given_state(ctx(ApprovalMode::Autopilot)).at(later).when(&with_template).events();
    assert!(
        matches!(&events[..], [DomainEvent::ReplySendRequested { mode: MessagingMode::Template, template: Some(t), .. }] if *t == template)
    );
}

fn messenger_ctx() -> SendContext {
    let mut conv = Conversation::default();
    let mut cmd = inbound("m_1", TEST_NOW);
    cmd.origin = origin(ChannelKind::Messenger);
    for e in cmd.decide(&conv, TEST_NOW).unwrap() {
        conv.apply(&e);
    }
    conv.apply(&DomainEvent::DraftProposed {
        draft_id: DRAFT,
        author: DraftAuthor::AiWorker {
            generator: "embedded".into(),
            model: "bm25".into(),
            prompt_hash: "h".into(),
            article_ids: vec![],
            confidence: 0.9,
            latency_ms: 3,
        },
        body: sealed("jawaban"),
        target: ReplyTarget::Conversation { quote: None },
    });
    conv.apply(&DomainEvent::DraftApproved { draft_id: DRAFT });
    SendContext {
        partner: partner(ApprovalMode::Approval, ChannelKind::Messenger),
        contact: contact(),
        conversation: conv,
    }
}

#[test]
fn a_person_may_reply_with_the_human_agent_tag_on_messenger_up_to_7_days() {
    let day3 = TEST_NOW.plus(Span::days(3));
    let events = given_state(messenger_ctx()).at(day3).when(&person_reply()).events();
    assert!(matches!(&events[..], [DomainEvent::ReplySendRequested { mode: MessagingMode::HumanAgentTag, .. }]));
    let day8 = TEST_NOW.plus(Span::days(8));
    given_state(messenger_ctx())
        .at(day8)
        .when(&person_reply())
        .then(refused(RefusalReason::HumanAgentWindowClosed { closed_at: TEST_NOW.plus(HUMAN_AGENT_WINDOW) }, None));
}

#[test]
fn an_approved_ai_draft_is_still_automated_outside_the_window() {
    let day2 = TEST_NOW.plus(Span::days(2));
    given_state(messenger_ctx()).at(day2).when(&send_draft()).then(refused(
        RefusalReason::AutomatedOutsideWindow { closed_at: TEST_NOW.plus(Span::hours(24)) },
        Some(DRAFT),
    ));
}

fn instagram_comment_ctx() -> SendContext {
    let mut conv = Conversation::default();
    let mut o = origin(ChannelKind::Instagram);
    o.thread = ThreadRef::Comments { media_id: "media1".into() };
    let cmd = RecordPublicComment {
        origin: o,
        comment_id: "c1".into(),
        parent_id: None,
        text: sealed("harga?"),
        sent_at: TEST_NOW,
    };
    for e in cmd.decide(&conv, TEST_NOW).unwrap() {
        conv.apply(&e);
    }
    SendContext {
        partner: partner(ApprovalMode::Approval, ChannelKind::Instagram),
        contact: contact(),
        conversation: conv,
    }
}

fn private_reply(n: u128) -> RequestSend {
    RequestSend {
        send_id: SendId(Uuid::from_u128(n)),
        source: SendSource::PersonReply {
            body: sealed("cek DM"),
            target: ReplyTarget::CommentPrivateReply { comment_id: "c1".into() },
        },
        template: None,
        marketing: false,
        media: None,
    }
}

#[test]
fn an_instagram_comment_gets_at_most_one_private_reply() {
    let mut c = instagram_comment_ctx();
    let events = private_reply(50).decide(&c, TEST_NOW).unwrap();
    assert!(matches!(&events[..], [DomainEvent::ReplySendRequested { mode: MessagingMode::PrivateReply, .. }]));
    for e in events {
        c.conversation.apply(&e);
    }
    given_state(c).when(&private_reply(51)).then(refused(RefusalReason::CommentAlreadyAnswered, None));
}

#[test]
fn a_failed_private_reply_may_be_tried_again() {
    let mut c = instagram_comment_ctx();
    for e in private_reply(50).decide(&c, TEST_NOW).unwrap() {
        c.conversation.apply(&e);
    }
    c.conversation.apply(&DomainEvent::ReplySendFailed {
        send_id: SendId(Uuid::from_u128(50)),
        code: 2,
        title: "x".into(),
    });
    assert!(matches!(&private_reply(51).decide(&c, TEST_NOW).unwrap()[..], [DomainEvent::ReplySendRequested { .. }]));
}

#[test]
fn a_private_reply_after_7_days_is_refused() {
    let c = instagram_comment_ctx();
    given_state(c).at(TEST_NOW.plus(PRIVATE_REPLY_WINDOW)).when(&private_reply(50)).then(refused(
        RefusalReason::CommentReplyWindowExpired { closed_at: TEST_NOW.plus(PRIVATE_REPLY_WINDOW) },
        None,
    ));
}

proptest! {
    /// Whatever the state and time, an opted-out contact never gets a send request.
    #[test]
    fn no_outbound_message_to_an_opted_out_contact(
        mode in 0u8..3, hours in 0i64..400, approved in any::<bool>(), person in any::<bool>(), marketing in any::<bool>(), template in any::<bool>(),
    ) {
        let mode = [ApprovalMode::Approval, ApprovalMode::Autopilot, ApprovalMode::Off][mode as usize];
        let mut c = ctx(mode);
        if approved { c.conversation.apply(&DomainEvent::DraftApproved { draft_id: DRAFT }); }
        c.contact.apply(&DomainEvent::OptedOut { channel: Some(ChannelKind::WhatsApp), scope: OptScope::All, signal: OptSignal::Manual, at: TEST_NOW });
        let mut cmd = if person { person_reply() } else { send_draft() };
        cmd.marketing = marketing;
        if template { cmd.template = Some(TemplateRef { name: "t".into(), language: "id".into(), parameters: vec![] }); }
        let events = cmd.decide(&c, TEST_NOW.plus(Span::hours(hours))).unwrap();
        let requested = events.iter().any(|e| matches!(e, DomainEvent::ReplySendRequested { .. }));
        prop_assert!(!requested);
        prop_assert!(refusal_in(&events).is_some());
    }

    /// Under approval mode a draft is only ever requested after its approval.
    #[test]
    fn under_approval_mode_only_approved_drafts_are_sent(approved in any::<bool>(), hours in 0i64..30) {
        let mut c = ctx(ApprovalMode::Approval);
        if approved { c.conversation.apply(&DomainEvent::DraftApproved { draft_id: DRAFT }); }
        let events = send_draft().decide(&c, TEST_NOW.plus(Span::hours(hours))).unwrap();
        let requested = events.iter().any(|e| matches!(e, DomainEvent::ReplySendRequested { .. }));
        prop_assert!(!requested || approved);
    }
}

fn requested(c: &mut SendContext) -> SendId {
    let cmd = person_reply();
    for e in cmd.decide(c, TEST_NOW).unwrap() {
        c.conversation.apply(&e);
    }
    cmd.send_id
}

#[test]
fn a_requested_send_is_delivered_when_nothing_changed() {
    let mut c = ctx(ApprovalMode::Approval);
    let send_id = requested(&mut c);
    given_state(c).when(&CheckDelivery { send_id }).then(vec![]);
}

#[test]
fn an_opt_out_after_the_request_stops_the_delivery() {
    let mut c = ctx(ApprovalMode::Approval);
    let send_id = requested(&mut c);
    c.contact.apply(&DomainEvent::OptedOut {
        channel: Some(ChannelKind::WhatsApp),
        scope: OptScope::All,
        signal: OptSignal::Manual,
        at: TEST_NOW,
    });
    let events = given_state(c.clone()).when(&CheckDelivery { send_id }).events();
    assert_eq!(
        events,
        vec![DomainEvent::SendRefused { draft_id: None, send_id: Some(send_id), reason: RefusalReason::OptedOut }]
    );
    for e in events {
        c.conversation.apply(&e);
    }
    given_state(c).when(&CheckDelivery { send_id }).then_err(DomainError::SendAlreadySettled(send_id));
}

#[test]
fn a_window_that_closed_while_queued_stops_a_free_form_delivery() {
    let mut c = ctx(ApprovalMode::Approval);
    let send_id = requested(&mut c);
    let later = TEST_NOW.plus(Span::hours(25));
    let events = given_state(c).at(later).when(&CheckDelivery { send_id }).events();
    assert!(matches!(
        &events[..],
        [DomainEvent::SendRefused { reason: RefusalReason::WindowClosed { .. }, send_id: Some(_), .. }]
    ));
}
