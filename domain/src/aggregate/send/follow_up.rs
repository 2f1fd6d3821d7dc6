//! A follow-up of a quiet deal, decided as one: the draft and, under autopilot, its send
//! request. Recorded in one append, so a crash or a change of the follow-ups' lease
//! leaves the deal either not followed up, for the next run to follow up, or followed up
//! with its send requested; never a follow-up draft that nobody sends (the follow-ups'
//! book counts the draft as this silence's follow-up).

use super::{RequestSend, SendContext};
use crate::aggregate::conversation::ProposeDraft;
use crate::aggregate::{Aggregate, Decide};
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::time::Timestamp;

pub struct FollowUpDeal {
    pub propose: ProposeDraft,
    /// Under autopilot: the draft's send, checked by the send policy like any other.
    pub send: Option<RequestSend>,
}

impl Decide for FollowUpDeal {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        // Decided already (a retry after a version conflict): never a second send request.
        if ctx.conversation.drafts.contains_key(&self.propose.draft_id) {
            return Ok(vec![]);
        }
        let mut events = self.propose.decide(&ctx.conversation, now)?;
        let Some(send) = &self.send else { return Ok(events) };
        let mut after = ctx.clone();
        events.iter().for_each(|e| after.conversation.apply(e));
        // A refusal (window, opt-out) is recorded with the draft, as the send would be.
        events.extend(send.decide(&after, now)?);
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{contact, partner};
    use super::super::SendSource;
    use super::*;
    use crate::aggregate::conversation::tests::{inbound, sealed};
    use crate::aggregate::conversation::Conversation;
    use crate::channel::ChannelKind;
    use crate::event::{ApprovalMode, DraftAuthor, OptScope, OptSignal, RefusalReason, ReplyTarget};
    use crate::ids::*;
    use crate::testing::{given_state, TEST_NOW};
    use crate::time::Span;
    use uuid::Uuid;

    const DRAFT: DraftId = DraftId(Uuid::from_u128(80));

    fn ctx() -> SendContext {
        let opened = inbound("wamid.1", TEST_NOW).decide(&Conversation::default(), TEST_NOW).expect("opens");
        SendContext {
            partner: partner(ApprovalMode::Autopilot, ChannelKind::WhatsApp),
            contact: contact(),
            conversation: Conversation::from_events(&opened),
        }
    }

    fn follow_up(send: bool) -> FollowUpDeal {
        let propose = ProposeDraft {
            draft_id: DRAFT,
            author: DraftAuthor::AiWorker {
                generator: "follow-up".into(),
                model: "follow-up-text-v1".into(),
                prompt_hash: "h".into(),
                article_ids: vec![],
                confidence: 1.0,
                latency_ms: 0,
            },
            body: sealed("Masih tertarik, kak?"),
            target: ReplyTarget::Conversation { quote: None },
        };
        let send = send.then(|| RequestSend {
            send_id: SendId(Uuid::from_u128(81)),
            source: SendSource::Draft(DRAFT),
            template: None,
            marketing: true,
            media: None,
        });
        FollowUpDeal { propose, send }
    }

    #[test]
    fn under_autopilot_the_follow_up_draft_and_its_send_are_one_decision() {
        let events = given_state(ctx()).when(&follow_up(true)).events();
        assert!(
            matches!(
                &events[..],
                [
                    DomainEvent::DraftProposed { draft_id: DRAFT, .. },
                    DomainEvent::ReplySendRequested { draft_id: Some(DRAFT), .. }
                ]
            ),
            "{events:?}"
        );
        let held = given_state(ctx()).when(&follow_up(false)).events();
        assert!(matches!(&held[..], [DomainEvent::DraftProposed { draft_id: DRAFT, .. }]), "{held:?}");
    }

    #[test]
    fn a_refused_follow_up_send_is_recorded_with_its_draft() {
        let mut c = ctx();
        // A marketing opt-out blocks the follow-up (a selling message), not the service reply.
        c.contact.apply(&DomainEvent::OptedOut {
            channel: None,
            scope: OptScope::Marketing,
            signal: OptSignal::Manual,
            at: TEST_NOW,
        });
        let events = given_state(c).when(&follow_up(true)).events();
        assert!(
            matches!(&events[..], [DomainEvent::DraftProposed { .. }, DomainEvent::SendRefused { .. }]),
            "{events:?}"
        );
        let late = TEST_NOW.plus(Span::hours(25));
        let events = given_state(ctx()).at(late).when(&follow_up(true)).events();
        assert!(
            matches!(
                &events[..],
                [
                    DomainEvent::DraftProposed { .. },
                    DomainEvent::SendRefused { reason: RefusalReason::TemplateRequired { .. }, .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn a_follow_up_decided_already_decides_nothing_more() {
        let mut c = ctx();
        let first = given_state(c.clone()).when(&follow_up(true)).events();
        first.iter().for_each(|e| c.conversation.apply(e));
        given_state(c).when(&follow_up(true)).then(vec![]);
    }

    #[test]
    fn a_bad_draft_refuses_the_whole_follow_up() {
        let mut bad = follow_up(true);
        if let DraftAuthor::AiWorker { confidence, .. } = &mut bad.propose.author {
            *confidence = f64::NAN;
        }
        assert!(given_state(ctx()).when(&bad).result().is_err());
    }
}
