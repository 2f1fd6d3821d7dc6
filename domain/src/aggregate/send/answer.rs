//! The AI worker's answer to one customer message, decided as one: the message's sentiment
//! score, then either nothing, a declined draft, or a draft and (under autopilot) its send
//! request. Recorded in one append, so a crash or a change of the worker's lease leaves a
//! message either untouched, to be answered by the next run, or fully answered; never
//! scored but unanswered, which a next run would pass over. A message already scored is
//! answered already: nothing more is decided.

use super::{RequestSend, SendContext};
use crate::aggregate::conversation::{DeclineDraft, ProposeDraft, ScoreSentiment};
use crate::aggregate::{Aggregate, Decide};
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::time::Timestamp;

/// What follows the score.
pub enum AiReply {
    /// Approval is off, or the message is for a person (a keyword, no words to answer).
    Nothing,
    Decline(DeclineDraft),
    /// A draft; `send` under autopilot when the customer is not upset.
    Draft {
        propose: Box<ProposeDraft>,
        send: Option<Box<RequestSend>>,
    },
}

pub struct AnswerMessage {
    pub score: ScoreSentiment,
    pub reply: AiReply,
}

impl Decide for AnswerMessage {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if ctx.conversation.scored.contains(&self.score.channel_message_id) {
            return Ok(vec![]);
        }
        let mut after = ctx.clone();
        let mut events = Vec::new();
        let mut take = |decided: Vec<DomainEvent>, state: &mut SendContext| {
            decided.iter().for_each(|e| state.conversation.apply(e));
            events.extend(decided);
        };
        take(self.score.decide(&after.conversation, now)?, &mut after);
        match &self.reply {
            AiReply::Nothing => {}
            AiReply::Decline(decline) => take(decline.decide(&after.conversation, now)?, &mut after),
            AiReply::Draft { propose, send } => {
                take(propose.decide(&after.conversation, now)?, &mut after);
                if let Some(send) = send {
                    // A refusal (window, opt-out) is recorded with the rest, as a send would.
                    take(send.decide(&after, now)?, &mut after);
                }
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendSource;
    use super::*;
    use crate::aggregate::contact::Contact;
    use crate::aggregate::conversation::tests::{inbound, sealed};
    use crate::aggregate::conversation::Conversation;
    use crate::aggregate::partner::{default_pipeline, Partner};
    use crate::blind::{BlindIndex, IdentityKind};
    use crate::channel::ChannelKind;
    use crate::event::{ApprovalMode, DeclineReason, DraftAuthor, RefusalReason, ReplyTarget};
    use crate::ids::*;
    use crate::testing::{given_state, TEST_NOW};
    use crate::time::Span;
    use uuid::Uuid;

    const DRAFT: DraftId = DraftId(Uuid::from_u128(70));

    fn ctx(mode: ApprovalMode) -> SendContext {
        let partner = Partner::from_events(&[
            DomainEvent::PartnerOnboarded {
                partner_id: PartnerId(Uuid::from_u128(1)),
                name: "Toko".into(),
                approval: mode,
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
        let opened = inbound("wamid.1", TEST_NOW).decide(&Conversation::default(), TEST_NOW).expect("opens");
        SendContext { partner, contact, conversation: Conversation::from_events(&opened) }
    }

    fn score() -> ScoreSentiment {
        ScoreSentiment { channel_message_id: "wamid.1".into(), score: 0.2, scorer: "lexicon".into() }
    }

    fn drafted(send: bool) -> AnswerMessage {
        let propose = ProposeDraft {
            draft_id: DRAFT,
            author: DraftAuthor::AiWorker {
                generator: "embedded".into(),
                model: "bm25".into(),
                prompt_hash: "h".into(),
                article_ids: vec![],
                confidence: 0.9,
                latency_ms: 3,
            },
            body: sealed("Ada, kak"),
            target: ReplyTarget::Conversation { quote: None },
        };
        let send = send.then(|| {
            Box::new(RequestSend {
                send_id: SendId(Uuid::from_u128(71)),
                source: SendSource::Draft(DRAFT),
                template: None,
                marketing: false,
                media: None,
            })
        });
        AnswerMessage { score: score(), reply: AiReply::Draft { propose: Box::new(propose), send } }
    }

    #[test]
    fn under_autopilot_the_score_the_draft_and_its_send_are_one_decision() {
        let events = given_state(ctx(ApprovalMode::Autopilot)).when(&drafted(true)).events();
        assert!(
            matches!(
                &events[..],
                [
                    DomainEvent::SentimentScored { .. },
                    DomainEvent::DraftProposed { draft_id: DRAFT, .. },
                    DomainEvent::ReplySendRequested { draft_id: Some(DRAFT), .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn a_message_already_scored_is_answered_already_and_nothing_more_is_decided() {
        let mut c = ctx(ApprovalMode::Autopilot);
        let first = given_state(c.clone()).when(&drafted(true)).events();
        first.iter().for_each(|e| c.conversation.apply(e));
        given_state(c.clone()).when(&drafted(true)).then(vec![]);
        // However the second run would have answered.
        let decline = AnswerMessage {
            score: score(),
            reply: AiReply::Decline(DeclineDraft {
                in_reply_to: Some("wamid.1".into()),
                reason: DeclineReason::LowConfidence,
                generator: "embedded".into(),
            }),
        };
        given_state(c).when(&decline).then(vec![]);
    }

    #[test]
    fn a_refused_send_is_recorded_with_the_score_and_the_draft() {
        // Past the 24-hour window WhatsApp needs a template: refused, and the refusal is part of the answer.
        let late = TEST_NOW.plus(Span::hours(25));
        let events = given_state(ctx(ApprovalMode::Autopilot)).at(late).when(&drafted(true)).events();
        assert!(
            matches!(
                &events[..],
                [
                    DomainEvent::SentimentScored { .. },
                    DomainEvent::DraftProposed { .. },
                    DomainEvent::SendRefused { reason: RefusalReason::TemplateRequired { .. }, .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn a_bad_part_refuses_the_whole_answer() {
        let mut bad = drafted(true);
        bad.score.score = 3.0;
        assert!(given_state(ctx(ApprovalMode::Autopilot)).when(&bad).result().is_err());
        let nothing = AnswerMessage { score: score(), reply: AiReply::Nothing };
        let events = given_state(ctx(ApprovalMode::Off)).when(&nothing).events();
        assert!(matches!(&events[..], [DomainEvent::SentimentScored { .. }]), "{events:?}");
    }
}
