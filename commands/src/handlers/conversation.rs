//! Conversation commands: drafts, delivery outcomes, sentiment, inbox state.

use crate::error::CommandError;
use crate::ledger::{Committed, Ledger};
use crate::meta::CommandMeta;
use laras_domain::aggregate::conversation::*;
use laras_domain::aggregate::Decide;
use laras_domain::error::DomainError;
use laras_domain::event::{ConversationStatus, DeclineReason, DeliveryStatus, DraftAuthor, ReplyTarget};
use laras_domain::ids::{ConversationId, DraftId, PartnerId, SendId, UserId};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use uuid::Uuid;

impl Ledger {
    /// Runs a decision on a conversation of `partner`.
    pub async fn on_conversation<C: Decide<State = Conversation> + Sync>(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        command: &C,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Conversation, _>(partner, StreamId::conversation(conversation), command, meta).await
    }

    pub async fn conversation(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
    ) -> Result<Conversation, CommandError> {
        let loaded = self.load_owned::<Conversation>(partner, &StreamId::conversation(conversation)).await?;
        if !loaded.state.exists() {
            return Err(DomainError::ConversationNotFound.into());
        }
        Ok(loaded.state)
    }

    /// Proposes a draft; its body is sealed under the conversation's contact key.
    pub async fn propose_draft(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        author: DraftAuthor,
        text: &str,
        target: ReplyTarget,
        meta: &CommandMeta,
    ) -> Result<(DraftId, Committed), CommandError> {
        laras_domain::error::require_text("draft", text, 4096)?;
        let contact =
            self.conversation(partner, conversation).await?.contact.ok_or(DomainError::ConversationNotFound)?;
        let draft_id = DraftId(Uuid::now_v7());
        let command = ProposeDraft { draft_id, author, body: self.seal(partner, contact, text)?, target };
        Ok((draft_id, self.on_conversation(partner, conversation, &command, meta).await?))
    }

    pub async fn decline_draft(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        in_reply_to: Option<String>,
        reason: DeclineReason,
        generator: &str,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = DeclineDraft { in_reply_to, reason, generator: generator.to_owned() };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn edit_draft(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        draft: DraftId,
        text: &str,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        laras_domain::error::require_text("draft", text, 4096)?;
        let contact =
            self.conversation(partner, conversation).await?.contact.ok_or(DomainError::ConversationNotFound)?;
        let command = EditDraft { draft_id: draft, body: self.seal(partner, contact, text)? };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn approve_draft(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        draft: DraftId,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &ApproveDraft { draft_id: draft }, meta).await
    }

    pub async fn reject_draft(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        draft: DraftId,
        reason: Option<String>,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &RejectDraft { draft_id: draft, reason }, meta).await
    }

    pub async fn record_sent(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        send: SendId,
        platform_message_id: &str,
        at: Timestamp,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = RecordSent {
            send_id: send,
            platform_message_id: platform_message_id.to_owned(),
            at,
            evidence: laras_domain::event::SendEvidence::GraphApiAnswer,
        };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn record_send_failed(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        send: SendId,
        code: i64,
        title: &str,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = RecordSendFailed { send_id: send, code, title: title.chars().take(300).collect() };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn record_delivery_status(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        platform_message_id: &str,
        status: DeliveryStatus,
        at: Timestamp,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = RecordDeliveryStatus { platform_message_id: platform_message_id.to_owned(), status, at };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn mark_window_closed(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        code: i64,
        at: Timestamp,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &MarkWindowClosed { code, at }, meta).await
    }

    pub async fn skip_follow_up(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        opportunity: laras_domain::ids::OpportunityId,
        reason: laras_domain::event::RefusalReason,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = laras_domain::aggregate::conversation::SkipFollowUp { opportunity_id: opportunity, reason };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn score_sentiment(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        channel_message_id: &str,
        score: f64,
        scorer: &str,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command =
            ScoreSentiment { channel_message_id: channel_message_id.to_owned(), score, scorer: scorer.to_owned() };
        self.on_conversation(partner, conversation, &command, meta).await
    }

    pub async fn change_conversation_status(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        status: ConversationStatus,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &ChangeConversationStatus { status }, meta).await
    }

    pub async fn assign_conversation(
        &self,
        partner: PartnerId,
        conversation: ConversationId,
        assignee: Option<UserId>,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.on_conversation(partner, conversation, &AssignConversation { assignee }, meta).await
    }
}
