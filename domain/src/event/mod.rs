//! The domain events: everything that may be recorded in a Partner's ledger.
//!
//! The catalogue covers the whole mission so the log format is settled once. Each
//! event has a stable type name and a version; the payload stored (and signed) is
//! the JSON of the event's fields with keys in sorted order. Stored bytes never
//! change: when a version 2 of an event appears, [`upcast`] turns old payloads into
//! the current shape as they are read.

mod upcast;
mod values;

pub use upcast::{decode, DecodeError};
pub use values::*;

use crate::blind::{BlindIndex, IdentityKind};
use crate::channel::ChannelKind;
use crate::ids::*;
use crate::sealed::Sealed;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Every fact Laras records.
// Events are decoded one at a time and not stored in bulk in memory, so a large variant
// (an inbound message with its context) costs little; boxing it would complicate every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DomainEvent {
    // --- partner stream -------------------------------------------------------------
    PartnerOnboarded {
        partner_id: PartnerId,
        name: String,
        approval: ApprovalMode,
        pipeline: Vec<PipelineStage>,
    },
    /// Sets the approval mode for one channel, or the Partner's default when `channel` is None.
    ApprovalModeSet {
        channel: Option<ChannelKind>,
        mode: ApprovalMode,
    },
    /// What the outbox does with a send left in doubt on this channel (ADR 010).
    InDoubtPolicySet {
        channel: ChannelKind,
        policy: InDoubtPolicy,
    },
    FollowUpPolicySet {
        delay_hours: u32,
        whatsapp_template: Option<String>,
        template_language: Option<String>,
    },
    ChannelConnected {
        channel: ChannelKind,
        /// WhatsApp phone number id, Page id, Instagram account id or Threads user id.
        account_id: String,
        display_name: String,
        /// What the platform answered about the account with the Partner's token; absent for
        /// operator-seeded channels and in events recorded before proofs existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<AccountProof>,
    },
    ChannelDisconnected {
        channel: ChannelKind,
        account_id: String,
    },
    ChannelNeedsReauthorisation {
        channel: ChannelKind,
        account_id: String,
        error_code: i64,
    },
    /// A connection was refused and nothing else changed; the reason never names the holder.
    ChannelConnectRefused {
        channel: ChannelKind,
        account_id: String,
        reason: ConnectRefusal,
    },
    /// The Partner named a witness: Laras accepts that key's cosignatures of the Partner's
    /// tree heads (docs/audit-format.md §8). `public_key` is 64 lowercase hex digits.
    WitnessRegistered {
        name: String,
        public_key: String,
    },

    // --- account-claim stream (system: nil partner) -----------------------------------
    /// The Partner now holds the receiving account: its webhooks are routed to it alone.
    ChannelAccountClaimed {
        channel: ChannelKind,
        account_id: String,
        partner_id: PartnerId,
    },
    /// The Partner let the account go (disconnected it, or connected another on the channel).
    ChannelAccountReleased {
        channel: ChannelKind,
        account_id: String,
        partner_id: PartnerId,
    },

    // --- knowledge stream ------------------------------------------------------------
    KnowledgeArticlePublished {
        article_id: ArticleId,
        kind: ArticleKind,
        title: String,
        body: String,
        tags: Vec<String>,
    },
    KnowledgeArticleRetired {
        article_id: ArticleId,
    },

    // --- contact stream --------------------------------------------------------------
    ContactIdentified {
        contact_id: ContactId,
        channel: ChannelKind,
        identity: IdentityKind,
        blind_index: BlindIndex,
        value: Sealed,
        name: Option<Sealed>,
    },
    /// Recorded on both contacts: the absorbed one points at the survivor from now on.
    IdentitiesMerged {
        survivor: ContactId,
        absorbed: ContactId,
    },
    OptedOut {
        channel: Option<ChannelKind>,
        scope: OptScope,
        signal: OptSignal,
        at: Timestamp,
    },
    OptedIn {
        channel: Option<ChannelKind>,
        signal: OptSignal,
        at: Timestamp,
    },
    NoteAdded {
        note_id: NoteId,
        body: Sealed,
    },
    /// The contact's data keys were destroyed: their sealed fields are unreadable from now on.
    ContactErased {
        data_keys: Vec<DataKeyId>,
    },

    // --- conversation stream ---------------------------------------------------------
    ConversationOpened {
        conversation_id: ConversationId,
        contact_id: ContactId,
        channel: ChannelKind,
        account_id: String,
        thread: ThreadRef,
    },
    InboundMessageReceived {
        channel_message_id: String,
        contact_id: ContactId,
        sent_at: Timestamp,
        content: MessageContent,
        reply_to: Option<String>,
        #[serde(flatten)]
        context: InboundContext,
    },
    /// A customer reacted to a message (`emoji` None: took the reaction back). Not a message:
    /// it is not unread and nothing answers it.
    MessageReacted {
        /// The platform's id for the reaction (WhatsApp) or one derived from the target and time.
        reaction_id: String,
        to_message: String,
        contact_id: ContactId,
        emoji: Option<Sealed>,
        sent_at: Timestamp,
    },
    /// The platform said the customer's identifier changed (WhatsApp "user changed number"):
    /// the new one is linked to the same contact; shown in the timeline, never answered.
    CustomerIdentityChanged {
        channel_message_id: String,
        contact_id: ContactId,
        identity: IdentityKind,
        value: Sealed,
        sent_at: Timestamp,
    },
    /// Messenger handover protocol: whether Laras's app holds the thread. While another app
    /// holds it, Laras records what arrives (standby) and does not answer.
    ThreadControlChanged {
        held_by_laras: bool,
        /// The other app involved, as Meta names it.
        app_id: Option<String>,
        at: Timestamp,
    },
    /// A public comment (Instagram, Facebook) or a Threads reply on the Partner's post.
    PublicCommentReceived {
        comment_id: String,
        contact_id: ContactId,
        parent_id: Option<String>,
        text: Sealed,
        sent_at: Timestamp,
    },
    /// A message the Page sent outside Laras (Messenger echo); never answered.
    EchoRecorded {
        channel_message_id: String,
        body: Option<Sealed>,
        sent_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachments: Option<Vec<EchoAttachment>>,
    },
    /// An inbound message's file was fetched, checked and kept, sealed with the contact's
    /// data key, in the media store under `object`.
    MediaStored {
        channel_message_id: String,
        /// Which of the message's files (0: the first; a message carries one today).
        attachment: u32,
        /// The media store's name for the sealed file: SHA-256 (hex) of its sealed bytes.
        object: String,
        /// SHA-256 of the file itself, sealed: a hash of a customer's photo identifies it.
        sha256: Sealed,
        size: u64,
        /// The type the bytes were checked to be (magic numbers).
        mime: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
    },
    /// An inbound message's file could not be kept, and why; nothing of it is stored.
    MediaUnavailable {
        channel_message_id: String,
        attachment: u32,
        reason: MediaUnavailableReason,
    },
    SentimentScored {
        channel_message_id: String,
        score: f64,
        scorer: String,
    },
    DraftProposed {
        draft_id: DraftId,
        author: DraftAuthor,
        body: Sealed,
        target: ReplyTarget,
    },
    /// The AI worker proposed no answer; the conversation goes to a person.
    DraftDeclined {
        in_reply_to: Option<String>,
        reason: DeclineReason,
        generator: String,
    },
    DraftEdited {
        draft_id: DraftId,
        body: Sealed,
    },
    DraftApproved {
        draft_id: DraftId,
    },
    DraftRejected {
        draft_id: DraftId,
        reason: Option<String>,
    },
    ReplySendRequested {
        send_id: SendId,
        draft_id: Option<DraftId>,
        body: Sealed,
        target: ReplyTarget,
        mode: MessagingMode,
        template: Option<TemplateRef>,
        /// The file the reply carries, if any; left out of the bytes when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<ReplyMedia>,
    },
    ReplySent {
        send_id: SendId,
        platform_message_id: String,
        at: Timestamp,
        /// What showed that the reply went out. The Graph API's answer is the default and is
        /// not written, so events recorded before in-doubt sends existed read the same.
        #[serde(default, skip_serializing_if = "SendEvidence::is_graph_api_answer")]
        evidence: SendEvidence,
    },
    ReplySendFailed {
        send_id: SendId,
        code: i64,
        title: String,
    },
    /// The outbox is about to call the platform for this send. Durable before the call, so a
    /// crash after it leaves the send in doubt (see ADR 010), never silently sent again.
    SendAttemptStarted {
        send_id: SendId,
        /// 1 for the first attempt, one more for each later one.
        attempt: u32,
        at: Timestamp,
        /// Set when this attempt re-sends an attempt that was in doubt (its number).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resends_in_doubt: Option<u32>,
    },
    /// One attempt failed in a way that may pass (rate limit, 5xx); the outbox tries again.
    SendAttemptFailed {
        send_id: SendId,
        attempt: u32,
        code: i64,
        title: String,
        /// When the platform asked us to wait until (`Retry-After`), if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<Timestamp>,
    },
    /// An attempt stayed in doubt past its bound and the Partner's policy holds it for a
    /// person (`approveResend` or `markSent`).
    SendHeldInDoubt {
        send_id: SendId,
        attempt: u32,
    },
    /// A person asked for a held in-doubt send to go out again.
    InDoubtResendApproved {
        send_id: SendId,
        attempt: u32,
    },
    DeliveryStatusChanged {
        platform_message_id: String,
        status: DeliveryStatus,
        at: Timestamp,
    },
    /// A send was refused by policy: at request time (no `send_id`), or when the outbox
    /// re-checked a requested send just before delivery (with its `send_id`).
    SendRefused {
        draft_id: Option<DraftId>,
        send_id: Option<SendId>,
        reason: RefusalReason,
    },
    /// The platform said the window is closed (WhatsApp 131047) before our clock did.
    WindowClosedByPlatform {
        code: i64,
        at: Timestamp,
    },
    ConversationStatusChanged {
        status: ConversationStatus,
    },
    ConversationAssigned {
        assignee: Option<UserId>,
    },
    FollowUpSkipped {
        opportunity_id: OpportunityId,
        reason: RefusalReason,
    },

    // --- opportunity stream ----------------------------------------------------------
    OpportunityOpened {
        opportunity_id: OpportunityId,
        contact_id: ContactId,
        conversation_id: Option<ConversationId>,
        title: String,
        stage: String,
        value: Money,
    },
    OpportunityStageChanged {
        from: String,
        to: String,
    },
    OpportunityValueChanged {
        value: Money,
    },
    OpportunityWon {
        value: Money,
    },
    OpportunityLost {
        reason: String,
    },

    // --- process streams (system: nil partner) ---------------------------------------
    /// A process that follows the log (`process`) gave up on one event after it failed
    /// every try, and went on past it. The event stays in the log; only this process
    /// skipped it. The reason names a kind of failure, never the event's content.
    ProcessSkippedEvent {
        process: String,
        position: u64,
        event_id: EventId,
        reason: SkipReason,
    },

    // --- system key stream -----------------------------------------------------------
    /// A signing key became active. The first key records itself; each later key is
    /// endorsed by being recorded under the key it replaces.
    SigningKeyRotated {
        key_id: String,
        public_key: String,
        previous: Option<String>,
    },
}

/// The current version of every event type. Bump one only with an upcaster for the old shape.
pub const CURRENT_EVENT_VERSION: u16 = 1;

impl DomainEvent {
    /// The event's stable type name (the serde tag).
    pub fn event_type(&self) -> &'static str {
        use DomainEvent::*;
        match self {
            PartnerOnboarded { .. } => "PartnerOnboarded",
            ApprovalModeSet { .. } => "ApprovalModeSet",
            FollowUpPolicySet { .. } => "FollowUpPolicySet",
            InDoubtPolicySet { .. } => "InDoubtPolicySet",
            ChannelConnected { .. } => "ChannelConnected",
            ChannelDisconnected { .. } => "ChannelDisconnected",
            ChannelNeedsReauthorisation { .. } => "ChannelNeedsReauthorisation",
            ChannelConnectRefused { .. } => "ChannelConnectRefused",
            WitnessRegistered { .. } => "WitnessRegistered",
            ChannelAccountClaimed { .. } => "ChannelAccountClaimed",
            ChannelAccountReleased { .. } => "ChannelAccountReleased",
            KnowledgeArticlePublished { .. } => "KnowledgeArticlePublished",
            KnowledgeArticleRetired { .. } => "KnowledgeArticleRetired",
            ContactIdentified { .. } => "ContactIdentified",
            IdentitiesMerged { .. } => "IdentitiesMerged",
            OptedOut { .. } => "OptedOut",
            OptedIn { .. } => "OptedIn",
            NoteAdded { .. } => "NoteAdded",
            ContactErased { .. } => "ContactErased",
            ConversationOpened { .. } => "ConversationOpened",
            InboundMessageReceived { .. } => "InboundMessageReceived",
            PublicCommentReceived { .. } => "PublicCommentReceived",
            EchoRecorded { .. } => "EchoRecorded",
            MessageReacted { .. } => "MessageReacted",
            CustomerIdentityChanged { .. } => "CustomerIdentityChanged",
            ThreadControlChanged { .. } => "ThreadControlChanged",
            MediaStored { .. } => "MediaStored",
            MediaUnavailable { .. } => "MediaUnavailable",
            SentimentScored { .. } => "SentimentScored",
            DraftProposed { .. } => "DraftProposed",
            DraftDeclined { .. } => "DraftDeclined",
            DraftEdited { .. } => "DraftEdited",
            DraftApproved { .. } => "DraftApproved",
            DraftRejected { .. } => "DraftRejected",
            ReplySendRequested { .. } => "ReplySendRequested",
            ReplySent { .. } => "ReplySent",
            ReplySendFailed { .. } => "ReplySendFailed",
            SendAttemptStarted { .. } => "SendAttemptStarted",
            SendAttemptFailed { .. } => "SendAttemptFailed",
            SendHeldInDoubt { .. } => "SendHeldInDoubt",
            InDoubtResendApproved { .. } => "InDoubtResendApproved",
            DeliveryStatusChanged { .. } => "DeliveryStatusChanged",
            SendRefused { .. } => "SendRefused",
            WindowClosedByPlatform { .. } => "WindowClosedByPlatform",
            ConversationStatusChanged { .. } => "ConversationStatusChanged",
            ConversationAssigned { .. } => "ConversationAssigned",
            FollowUpSkipped { .. } => "FollowUpSkipped",
            OpportunityOpened { .. } => "OpportunityOpened",
            OpportunityStageChanged { .. } => "OpportunityStageChanged",
            OpportunityValueChanged { .. } => "OpportunityValueChanged",
            OpportunityWon { .. } => "OpportunityWon",
            OpportunityLost { .. } => "OpportunityLost",
            SigningKeyRotated { .. } => "SigningKeyRotated",
            ProcessSkippedEvent { .. } => "ProcessSkippedEvent",
        }
    }

    pub const fn event_version(&self) -> u16 {
        CURRENT_EVENT_VERSION
    }

    /// The payload bytes that are stored and signed: the fields as JSON, keys sorted.
    pub fn encode_payload(&self) -> Vec<u8> {
        // serde_json's default map is a BTreeMap, so keys come out sorted and the
        // bytes are the same on every run. Serialising these types cannot fail
        // (no non-string map keys, no failing Serialize impls).
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut tagged)) => {
                let data = tagged.remove("data").unwrap_or(serde_json::Value::Object(Default::default()));
                serde_json::to_vec(&data).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
