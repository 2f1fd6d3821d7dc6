//! The Conversation: what the customer said, what was drafted, approved and sent.

use super::{Aggregate, Decide};
use crate::channel::ChannelKind;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::*;
use crate::policy::window::WindowFacts;
use crate::sealed::Sealed;
use crate::time::{Span, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DraftStatus {
    Pending,
    Approved,
    Rejected,
    /// A send was requested for it; it is spent.
    Sent,
}

#[derive(Clone, PartialEq, Debug)]
pub struct DraftState {
    pub status: DraftStatus,
    pub automated: bool,
    pub body: Sealed,
    pub target: ReplyTarget,
}

#[derive(Clone, PartialEq, Debug)]
pub enum SendOutcome {
    Sent {
        platform_message_id: String,
        at: Timestamp,
    },
    Failed {
        code: i64,
    },
    /// The outbox's last-moment policy check said no.
    Refused,
}

#[derive(Clone, PartialEq, Debug)]
pub struct SendState {
    pub draft: Option<DraftId>,
    pub target: ReplyTarget,
    pub mode: MessagingMode,
    pub outcome: Option<SendOutcome>,
    /// Attempts started so far (the latest attempt's number).
    pub attempts: u32,
    /// The latest attempt, while it started and nothing says how it ended. Seen after a
    /// restart, it is in doubt: the platform may have accepted it (ADR 010).
    pub open_attempt: Option<OpenAttempt>,
    /// Held in doubt for a person.
    pub held: bool,
    /// A person approved re-sending the held attempt.
    pub resend_approved: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OpenAttempt {
    pub attempt: u32,
    pub at: Timestamp,
}

impl SendState {
    fn new(draft: Option<DraftId>, target: ReplyTarget, mode: MessagingMode) -> Self {
        Self {
            draft,
            target,
            mode,
            outcome: None,
            attempts: 0,
            open_attempt: None,
            held: false,
            resend_approved: false,
        }
    }

    /// The attempt with no outcome, if the send is not settled.
    pub fn unresolved_attempt(&self) -> Option<OpenAttempt> {
        if self.outcome.is_some() {
            return None;
        }
        self.open_attempt
    }

    fn settle(&mut self, outcome: SendOutcome) {
        self.outcome = Some(outcome);
        self.open_attempt = None;
        self.held = false;
        self.resend_approved = false;
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommentState {
    pub at: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversation {
    pub id: Option<ConversationId>,
    pub contact: Option<ContactId>,
    pub channel: Option<ChannelKind>,
    pub account_id: String,
    pub thread: Option<ThreadRef>,
    pub window: WindowFacts,
    pub inbound_ids: BTreeSet<String>,
    pub echo_ids: BTreeSet<String>,
    pub reaction_ids: BTreeSet<String>,
    /// The current reaction on each message, by message id (a removed one is gone).
    pub reactions: BTreeMap<String, Sealed>,
    pub notice_ids: BTreeSet<String>,
    /// Another app holds the thread (Messenger handover): Laras records and does not answer.
    pub held_elsewhere: bool,
    pub comments: BTreeMap<String, CommentState>,
    pub drafts: BTreeMap<DraftId, DraftState>,
    pub sends: BTreeMap<SendId, SendState>,
    pub delivery: BTreeMap<String, DeliveryStatus>,
    pub scored: BTreeSet<String>,
    /// Files whose fetch ended (stored or unavailable), by message id and attachment.
    pub media: BTreeSet<(String, u32)>,
    /// The files kept (customers' and the ones replies carried), which a reply may send again.
    pub files: BTreeMap<MessageFile, StoredFile>,
    pub status: Option<ConversationStatus>,
    pub assignee: Option<UserId>,
}

/// A kept file of the conversation: where the media store has it and what it is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredFile {
    pub object: String,
    pub size: u64,
    pub mime: String,
}

impl Conversation {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// A comment has its private reply once one was requested and did not fail.
    pub fn comment_answered(&self, comment_id: &str) -> bool {
        self.sends.values().any(|s| {
            matches!(&s.target, ReplyTarget::CommentPrivateReply { comment_id: c } if c == comment_id)
                && !matches!(s.outcome, Some(SendOutcome::Failed { .. } | SendOutcome::Refused))
        })
    }

    /// How a requested send was to go out.
    pub fn requested_mode(&self, send: SendId) -> Option<MessagingMode> {
        self.sends.get(&send).map(|s| s.mode)
    }

    fn knows_message(&self, id: &str) -> bool {
        self.inbound_ids.contains(id) || self.comments.contains_key(id)
    }
}

impl Aggregate for Conversation {
    fn apply(&mut self, event: &DomainEvent) {
        use DomainEvent::*;
        match event {
            ConversationOpened { conversation_id, contact_id, channel, account_id, thread } => {
                self.id = Some(*conversation_id);
                self.contact = Some(*contact_id);
                self.channel = Some(*channel);
                self.account_id = account_id.clone();
                self.thread = Some(thread.clone());
                self.status = Some(ConversationStatus::Open);
            }
            InboundMessageReceived { channel_message_id, sent_at, context, .. } => {
                self.inbound_ids.insert(channel_message_id.clone());
                if context.is_standby() {
                    self.held_elsewhere = true;
                }
                // Out-of-order deliveries: the window runs from the latest message.
                self.window.last_inbound_at = self.window.last_inbound_at.max(Some(*sent_at));
            }
            PublicCommentReceived { comment_id, sent_at, .. } => {
                self.comments.insert(comment_id.clone(), CommentState { at: *sent_at });
            }
            EchoRecorded { channel_message_id, .. } => {
                self.echo_ids.insert(channel_message_id.clone());
            }
            MessageReacted { reaction_id, to_message, emoji, .. } => {
                self.reaction_ids.insert(reaction_id.clone());
                match emoji {
                    Some(e) => self.reactions.insert(to_message.clone(), e.clone()),
                    None => self.reactions.remove(to_message),
                };
            }
            CustomerIdentityChanged { channel_message_id, .. } => {
                self.notice_ids.insert(channel_message_id.clone());
            }
            ThreadControlChanged { held_by_laras, .. } => self.held_elsewhere = !held_by_laras,
            SentimentScored { channel_message_id, .. } => {
                self.scored.insert(channel_message_id.clone());
            }
            MediaStored { channel_message_id, attachment, object, size, mime, .. } => {
                self.media.insert((channel_message_id.clone(), *attachment));
                let file = MessageFile { channel_message_id: channel_message_id.clone(), attachment: *attachment };
                let kept = StoredFile { object: object.clone(), size: *size, mime: mime.clone() };
                self.files.insert(file, kept);
            }
            MediaUnavailable { channel_message_id, attachment, .. } => {
                self.media.insert((channel_message_id.clone(), *attachment));
            }
            DraftProposed { draft_id, author, body, target } => {
                self.drafts.insert(
                    *draft_id,
                    DraftState {
                        status: DraftStatus::Pending,
                        automated: author.is_automated(),
                        body: body.clone(),
                        target: target.clone(),
                    },
                );
            }
            DraftEdited { draft_id, body } => {
                if let Some(d) = self.drafts.get_mut(draft_id) {
                    d.body = body.clone();
                }
            }
            DraftApproved { draft_id } => self.set_draft(draft_id, DraftStatus::Approved),
            DraftRejected { draft_id, .. } => self.set_draft(draft_id, DraftStatus::Rejected),
            ReplySendRequested { send_id, draft_id, target, mode, .. } => {
                if let Some(d) = draft_id {
                    self.set_draft(d, DraftStatus::Sent);
                }
                self.sends.insert(*send_id, SendState::new(*draft_id, target.clone(), *mode));
            }
            ReplySent { send_id, platform_message_id, at, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.settle(SendOutcome::Sent { platform_message_id: platform_message_id.clone(), at: *at });
                }
            }
            ReplySendFailed { send_id, code, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.settle(SendOutcome::Failed { code: *code });
                }
            }
            SendRefused { send_id: Some(send_id), .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.settle(SendOutcome::Refused);
                }
            }
            SendAttemptStarted { send_id, attempt, at, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.attempts = s.attempts.max(*attempt);
                    s.open_attempt = Some(OpenAttempt { attempt: *attempt, at: *at });
                    s.held = false;
                    s.resend_approved = false;
                }
            }
            SendAttemptFailed { send_id, attempt, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    if s.open_attempt.is_some_and(|open| open.attempt == *attempt) {
                        s.open_attempt = None;
                    }
                }
            }
            SendHeldInDoubt { send_id, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.held = s.outcome.is_none();
                }
            }
            InDoubtResendApproved { send_id, .. } => {
                if let Some(s) = self.sends.get_mut(send_id) {
                    s.resend_approved = s.held;
                }
            }
            DeliveryStatusChanged { platform_message_id, status, .. } => {
                self.delivery.insert(platform_message_id.clone(), status.clone());
            }
            WindowClosedByPlatform { at, .. } => {
                self.window.closed_by_platform_at = self.window.closed_by_platform_at.max(Some(*at));
            }
            ConversationStatusChanged { status } => self.status = Some(status.clone()),
            ConversationAssigned { assignee } => self.assignee = *assignee,
            _ => {}
        }
    }
}

impl Conversation {
    fn set_draft(&mut self, id: &DraftId, status: DraftStatus) {
        if let Some(d) = self.drafts.get_mut(id) {
            d.status = status;
        }
    }
}

/// How a conversation is found or started: what the first event records.
#[derive(Clone, PartialEq, Debug)]
pub struct ConversationOrigin {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub channel: ChannelKind,
    pub account_id: String,
    pub thread: ThreadRef,
}

impl ConversationOrigin {
    fn open_if_new(&self, state: &Conversation) -> Vec<DomainEvent> {
        if state.exists() {
            return vec![];
        }
        vec![DomainEvent::ConversationOpened {
            conversation_id: self.conversation_id,
            contact_id: self.contact_id,
            channel: self.channel,
            account_id: self.account_id.clone(),
            thread: self.thread.clone(),
        }]
    }
}

/// A customer's message arrived. The same channel message id is recorded once.
pub struct RecordInboundMessage {
    pub origin: ConversationOrigin,
    pub channel_message_id: String,
    pub sent_at: Timestamp,
    pub content: MessageContent,
    pub reply_to: Option<String>,
    pub context: InboundContext,
}

impl Decide for RecordInboundMessage {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.channel_message_id)?;
        if state.inbound_ids.contains(&self.channel_message_id) {
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::InboundMessageReceived {
            channel_message_id: self.channel_message_id.clone(),
            contact_id: self.origin.contact_id,
            sent_at: self.sent_at,
            content: self.content.clone(),
            reply_to: self.reply_to.clone(),
            context: self.context.clone(),
        });
        Ok(events)
    }
}

/// A customer reacted to a message, or took a reaction back (`emoji` None). Recorded once
/// per reaction id; it opens the conversation if new, but is not a message.
pub struct RecordReaction {
    pub origin: ConversationOrigin,
    pub reaction_id: String,
    pub to_message: String,
    pub emoji: Option<Sealed>,
    pub sent_at: Timestamp,
}

impl Decide for RecordReaction {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.reaction_id)?;
        require_message_id(&self.to_message)?;
        if state.reaction_ids.contains(&self.reaction_id) {
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::MessageReacted {
            reaction_id: self.reaction_id.clone(),
            to_message: self.to_message.clone(),
            contact_id: self.origin.contact_id,
            emoji: self.emoji.clone(),
            sent_at: self.sent_at,
        });
        Ok(events)
    }
}

/// The platform's notice that the customer's identifier changed. Recorded once per notice id.
pub struct RecordIdentityChange {
    pub origin: ConversationOrigin,
    pub channel_message_id: String,
    pub identity: crate::blind::IdentityKind,
    pub value: Sealed,
    pub sent_at: Timestamp,
}

impl Decide for RecordIdentityChange {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.channel_message_id)?;
        if state.notice_ids.contains(&self.channel_message_id) {
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::CustomerIdentityChanged {
            channel_message_id: self.channel_message_id.clone(),
            contact_id: self.origin.contact_id,
            identity: self.identity,
            value: self.value.clone(),
            sent_at: self.sent_at,
        });
        Ok(events)
    }
}

/// Messenger handover: the thread was passed to Laras, or taken by another app. A move to
/// where the thread already is records nothing.
pub struct RecordThreadControl {
    pub origin: ConversationOrigin,
    pub held_by_laras: bool,
    pub app_id: Option<String>,
    pub at: Timestamp,
}

impl Decide for RecordThreadControl {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if state.exists() && state.held_elsewhere != self.held_by_laras {
            return Ok(vec![]);
        }
        if !state.exists() && self.held_by_laras {
            // A new conversation is Laras's already.
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::ThreadControlChanged {
            held_by_laras: self.held_by_laras,
            app_id: self.app_id.clone(),
            at: self.at,
        });
        Ok(events)
    }
}

/// A public comment (or Threads reply) arrived. The same comment id is recorded once.
pub struct RecordPublicComment {
    pub origin: ConversationOrigin,
    pub comment_id: String,
    pub parent_id: Option<String>,
    pub text: Sealed,
    pub sent_at: Timestamp,
}

impl Decide for RecordPublicComment {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.comment_id)?;
        if state.comments.contains_key(&self.comment_id) {
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::PublicCommentReceived {
            comment_id: self.comment_id.clone(),
            contact_id: self.origin.contact_id,
            parent_id: self.parent_id.clone(),
            text: self.text.clone(),
            sent_at: self.sent_at,
        });
        Ok(events)
    }
}

/// The Page sent a message outside Laras (Messenger echo).
pub struct RecordEcho {
    pub origin: ConversationOrigin,
    pub channel_message_id: String,
    pub body: Option<Sealed>,
    pub sent_at: Timestamp,
    pub attachments: Option<Vec<EchoAttachment>>,
}

impl Decide for RecordEcho {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.channel_message_id)?;
        let ours = state.sends.values().any(|s| {
            matches!(&s.outcome, Some(SendOutcome::Sent { platform_message_id, .. }) if *platform_message_id == self.channel_message_id)
        });
        if state.echo_ids.contains(&self.channel_message_id) || ours {
            return Ok(vec![]);
        }
        let mut events = self.origin.open_if_new(state);
        events.push(DomainEvent::EchoRecorded {
            channel_message_id: self.channel_message_id.clone(),
            body: self.body.clone(),
            sent_at: self.sent_at,
            attachments: self.attachments.clone(),
        });
        Ok(events)
    }
}

/// The follow-up process decided not to follow up (opted out, window closed, no
/// template): recorded so the pipeline shows why a quiet customer heard nothing.
pub struct SkipFollowUp {
    pub opportunity_id: OpportunityId,
    pub reason: RefusalReason,
}

impl Decide for SkipFollowUp {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        Ok(vec![DomainEvent::FollowUpSkipped { opportunity_id: self.opportunity_id, reason: self.reason.clone() }])
    }
}

pub struct ScoreSentiment {
    pub channel_message_id: String,
    pub score: f64,
    pub scorer: String,
}

impl Decide for ScoreSentiment {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if !self.score.is_finite() || !(-1.0..=1.0).contains(&self.score) {
            return Err(DomainError::bad_input("score", "must be a number from -1 to 1"));
        }
        if !state.knows_message(&self.channel_message_id) {
            return Err(DomainError::bad_input("channel_message_id", "is not a message of this conversation"));
        }
        if state.scored.contains(&self.channel_message_id) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::SentimentScored {
            channel_message_id: self.channel_message_id.clone(),
            score: self.score,
            scorer: self.scorer.clone(),
        }])
    }
}

/// A fetched file as it is to be recorded.
#[derive(Clone, PartialEq, Debug)]
pub struct StoredMedia {
    pub object: String,
    pub sha256: Sealed,
    pub size: u64,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
}

/// How the fetch of one file of an inbound message ended.
#[derive(Clone, PartialEq, Debug)]
pub enum MediaOutcome {
    Stored(StoredMedia),
    Unavailable(MediaUnavailableReason),
}

/// Records the end of a file's fetch: once per file; a second outcome changes nothing.
pub struct RecordMedia {
    pub channel_message_id: String,
    pub attachment: u32,
    pub outcome: MediaOutcome,
}

impl Decide for RecordMedia {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if !state.inbound_ids.contains(&self.channel_message_id) {
            return Err(DomainError::bad_input("channel_message_id", "is not a message of this conversation"));
        }
        if state.media.contains(&(self.channel_message_id.clone(), self.attachment)) {
            return Ok(vec![]);
        }
        let (channel_message_id, attachment) = (self.channel_message_id.clone(), self.attachment);
        Ok(vec![match &self.outcome {
            MediaOutcome::Stored(m) => {
                let is_digest = m.object.len() == 64 && m.object.bytes().all(|b| b.is_ascii_hexdigit());
                if !is_digest {
                    return Err(DomainError::bad_input("object", "must be a SHA-256 in hex"));
                }
                if !m.mime.contains('/') {
                    return Err(DomainError::bad_input("mime", "must be a MIME type"));
                }
                DomainEvent::MediaStored {
                    channel_message_id,
                    attachment,
                    object: m.object.clone(),
                    sha256: m.sha256.clone(),
                    size: m.size,
                    mime: m.mime.clone(),
                    width: m.width,
                    height: m.height,
                    duration_ms: m.duration_ms,
                }
            }
            MediaOutcome::Unavailable(reason) => {
                DomainEvent::MediaUnavailable { channel_message_id, attachment, reason: reason.clone() }
            }
        }])
    }
}

pub struct ProposeDraft {
    pub draft_id: DraftId,
    pub author: DraftAuthor,
    pub body: Sealed,
    pub target: ReplyTarget,
}

impl Decide for ProposeDraft {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if state.drafts.contains_key(&self.draft_id) {
            return Ok(vec![]);
        }
        if let DraftAuthor::AiWorker { confidence, .. } = &self.author {
            if !confidence.is_finite() || !(0.0..=1.0).contains(confidence) {
                return Err(DomainError::bad_input("confidence", "must be from 0 to 1"));
            }
        }
        Ok(vec![DomainEvent::DraftProposed {
            draft_id: self.draft_id,
            author: self.author.clone(),
            body: self.body.clone(),
            target: self.target.clone(),
        }])
    }
}

pub struct DeclineDraft {
    pub in_reply_to: Option<String>,
    pub reason: DeclineReason,
    pub generator: String,
}

impl Decide for DeclineDraft {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        Ok(vec![DomainEvent::DraftDeclined {
            in_reply_to: self.in_reply_to.clone(),
            reason: self.reason,
            generator: self.generator.clone(),
        }])
    }
}

pub struct EditDraft {
    pub draft_id: DraftId,
    pub body: Sealed,
}

impl Decide for EditDraft {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        pending_draft(state, self.draft_id)?;
        Ok(vec![DomainEvent::DraftEdited { draft_id: self.draft_id, body: self.body.clone() }])
    }
}

pub struct ApproveDraft {
    pub draft_id: DraftId,
}

impl Decide for ApproveDraft {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        pending_draft(state, self.draft_id)?;
        Ok(vec![DomainEvent::DraftApproved { draft_id: self.draft_id }])
    }
}

pub struct RejectDraft {
    pub draft_id: DraftId,
    pub reason: Option<String>,
}

impl Decide for RejectDraft {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        pending_draft(state, self.draft_id)?;
        if let Some(reason) = &self.reason {
            crate::error::require_clean_text("reason", reason, 1000)?;
        }
        Ok(vec![DomainEvent::DraftRejected { draft_id: self.draft_id, reason: self.reason.clone() }])
    }
}

/// The Graph API accepted a send, or a webhook or a person showed that it went out.
/// Recording the same outcome twice records it once.
pub struct RecordSent {
    pub send_id: SendId,
    pub platform_message_id: String,
    pub at: Timestamp,
    pub evidence: SendEvidence,
}

impl Decide for RecordSent {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_message_id(&self.platform_message_id)?;
        let send = state.sends.get(&self.send_id).ok_or(DomainError::SendNotFound(self.send_id))?;
        match &send.outcome {
            None => Ok(vec![DomainEvent::ReplySent {
                send_id: self.send_id,
                platform_message_id: self.platform_message_id.clone(),
                at: self.at,
                evidence: self.evidence,
            }]),
            Some(SendOutcome::Sent { platform_message_id, .. }) if *platform_message_id == self.platform_message_id => {
                Ok(vec![])
            }
            Some(_) => Err(DomainError::SendAlreadySettled(self.send_id)),
        }
    }
}

pub struct RecordSendFailed {
    pub send_id: SendId,
    pub code: i64,
    pub title: String,
}

impl Decide for RecordSendFailed {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = state.sends.get(&self.send_id).ok_or(DomainError::SendNotFound(self.send_id))?;
        match &send.outcome {
            None => Ok(vec![DomainEvent::ReplySendFailed {
                send_id: self.send_id,
                code: self.code,
                title: self.title.clone(),
            }]),
            Some(SendOutcome::Failed { code }) if *code == self.code => Ok(vec![]),
            Some(_) => Err(DomainError::SendAlreadySettled(self.send_id)),
        }
    }
}

/// A delivery status from the platform: sent < delivered < read, forward only;
/// `failed` always applies (once per code).
pub struct RecordDeliveryStatus {
    pub platform_message_id: String,
    pub status: DeliveryStatus,
    pub at: Timestamp,
}

impl Decide for RecordDeliveryStatus {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        require_message_id(&self.platform_message_id)?;
        let current = state.delivery.get(&self.platform_message_id);
        let applies = match (&self.status, current) {
            (_, None) => true,
            (DeliveryStatus::Failed { .. }, Some(cur)) => cur != &self.status,
            (_, Some(DeliveryStatus::Failed { .. })) => false,
            (new, Some(cur)) => new.rank() > cur.rank(),
        };
        if !applies {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::DeliveryStatusChanged {
            platform_message_id: self.platform_message_id.clone(),
            status: self.status.clone(),
            at: self.at,
        }])
    }
}

/// Messenger and Instagram: everything Laras sent up to `watermark` was delivered (or read).
pub struct RecordWatermark {
    pub status: DeliveryStatus,
    pub watermark: Timestamp,
}

impl Decide for RecordWatermark {
    type State = Conversation;
    fn decide(&self, state: &Conversation, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        let mut events = Vec::new();
        for send in state.sends.values() {
            if let Some(SendOutcome::Sent { platform_message_id, at }) = &send.outcome {
                if *at <= self.watermark {
                    let cmd = RecordDeliveryStatus {
                        platform_message_id: platform_message_id.clone(),
                        status: self.status.clone(),
                        at: self.watermark,
                    };
                    events.extend(cmd.decide(state, now)?);
                }
            }
        }
        Ok(events)
    }
}

/// WhatsApp error 131047: the platform says the window is closed.
pub struct MarkWindowClosed {
    pub code: i64,
    pub at: Timestamp,
}

impl Decide for MarkWindowClosed {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if state.window.closed_by_platform_at.is_some_and(|t| t >= self.at) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::WindowClosedByPlatform { code: self.code, at: self.at }])
    }
}

/// How far ahead a conversation may be snoozed: a year and a day covers "after next
/// year's holiday"; anything later is a slip of the keyboard.
pub const MAX_SNOOZE: Span = Span::days(366);

pub struct ChangeConversationStatus {
    pub status: ConversationStatus,
}

impl Decide for ChangeConversationStatus {
    type State = Conversation;
    fn decide(&self, state: &Conversation, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if let ConversationStatus::Snoozed { until } = self.status {
            if until <= now || until > now.plus(MAX_SNOOZE) {
                return Err(DomainError::bad_input(
                    "snoozed_until",
                    "must be in the future and at most 366 days ahead",
                ));
            }
        }
        if state.status.as_ref() == Some(&self.status) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ConversationStatusChanged { status: self.status.clone() }])
    }
}

pub struct AssignConversation {
    pub assignee: Option<UserId>,
}

impl Decide for AssignConversation {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_exists(state)?;
        if state.assignee == self.assignee {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ConversationAssigned { assignee: self.assignee }])
    }
}

fn require_exists(state: &Conversation) -> Result<(), DomainError> {
    if state.exists() {
        Ok(())
    } else {
        Err(DomainError::ConversationNotFound)
    }
}

fn require_message_id(id: &str) -> Result<(), DomainError> {
    if id.is_empty() || id.len() > 512 {
        return Err(DomainError::bad_input("message id", "must be 1 to 512 bytes"));
    }
    Ok(())
}

fn pending_draft(state: &Conversation, id: DraftId) -> Result<&DraftState, DomainError> {
    require_exists(state)?;
    let draft = state.drafts.get(&id).ok_or(DomainError::DraftNotFound(id))?;
    match draft.status {
        DraftStatus::Pending => Ok(draft),
        DraftStatus::Sent => Err(DomainError::DraftAlreadySent(id)),
        DraftStatus::Approved | DraftStatus::Rejected => Err(DomainError::DraftAlreadyDecided(id)),
    }
}

#[cfg(test)]
pub(crate) mod tests;
