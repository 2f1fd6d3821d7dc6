//! Asking for a reply to go out: the policy check, and its refusal recorded when it says no.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use crate::outbox::SendRef;
use laras_domain::aggregate::contact::Contact;
use laras_domain::aggregate::conversation::Conversation;
use laras_domain::aggregate::conversation::RecordSent;
use laras_domain::aggregate::partner::Partner;
use laras_domain::aggregate::partner::SetInDoubtPolicy;
use laras_domain::aggregate::send::{
    person_reply_check, refusal_in, AnswerMessage, FollowUpDeal, RequestSend, SendContext, SendSource,
};
use laras_domain::aggregate::send::{ApproveResend, FileSource, MarkSent, ReplyFile};
use laras_domain::aggregate::Decide;
use laras_domain::channel::ChannelKind;
use laras_domain::error::DomainError;
use laras_domain::event::{InDoubtPolicy, MessagingMode, RefusalReason, ReplyTarget, SendEvidence, TemplateRef};
use laras_domain::ids::{ContactId, ConversationId, DraftId, PartnerId, SendId};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use uuid::Uuid;

/// What to send.
#[derive(Clone, Debug)]
pub enum OutgoingReply {
    Draft(DraftId),
    /// A person's own words (plaintext; sealed by the handler).
    Person {
        text: String,
        target: ReplyTarget,
    },
}

/// Parameters a WhatsApp template's body takes at most, with room to spare.
const MAX_TEMPLATE_PARAMETERS: usize = 20;

#[derive(Clone, Debug)]
pub struct SendRequest {
    pub reply: OutgoingReply,
    /// A WhatsApp template (name, language, plaintext body parameters) for outside the window.
    pub template: Option<(String, String, Vec<String>)>,
    pub marketing: bool,
    /// A file to send with a person's reply (kept first: [`crate::media::keep_reply_file`]).
    pub media: Option<FileSource>,
}

impl Ledger {
    /// Requests a send. On a policy refusal the `SendRefused` event is recorded and the
    /// error `PolicyRefused` carries its reason and position.
    pub async fn request_send(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        request: SendRequest,
        meta: &CommandMeta,
    ) -> Result<(SendId, Committed), CommandError> {
        let conv_stream = StreamId::conversation(conversation);
        let contact_id =
            self.conversation(partner, conversation).await?.contact.ok_or(DomainError::ConversationNotFound)?;
        let source = match &request.reply {
            OutgoingReply::Draft(id) => SendSource::Draft(*id),
            OutgoingReply::Person { text, target } => {
                // A file may go alone; words beside it are its caption.
                if request.media.is_none() || !text.is_empty() {
                    laras_domain::error::require_text("reply", text, 4096)?;
                }
                SendSource::PersonReply { body: self.seal(partner, contact_id, text)?, target: target.clone() }
            }
        };
        let media = match (&request.media, &request.reply) {
            (None, _) => None,
            (Some(source), OutgoingReply::Person { text, .. }) => {
                Some(ReplyFile { source: source.clone(), captioned: !text.trim().is_empty() })
            }
            (Some(_), OutgoingReply::Draft(_)) => {
                return Err(DomainError::BadInput { field: "media", reason: "a draft carries no file".into() }.into())
            }
        };
        let template = request.template.as_ref().map(|t| self.seal_template(partner, contact_id, t)).transpose()?;
        let send_id = SendId(Uuid::now_v7());
        let command = RequestSend { send_id, source, template, marketing: request.marketing, media };
        let (committed, refusal) = self
            .with_retry(|| async {
                let conv = self.load_owned::<Conversation>(partner, &conv_stream).await?;
                let ctx = SendContext {
                    partner: self.load::<Partner>(&StreamId::partner(partner)).await?.state,
                    contact: self.load::<Contact>(&StreamId::contact(contact_id)).await?.state,
                    conversation: conv.state.clone(),
                };
                let events = command.decide(&ctx, self.clock.now())?;
                let refusal = refusal_in(&events).cloned();
                let committed = self
                    .commit(partner, vec![Decided::new(conv_stream.clone(), &conv, events)], meta, &EventIds::Fresh)
                    .await?;
                Ok((committed, refusal))
            })
            .await?;
        match refusal {
            Some(reason) => Err(CommandError::PolicyRefused { reason, position: committed.last_position() }),
            None => Ok((send_id, committed)),
        }
    }

    /// Whether a person's reply to `target` would go out now, by the same policy as
    /// [`Ledger::request_send`]; nothing is written, and the text is not sealed (the
    /// policy never reads it, and sealing would create the contact's key).
    pub async fn check_reply(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        target: &ReplyTarget,
    ) -> Result<Result<MessagingMode, RefusalReason>, CommandError> {
        let conv = self.load_owned::<Conversation>(partner, &StreamId::conversation(conversation)).await?;
        let contact_id = conv.state.contact.ok_or(DomainError::ConversationNotFound)?;
        let ctx = SendContext {
            partner: self.load::<Partner>(&StreamId::partner(partner)).await?.state,
            contact: self.load::<Contact>(&StreamId::contact(contact_id)).await?.state,
            conversation: conv.state,
        };
        Ok(person_reply_check(&ctx, target, self.clock.now())?)
    }

    /// A template's name and language with its parameters sealed under the contact's key.
    pub(crate) fn seal_template(
        &self,
        partner: PartnerId,
        contact: ContactId,
        (name, language, params): &(String, String, Vec<String>),
    ) -> Result<TemplateRef, CommandError> {
        // A person names the template in the console; Meta refuses what it does not know,
        // but a name that is not one short line is refused here, before anything is sealed.
        laras_domain::error::require_line("template.name", name, 512)?;
        laras_domain::error::require_line("template.language", language, 16)?;
        if params.len() > MAX_TEMPLATE_PARAMETERS {
            return Err(DomainError::bad_input("template.parameters", "at most 20 parameters").into());
        }
        for p in params {
            laras_domain::error::require_text("template.parameters", p, 1024)?;
        }
        Ok(TemplateRef {
            name: name.clone(),
            language: language.clone(),
            parameters: params.iter().map(|p| self.seal(partner, contact, p)).collect::<Result<_, _>>()?,
        })
    }

    /// Records the AI worker's answer to one message in one append ([`AnswerMessage`]): a
    /// refused send is recorded with the rest, not returned as an error. Nothing is written
    /// when the message was answered already.
    pub async fn answer_message(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        answer: &AnswerMessage,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.decide_with_send_context(partner, conversation, answer, meta).await
    }

    /// Records a follow-up's draft and its send request in one append ([`FollowUpDeal`]),
    /// a refusal with them; nothing when it was decided already.
    pub async fn follow_up_deal(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        follow_up: &FollowUpDeal,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.decide_with_send_context(partner, conversation, follow_up, meta).await
    }

    /// One decision over the conversation and what its sends depend on (the Partner, the
    /// contact), appended to the conversation's stream.
    async fn decide_with_send_context(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        command: &impl Decide<State = SendContext>,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let conv_stream = StreamId::conversation(conversation);
        self.with_retry(|| async {
            let conv = self.load_owned::<Conversation>(partner, &conv_stream).await?;
            let contact = conv.state.contact.ok_or(DomainError::ConversationNotFound)?;
            let ctx = SendContext {
                partner: self.load::<Partner>(&StreamId::partner(partner)).await?.state,
                contact: self.load::<Contact>(&StreamId::contact(contact)).await?.state,
                conversation: conv.state.clone(),
            };
            let events = command.decide(&ctx, self.clock.now())?;
            if events.is_empty() {
                return Ok(Committed::default());
            }
            self.commit(partner, vec![Decided::new(conv_stream.clone(), &conv, events)], meta, &EventIds::Fresh).await
        })
        .await
    }
}

impl Ledger {
    /// A webhook carried a send's reference (a WhatsApp status, a Messenger or Instagram
    /// echo): the platform has the message. Settles the send as sent, in doubt or not; a
    /// reference that is not this Partner's, or a send already settled, changes nothing.
    pub async fn confirm_sent(
        &self,
        partner: PartnerId,
        send_ref: SendRef,
        platform_message_id: &str,
        at: Timestamp,
        evidence: SendEvidence,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command =
            RecordSent { send_id: send_ref.send, platform_message_id: platform_message_id.to_owned(), at, evidence };
        match self.on_conversation(partner, send_ref.conversation, &command, meta).await {
            Err(CommandError::Domain(
                DomainError::SendAlreadySettled(_) | DomainError::SendNotFound(_) | DomainError::BadInput { .. },
            ))
            | Err(CommandError::ForeignStream) => Ok(Committed::default()),
            other => other,
        }
    }

    /// A person saw that a held reply did not reach the customer: send it again.
    pub async fn approve_resend(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        send_id: SendId,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &ApproveResend { send_id }, meta).await
    }

    /// A person saw a reply in doubt in the customer's thread: it is settled as sent.
    pub async fn mark_sent(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        send_id: SendId,
        platform_message_id: Option<String>,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &MarkSent { send_id, platform_message_id }, meta).await
    }

    /// Chooses what happens to the channel's sends left in doubt past their bound.
    pub async fn set_in_doubt_policy(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        policy: InDoubtPolicy,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = SetInDoubtPolicy { channel, policy };
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }
}
