//! The AI worker: follows the log, learns each Partner's knowledge from its article
//! events, and answers each new customer message: scores its sentiment, declines what
//! is outside the Partner's business, asks the generator for a grounded draft, and
//! under autopilot requests the send when confidence is high and the customer is not
//! upset. Every step is an event, so the audit trail shows what produced each reply.
//!
//! A message is handled once: its score, its draft or decline and (under autopilot) its
//! send request are decided together and recorded in one append ([`AnswerMessage`]), and
//! a message already scored is skipped. A crash, or the worker's lease moving to another
//! node, leaves a message either fully answered or untouched, and the next run answers an
//! untouched one: never twice (a node that lost its lease and answers late finds the
//! message scored when its append's version check makes it decide again), never left
//! scored but unanswered.
//!
//! Under supervision ([`WorkerProcess`]) it resumes from its checkpoint and drafts for
//! several conversations at once (bounded), in order within each.

mod follow_up;
mod port;
mod preview;
mod process;

pub use follow_up::{FollowUpBook, FollowUps, FOLLOW_UP};
pub use port::{
    Article, DraftGenerator, DraftRequest, GeneratedDraft, KnowledgeBase, Passage, SentimentScorer, Turn, WorkerError,
};
use preview::Proposal;
pub use preview::{Preview, PreviewOutcome};
pub use process::{FollowUpProcess, WorkerProcess, AI_WORKER, FOLLOW_UPS};

use crate::error::CommandError;
use crate::meta::CommandMeta;
use crate::store::StoredEnvelope;
use crate::Ledger;
use laras_domain::actor::Actor;
use laras_domain::aggregate::conversation::{Conversation, DeclineDraft, ProposeDraft, ScoreSentiment};
use laras_domain::aggregate::send::{AiReply, AnswerMessage, RequestSend, SendSource};
use laras_domain::event::{ApprovalMode, DeclineReason, DomainEvent, DraftAuthor, MessageContent, ReplyTarget};
use laras_domain::ids::{ConversationId, DraftId, PartnerId, SendId};
use laras_domain::policy::{keywords, purpose};
use laras_domain::time::Span;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// A customer message scored at or below this is upset: nothing goes out to them
/// without a person, and the inbox flags the conversation.
pub const NEGATIVE_AT_OR_BELOW: f64 = -0.3;

/// When the worker answers by itself.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSettings {
    /// Below this confidence the worker proposes nothing and a person answers.
    pub confidence_threshold: f64,
    /// At or below this sentiment nothing is sent without a person's approval.
    pub negative_at_or_below: f64,
    /// Messages older than this when the worker sees them are not answered (after a
    /// long outage, the customer-service window has closed anyway).
    pub max_age: Span,
    /// How many passages the generator is given.
    pub passages: usize,
    /// How many earlier messages of the conversation the generator is given.
    pub history: usize,
    /// How many conversations are drafted for at once (each one's messages in order).
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            confidence_threshold: 0.5,
            negative_at_or_below: -0.3,
            max_age: Span(24 * 3_600_000),
            passages: 3,
            history: 6,
            concurrency: 8,
        }
    }
}

#[derive(Clone)]
pub struct AiWorker {
    pub ledger: Ledger,
    pub knowledge: Arc<dyn KnowledgeBase>,
    pub generator: Arc<dyn DraftGenerator>,
    pub sentiment: Arc<dyn SentimentScorer>,
    pub settings: WorkerSettings,
}

/// What an event asks of the worker.
enum Seen {
    Learn(Lesson),
    Answer(Box<Inbound>),
    Nothing,
}

#[derive(Clone)]
enum Lesson {
    Publish(Article),
    Retire(laras_domain::ids::ArticleId),
}

/// Events of a conversation read back first for its history (receipts, statuses and
/// drafts sit between the customer's messages).
const HISTORY_WINDOW: u64 = 64;

/// A customer's message the worker may answer.
#[derive(Clone)]
struct Inbound {
    partner: PartnerId,
    conversation: ConversationId,
    channel_message_id: String,
    content: MessageContent,
    event: uuid::Uuid,
    /// Its version in the conversation's stream: the history is read back from there.
    version: u64,
}

impl AiWorker {
    /// Handles everything up to the log's head (tests and CLI commands).
    pub async fn catch_up(&self) -> Result<(), WorkerError> {
        let mut after = 0;
        loop {
            let batch = self.ledger.store.read_all(after, 2_000).await?;
            let Some(last) = batch.last().map(|s| s.position) else { return Ok(()) };
            self.apply(&batch).await?;
            after = last;
        }
    }

    async fn apply(&self, batch: &[StoredEnvelope]) -> Result<(), WorkerError> {
        let mut inbound = Vec::new();
        let mut learned = false;
        for stored in batch {
            match self.read(stored) {
                Ok(Seen::Learn(lesson)) => {
                    self.learn(stored.envelope.header.partner_id, lesson)?;
                    learned = true;
                }
                Ok(Seen::Answer(message)) => inbound.push(message),
                Ok(Seen::Nothing) | Err(_) => {}
            }
        }
        // A commit per batch would put an index flush on every live message.
        if learned {
            self.knowledge.commit()?;
        }
        for message in inbound {
            if let Err(e) = self.answer(&message).await {
                // One message's failure must not stop the worker; a person still sees it.
                tracing::warn!(error = %e, partner = %message.partner, "the AI worker could not handle a message");
            }
        }
        Ok(())
    }

    /// What an event asks of the worker.
    fn read(&self, stored: &StoredEnvelope) -> Result<Seen, laras_domain::event::DecodeError> {
        let h = &stored.envelope.header;
        // Most of the log is none of the worker's business: no need to decode it.
        if !matches!(
            h.event_type.as_str(),
            "KnowledgeArticlePublished" | "KnowledgeArticleRetired" | "InboundMessageReceived"
        ) {
            return Ok(Seen::Nothing);
        }
        let oldest = self.ledger.clock.now().0 - self.settings.max_age.0;
        Ok(match stored.envelope.event()? {
            DomainEvent::KnowledgeArticlePublished { article_id, kind, title, body, tags } => {
                Seen::Learn(Lesson::Publish(Article { id: article_id, kind, title, body, tags }))
            }
            DomainEvent::KnowledgeArticleRetired { article_id } => Seen::Learn(Lesson::Retire(article_id)),
            // Standby messages belong to the app that holds the thread; reactions, echoes and
            // system notices are other event types and never reach here.
            DomainEvent::InboundMessageReceived { channel_message_id, content, context, .. }
                if matches!(h.actor, Actor::Customer { .. }) && h.recorded_at.0 >= oldest && !context.is_standby() =>
            {
                let conversation = h.stream_id.as_str().strip_prefix("conversation-").and_then(|c| c.parse().ok());
                match conversation {
                    Some(c) => Seen::Answer(Box::new(Inbound {
                        partner: h.partner_id,
                        conversation: ConversationId(c),
                        channel_message_id,
                        content,
                        event: h.event_id.0,
                        version: h.stream_version,
                    })),
                    None => Seen::Nothing,
                }
            }
            _ => Seen::Nothing,
        })
    }

    fn learn(&self, partner: PartnerId, lesson: Lesson) -> Result<(), WorkerError> {
        match lesson {
            Lesson::Publish(article) => self.knowledge.publish(partner, article),
            Lesson::Retire(article) => self.knowledge.retire(partner, article),
        }
    }

    /// The conversation's last readable messages before `m`: the customer's, and the
    /// drafts proposed to them.
    async fn history(&self, m: &Inbound) -> Result<Vec<Turn>, WorkerError> {
        // A window of the stream just before `m`, widened until it holds enough turns or
        // reaches the start: reading the whole stream for every message would make each
        // draft of a long conversation cost more than the one before.
        let mut window = HISTORY_WINDOW.max(4 * self.settings.history as u64);
        loop {
            let from = m.version.saturating_sub(window);
            let turns = self.turns_from(m, from).await?;
            if turns.len() >= self.settings.history || from == 0 {
                let skip = turns.len().saturating_sub(self.settings.history);
                return Ok(turns[skip..].to_vec());
            }
            window = window.saturating_mul(4);
        }
    }

    /// The readable turns of `m`'s conversation from stream version `from` up to `m`.
    async fn turns_from(&self, m: &Inbound, from: u64) -> Result<Vec<Turn>, WorkerError> {
        let stream = laras_domain::stream::StreamId::conversation(m.conversation);
        let mut turns = Vec::new();
        for stored in self.ledger.store.read_stream(&stream, from).await? {
            if stored.envelope.header.event_id.0 == m.event {
                break;
            }
            // An unreadable (erased) message is left out, not an error.
            match stored.envelope.event() {
                Ok(DomainEvent::InboundMessageReceived { content, .. }) => {
                    if let Ok(Some(text)) = self.customer_words(&content) {
                        turns.push(Turn { from_customer: true, text });
                    }
                }
                Ok(DomainEvent::DraftProposed { body, .. }) => {
                    if let Ok(Some(text)) = self.ledger.open(&body) {
                        turns.push(Turn { from_customer: false, text });
                    }
                }
                _ => continue,
            }
        }
        Ok(turns)
    }

    /// What the customer said, in words: a text, a tapped button, list row, quick reply or
    /// postback (its title, else its payload), a Flow's answers, or a media caption.
    fn customer_words(&self, content: &MessageContent) -> Result<Option<String>, CommandError> {
        let words = match content {
            MessageContent::Text { body } => self.ledger.open(body)?,
            MessageContent::InteractiveReply { title, .. } => self.ledger.open(title)?,
            MessageContent::ButtonReply { text, payload } => {
                self.ledger.open(text)?.filter(|t| !t.trim().is_empty()).or_else(|| Some(payload.clone()))
            }
            MessageContent::FlowReply { response, .. } => {
                self.ledger.open(response)?.map(|json| laras_domain::event::flow_answers(&json).join("\n"))
            }
            MessageContent::Image { caption: Some(c), .. } | MessageContent::Attachment { caption: Some(c), .. } => {
                self.ledger.open(c)?
            }
            _ => None,
        };
        Ok(words.filter(|w| !w.trim().is_empty()))
    }

    async fn answer(&self, m: &Inbound) -> Result<(), CommandError> {
        let conversation = self.ledger.conversation(m.partner, m.conversation).await?;
        if conversation.scored.contains(&m.channel_message_id) {
            return Ok(());
        }
        if conversation.held_elsewhere {
            // Another app holds the thread (Messenger handover): it answers, not Laras.
            return Ok(());
        }
        // An erased contact's message can no longer be read, and is not answered; a message
        // with no words (a sticker, a location) is left to a person.
        let Some(text) = self.customer_words(&m.content)? else { return Ok(()) };
        let score = self.sentiment.score(&text).clamp(-1.0, 1.0);
        let scorer = self.sentiment.name().to_owned();
        let channel = conversation.channel.ok_or(laras_domain::error::DomainError::ConversationNotFound)?;
        let mode = self.ledger.partner(m.partner).await?.approval_mode(channel);
        let (reply, actor) = if mode == ApprovalMode::Off || keywords::detect(&text).is_some() {
            (AiReply::Nothing, scorer.clone())
        } else {
            (self.reply(m, &text, score, mode, &conversation).await?, self.generator.name().to_owned())
        };
        let answer = AnswerMessage {
            score: ScoreSentiment { channel_message_id: m.channel_message_id.clone(), score, scorer },
            reply,
        };
        let meta = CommandMeta::new(Actor::AiWorker { generator: actor }).caused_by(m.event);
        self.ledger.answer_message(m.partner, m.conversation, &answer, &meta).await?;
        Ok(())
    }

    /// The draft the generator proposes for `text` from the Partner's knowledge, or why
    /// there is none. `reply` and `preview` both decide here, so "ask Laras" shows what
    /// the worker would really propose. With `history`, the conversation before that
    /// message is given too.
    async fn proposal(&self, partner: PartnerId, text: &str, history: Option<&Inbound>) -> Proposal {
        if purpose::off_topic(text).is_some() {
            return Proposal { passages: Vec::new(), outcome: Err(DeclineReason::OffTopic) };
        }
        let passages = match self.knowledge.search(partner, text, self.settings.passages) {
            Ok(p) => p,
            Err(e) => return Proposal::unavailable(Vec::new(), &e),
        };
        let history = match history {
            Some(m) => match self.history(m).await {
                Ok(h) => h,
                Err(e) => return Proposal::unavailable(passages, &e),
            },
            None => Vec::new(),
        };
        let request = DraftRequest { question: text.to_owned(), passages: passages.clone(), history };
        let outcome = match self.generator.generate(&request).await {
            Ok(Some(d)) if d.confidence >= self.settings.confidence_threshold => Ok(d),
            Ok(_) => Err(DeclineReason::LowConfidence),
            Err(e) => return Proposal::unavailable(passages, &e),
        };
        Proposal { passages, outcome }
    }

    /// What follows the score for a message the worker may answer: a declined draft, or a
    /// draft and, under autopilot for a customer who is not upset, its send.
    async fn reply(
        &self,
        m: &Inbound,
        text: &str,
        score: f64,
        mode: ApprovalMode,
        conversation: &Conversation,
    ) -> Result<AiReply, CommandError> {
        let generator = self.generator.name().to_owned();
        let decline = |reason| {
            AiReply::Decline(DeclineDraft {
                in_reply_to: Some(m.channel_message_id.clone()),
                reason,
                generator: generator.clone(),
            })
        };
        let started = Instant::now();
        let proposal = self.proposal(m.partner, text, Some(m)).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let draft = match proposal.outcome {
            Ok(d) => d,
            Err(reason) => return Ok(decline(reason)),
        };
        laras_domain::error::require_text("draft", &draft.text, 4096)?;
        let contact = conversation.contact.ok_or(laras_domain::error::DomainError::ConversationNotFound)?;
        let author = DraftAuthor::AiWorker {
            generator: generator.clone(),
            model: draft.model.clone(),
            prompt_hash: draft.prompt_hash.clone(),
            article_ids: draft.article_ids.clone(),
            confidence: draft.confidence,
            latency_ms,
        };
        let propose = ProposeDraft {
            draft_id: DraftId(Uuid::now_v7()),
            author,
            body: self.ledger.seal(m.partner, contact, &draft.text)?,
            target: ReplyTarget::Conversation { quote: None },
        };
        let autopilot = mode == ApprovalMode::Autopilot && score > self.settings.negative_at_or_below;
        let send = autopilot.then(|| {
            Box::new(RequestSend {
                send_id: SendId(Uuid::now_v7()),
                source: SendSource::Draft(propose.draft_id),
                template: None,
                marketing: false,
                media: None,
            })
        });
        Ok(AiReply::Draft { propose: Box::new(propose), send })
    }
}
