use super::*;
use crate::aggregate::contact::Contact;
use crate::aggregate::conversation::tests::{sealed, with_draft};
use crate::aggregate::conversation::RecordSent;
use crate::aggregate::partner::{default_pipeline, Partner};
use crate::aggregate::Aggregate;
use crate::blind::{BlindIndex, IdentityKind};
use crate::channel::ChannelKind;
use crate::event::{ApprovalMode, MessagingMode, OptScope, OptSignal, RefusalReason, ReplyTarget};
use crate::ids::{ContactId, PartnerId};
use crate::testing::{given, given_state, TEST_NOW};
use proptest::prelude::*;
use uuid::Uuid;

const SEND: SendId = SendId(Uuid::from_u128(40));
const BOUND: Span = Span::seconds(300);

fn ctx() -> SendContext {
    let partner = Partner::from_events(&[
        DomainEvent::PartnerOnboarded {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "Toko".into(),
            approval: ApprovalMode::Autopilot,
            pipeline: default_pipeline(),
        },
        DomainEvent::ChannelConnected {
            channel: ChannelKind::WhatsApp,
            account_id: "1065".into(),
            display_name: "Toko".into(),
            proof: None,
        },
    ]);
    let contact = Contact::from_events(&[DomainEvent::ContactIdentified {
        contact_id: ContactId(Uuid::from_u128(11)),
        channel: ChannelKind::WhatsApp,
        identity: IdentityKind::WaId,
        blind_index: BlindIndex("b".into()),
        value: sealed("628"),
        name: None,
    }]);
    let mut history = with_draft();
    history.push(DomainEvent::ReplySendRequested {
        send_id: SEND,
        draft_id: None,
        body: sealed("terima kasih"),
        target: ReplyTarget::Conversation { quote: None },
        mode: MessagingMode::Response,
        template: None,
        media: None,
    });
    SendContext { partner, contact, conversation: Conversation::from_events(&history) }
}

fn apply(ctx: &mut SendContext, events: &[DomainEvent]) {
    for e in events {
        ctx.conversation.apply(e);
    }
}

fn started(attempt: u32, at: Timestamp, resends_in_doubt: Option<u32>) -> DomainEvent {
    DomainEvent::SendAttemptStarted { send_id: SEND, attempt, at, resends_in_doubt }
}

/// A context whose first attempt started at TEST_NOW and never ended.
fn in_doubt() -> SendContext {
    let mut c = ctx();
    apply(&mut c, &[started(1, TEST_NOW, None)]);
    c
}

fn resolve() -> ResolveInDoubt {
    ResolveInDoubt { send_id: SEND, bound: BOUND }
}

#[test]
fn the_first_attempt_is_recorded_before_the_call() {
    given_state(ctx()).when(&StartAttempt { send_id: SEND }).then(vec![started(1, TEST_NOW, None)]);
}

#[test]
fn a_send_in_doubt_is_not_simply_sent_again() {
    given_state(in_doubt())
        .when(&StartAttempt { send_id: SEND })
        .then_err(DomainError::SendInDoubt { send_id: SEND, attempt: 1 });
}

#[test]
fn an_attempt_that_failed_is_followed_by_the_next_one() {
    let mut c = in_doubt();
    apply(
        &mut c,
        &[DomainEvent::SendAttemptFailed {
            send_id: SEND,
            attempt: 1,
            code: 503,
            title: "busy".into(),
            retry_after: None,
        }],
    );
    given_state(c).when(&StartAttempt { send_id: SEND }).then(vec![started(2, TEST_NOW, None)]);
}

#[test]
fn a_send_in_doubt_waits_for_its_echo_until_the_bound() {
    let just_before = TEST_NOW.plus(Span::millis(BOUND.0 - 1));
    given_state(in_doubt()).at(just_before).when(&resolve()).then(vec![]);
    assert_eq!(resolve().due_at(&in_doubt().conversation), Some(TEST_NOW.plus(BOUND)));
}

#[test]
fn past_the_bound_a_channel_with_an_echo_resends_as_a_resend_of_the_attempt_in_doubt() {
    let after = TEST_NOW.plus(BOUND);
    given_state(in_doubt()).at(after).when(&resolve()).then(vec![started(2, after, Some(1))]);
}

#[test]
fn past_the_bound_a_hold_policy_holds_the_send_for_a_person_once() {
    let mut c = in_doubt();
    c.partner
        .apply(&DomainEvent::InDoubtPolicySet { channel: ChannelKind::WhatsApp, policy: InDoubtPolicy::HoldForPerson });
    let after = TEST_NOW.plus(BOUND);
    let held = given_state(c.clone()).at(after).when(&resolve()).events();
    assert_eq!(held, vec![DomainEvent::SendHeldInDoubt { send_id: SEND, attempt: 1 }]);
    apply(&mut c, &held);
    given_state(c.clone()).at(after.plus(BOUND)).when(&resolve()).then(vec![]);
    given_state(c)
        .when(&StartAttempt { send_id: SEND })
        .then_err(DomainError::SendInDoubt { send_id: SEND, attempt: 1 });
}

#[test]
fn threads_holds_by_default_and_the_other_channels_resend() {
    let partner = Partner::default();
    assert_eq!(partner.in_doubt_policy(ChannelKind::Threads), InDoubtPolicy::HoldForPerson);
    for channel in [ChannelKind::WhatsApp, ChannelKind::Messenger, ChannelKind::Instagram] {
        assert_eq!(partner.in_doubt_policy(channel), InDoubtPolicy::ResendAfterBound);
    }
}

#[test]
fn an_approved_resend_of_a_held_send_goes_out_as_a_resend() {
    let mut c = in_doubt();
    apply(&mut c, &[DomainEvent::SendHeldInDoubt { send_id: SEND, attempt: 1 }]);
    let approved = given_state(c.conversation.clone()).when(&ApproveResend { send_id: SEND }).events();
    assert_eq!(approved, vec![DomainEvent::InDoubtResendApproved { send_id: SEND, attempt: 1 }]);
    apply(&mut c, &approved);
    given_state(c.clone()).when(&StartAttempt { send_id: SEND }).then(vec![started(2, TEST_NOW, Some(1))]);
    given_state(c).when(&resolve()).then(vec![started(2, TEST_NOW, Some(1))]);
}

#[test]
fn only_a_held_send_can_be_approved_for_resending() {
    given_state(in_doubt().conversation)
        .when(&ApproveResend { send_id: SEND })
        .then_err(DomainError::SendNotHeld(SEND));
}

#[test]
fn a_person_marks_a_send_in_doubt_as_sent() {
    given_state(in_doubt().conversation).when(&MarkSent { send_id: SEND, platform_message_id: None }).then(vec![
        DomainEvent::ReplySent {
            send_id: SEND,
            platform_message_id: format!("marked-sent:{}", SEND.0),
            at: TEST_NOW,
            evidence: SendEvidence::PersonConfirmed,
        },
    ]);
    given_state(ctx().conversation)
        .when(&MarkSent { send_id: SEND, platform_message_id: None })
        .then_err(DomainError::SendNotInDoubt(SEND));
}

#[test]
fn an_echo_settles_a_send_in_doubt_and_nothing_is_resent() {
    let mut c = in_doubt();
    let echo = RecordSent {
        send_id: SEND,
        platform_message_id: "m_1".into(),
        at: TEST_NOW,
        evidence: SendEvidence::EchoWebhook,
    };
    let sent = given_state(c.conversation.clone()).when(&echo).events();
    apply(&mut c, &sent);
    given_state(c.clone()).at(TEST_NOW.plus(BOUND)).when(&resolve()).then_err(DomainError::SendAlreadySettled(SEND));
    // The same echo again (Meta redelivers) records nothing.
    given_state(c.conversation).when(&echo).then(vec![]);
}

#[test]
fn an_opt_out_before_the_resend_refuses_it_and_settles_the_send() {
    let mut c = in_doubt();
    c.contact.apply(&DomainEvent::OptedOut {
        channel: Some(ChannelKind::WhatsApp),
        scope: OptScope::All,
        signal: OptSignal::Keyword { keyword: "STOP".into() },
        at: TEST_NOW,
    });
    let events = given_state(c).at(TEST_NOW.plus(BOUND)).when(&resolve()).events();
    assert!(matches!(
        &events[..],
        [DomainEvent::SendRefused { send_id: Some(SEND), reason: RefusalReason::OptedOut, .. }]
    ));
}

#[test]
fn the_in_doubt_policy_is_set_per_channel_once() {
    let onboarded = vec![DomainEvent::PartnerOnboarded {
        partner_id: PartnerId(Uuid::from_u128(1)),
        name: "Toko".into(),
        approval: ApprovalMode::Autopilot,
        pipeline: default_pipeline(),
    }];
    let set = crate::aggregate::partner::SetInDoubtPolicy {
        channel: ChannelKind::Messenger,
        policy: InDoubtPolicy::HoldForPerson,
    };
    let event = DomainEvent::InDoubtPolicySet { channel: ChannelKind::Messenger, policy: InDoubtPolicy::HoldForPerson };
    given::<Partner>(onboarded.clone()).when(&set).then(vec![event.clone()]);
    given::<Partner>([onboarded, vec![event]].concat()).when(&set).then(vec![]);
}

#[derive(Clone, Debug)]
enum Op {
    /// The outbox starts an attempt and the call's result is lost (a crash).
    StartAndCrash,
    StartAndFail,
    StartAndSucceed,
    Echo,
    Resolve {
        advance_s: i64,
    },
    Approve,
    Mark,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::StartAndCrash),
        Just(Op::StartAndFail),
        Just(Op::StartAndSucceed),
        Just(Op::Echo),
        (0i64..600).prop_map(|advance_s| Op::Resolve { advance_s }),
        Just(Op::Approve),
        Just(Op::Mark),
    ]
}

proptest! {
    /// Whatever happens, in whatever order: attempts are numbered 1, 2, 3…; an attempt
    /// started while another had no outcome names it as the one it re-sends; a send is
    /// settled at most once and nothing follows its outcome.
    #[test]
    fn attempts_in_doubt_are_never_sent_again_unannounced(ops in proptest::collection::vec(op(), 0..30), hold in any::<bool>()) {
        let mut c = ctx();
        if hold {
            c.partner.apply(&DomainEvent::InDoubtPolicySet { channel: ChannelKind::WhatsApp, policy: InDoubtPolicy::HoldForPerson });
        }
        let mut now = TEST_NOW;
        let mut log: Vec<DomainEvent> = Vec::new();
        for op in ops {
            let outcome = match op {
                Op::StartAndCrash | Op::StartAndFail | Op::StartAndSucceed => {
                    StartAttempt { send_id: SEND }.decide(&c, now).map(|mut events| {
                        if let [DomainEvent::SendAttemptStarted { attempt, .. }] = events[..] {
                            match op {
                                Op::StartAndFail => events.push(DomainEvent::SendAttemptFailed { send_id: SEND, attempt, code: 503, title: "busy".into(), retry_after: None }),
                                Op::StartAndSucceed => events.push(DomainEvent::ReplySent { send_id: SEND, platform_message_id: "m_1".into(), at: now, evidence: SendEvidence::GraphApiAnswer }),
                                _ => {}
                            }
                        }
                        events
                    })
                }
                Op::Echo => RecordSent { send_id: SEND, platform_message_id: "m_1".into(), at: now, evidence: SendEvidence::EchoWebhook }.decide(&c.conversation, now),
                Op::Resolve { advance_s } => {
                    now = now.plus(Span::seconds(advance_s));
                    resolve().decide(&c, now)
                }
                Op::Approve => ApproveResend { send_id: SEND }.decide(&c.conversation, now),
                Op::Mark => MarkSent { send_id: SEND, platform_message_id: None }.decide(&c.conversation, now),
            };
            if let Ok(events) = outcome {
                apply(&mut c, &events);
                log.extend(events);
            }
        }
        let mut open: Option<u32> = None;
        let mut next = 1;
        let mut settled = false;
        for e in &log {
            prop_assert!(!settled, "nothing follows the outcome: {e:?}");
            match e {
                DomainEvent::SendAttemptStarted { attempt, resends_in_doubt, .. } => {
                    prop_assert_eq!(*attempt, next);
                    prop_assert_eq!(*resends_in_doubt, open);
                    next += 1;
                    open = Some(*attempt);
                }
                DomainEvent::SendAttemptFailed { .. } => open = None,
                DomainEvent::ReplySent { .. } | DomainEvent::SendRefused { .. } => settled = true,
                _ => {}
            }
        }
    }
}
