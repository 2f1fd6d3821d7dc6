//! Value types that events carry.

use crate::ids::{ArticleId, UserId};
use crate::sealed::Sealed;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a customer sent. Everything personal (bodies, captions, media references) is sealed;
/// business-defined ids (button payloads, list reply ids) are not personal and stay plain.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: Sealed,
    },
    /// `media` is the platform's reference: a WhatsApp media id, or an attachment URL.
    Image {
        media: Sealed,
        mime: Option<String>,
        caption: Option<Sealed>,
        /// The file's SHA-256 as the platform gave it (WhatsApp), sealed; absent in messages
        /// recorded before it was kept, and left out of their bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sealed>,
    },
    VoiceNote {
        media: Sealed,
        mime: Option<String>,
        /// The file's SHA-256 as the platform gave it (WhatsApp), sealed; absent in messages
        /// recorded before it was kept, and left out of their bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sealed>,
    },
    Attachment {
        attachment: AttachmentKind,
        media: Sealed,
        mime: Option<String>,
        caption: Option<Sealed>,
        /// The file's SHA-256 as the platform gave it (WhatsApp), sealed; absent in messages
        /// recorded before it was kept, and left out of their bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sealed>,
    },
    /// A shared location (sealed JSON with latitude, longitude, name, address).
    Location {
        place: Sealed,
    },
    /// Shared contact cards (sealed JSON).
    SharedContacts {
        cards: Sealed,
    },
    /// A reply to an interactive list or button message.
    InteractiveReply {
        reply_id: String,
        title: Sealed,
    },
    /// A tap on a template's quick-reply button, or a Messenger quick reply / postback.
    ButtonReply {
        payload: String,
        text: Sealed,
    },
    /// Kept so events recorded before reactions became [`DomainEvent::MessageReacted`] still read.
    Reaction {
        to_message: String,
        emoji: Option<Sealed>,
    },
    /// A WhatsApp Flow's answer: the form's fields as JSON (sealed, like any text).
    FlowReply {
        name: Option<String>,
        response: Sealed,
    },
    /// An order from the Partner's catalog; prices are decimal text as Meta sent them.
    Order {
        catalog_id: String,
        note: Option<Sealed>,
        items: Vec<OrderLine>,
    },
    /// Something shared rather than uploaded (an Instagram reel or post, a link card).
    Shared {
        share: String,
        title: Option<Sealed>,
        url: Option<Sealed>,
    },
    /// A message type Laras does not read (kept so the timeline has no holes).
    Unsupported {
        original_kind: String,
    },
}

impl MessageContent {
    /// The sealed text a keyword opt-out or a sentiment scorer would read, if any.
    pub fn text(&self) -> Option<&Sealed> {
        match self {
            Self::Text { body } => Some(body),
            Self::Image { caption, .. } | Self::Attachment { caption, .. } => caption.as_ref(),
            Self::InteractiveReply { title, .. } => Some(title),
            Self::ButtonReply { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// One line of a catalog order. Product ids and prices are the Partner's, not personal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_retailer_id: String,
    pub quantity: i64,
    /// The unit price as Meta sent it (`"100.00"`, or a number written out).
    pub item_price: String,
    pub currency: String,
}

/// What an inbound message carried besides its content. Every field is optional and left
/// out of the stored bytes when absent, so messages recorded before it existed re-encode
/// byte for byte.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct InboundContext {
    /// A WhatsApp group the message was written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The ad or link the customer came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
    /// The Instagram story the message replies to or mentions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story: Option<StoryRef>,
    /// Delivered while another app held the thread (Messenger handover): never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

impl InboundContext {
    pub fn is_standby(&self) -> bool {
        self.standby == Some(true)
    }
}

/// Where a customer came from: a click-to-WhatsApp / click-to-Messenger ad or a link.
/// The ad's own texts are the Partner's; the click id ties the ad to one person, so it is sealed.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct Referral {
    /// `ad`, `post`, `ADS`, `SHORTLINK`, … as the platform names it.
    pub source_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<Sealed>,
}

/// An Instagram story a message is about.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StoryRef {
    /// The customer mentioned the Partner in their story (else: replied to the Partner's story).
    pub mention: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The story's media URL: the customer's own story for a mention, so sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Sealed>,
}

/// What a Page-sent message (echo) carried besides text: a shared reel, an image, a template.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct EchoAttachment {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Sealed>,
}

impl MessageContent {
    /// The file this message carries, if any: its kind, the platform's sealed reference,
    /// the declared type and the platform's sealed SHA-256.
    pub fn media(&self) -> Option<MediaAttachment<'_>> {
        let (kind, media, mime, sha256) = match self {
            Self::Image { media, mime, sha256, .. } => (crate::media::MediaKind::Image, media, mime, sha256),
            Self::VoiceNote { media, mime, sha256 } => (crate::media::MediaKind::Audio, media, mime, sha256),
            Self::Attachment { attachment, media, mime, sha256, .. } => (attachment.media_kind(), media, mime, sha256),
            _ => return None,
        };
        Some(MediaAttachment { kind, media, mime: mime.as_deref(), sha256: sha256.as_ref() })
    }
}

/// A message's file as [`MessageContent::media`] finds it.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct MediaAttachment<'a> {
    pub kind: crate::media::MediaKind,
    pub media: &'a Sealed,
    pub mime: Option<&'a str>,
    pub sha256: Option<&'a Sealed>,
}

/// Why an attachment's file was not kept. Every fetch ends in `MediaStored` or in one of
/// these, never in a partial file.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MediaUnavailableReason {
    /// The platform's link or media id no longer serves the file.
    #[error("the platform's link expired")]
    Expired,
    /// Larger than the limit for its kind (bytes).
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The platform refused the channel's token.
    #[error("the platform refused the channel's token")]
    Forbidden,
    #[error("the platform does not know the file")]
    NotFound,
    /// The bytes' SHA-256 differs from the one the webhook carried.
    #[error("the file's SHA-256 differs from the platform's")]
    HashMismatch,
    /// The bytes contradict the declared type, or are not a kind the attachment may be.
    #[error("the file's bytes contradict its type")]
    TypeMismatch,
    /// The download ended before the length the server announced.
    #[error("the download was cut off")]
    Truncated,
    /// The platform could not be reached or kept failing after every retry.
    #[error("the platform could not be reached")]
    Unreachable,
    /// The contact was erased before the file was fetched: nothing is kept.
    #[error("the contact was erased")]
    ContactErased,
    /// The message carries no reference the platform can resolve (an empty URL).
    #[error("the message carries no usable reference")]
    NoReference,
}

impl MediaUnavailableReason {
    /// The reason's name in read models, metrics and the API.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::TooLarge { .. } => "too_large",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::HashMismatch => "hash_mismatch",
            Self::TypeMismatch => "type_mismatch",
            Self::Truncated => "truncated",
            Self::Unreachable => "unreachable",
            Self::ContactErased => "contact_erased",
            Self::NoReference => "no_reference",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Audio,
    Video,
    Document,
    Sticker,
    File,
}

impl AttachmentKind {
    pub const fn media_kind(self) -> crate::media::MediaKind {
        use crate::media::MediaKind;
        match self {
            Self::Audio => MediaKind::Audio,
            Self::Video => MediaKind::Video,
            Self::Document | Self::File => MediaKind::Document,
            Self::Sticker => MediaKind::Sticker,
        }
    }
}

/// A file a reply carries: kept sealed in the media store under the conversation's
/// contact, like the customer's own files (erasing the contact deletes it too).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReplyMedia {
    pub kind: crate::media::MediaKind,
    /// The type the bytes were checked to be.
    pub mime: String,
    pub size: u64,
    /// The media store's name for the sealed file (as in `MediaStored`).
    pub object: String,
    /// The earlier message whose file this is; absent for a file uploaded with the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_message: Option<MessageFile>,
}

/// One file of one message of a conversation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub struct MessageFile {
    pub channel_message_id: String,
    pub attachment: u32,
}

/// What a conversation is about.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThreadRef {
    /// Direct messages (WhatsApp chat, Messenger, Instagram DM).
    Direct,
    /// Public comments on one of the Partner's posts (Instagram or Facebook).
    Comments { media_id: String },
    /// Replies under one of the Partner's Threads posts.
    ThreadsPost { root_post_id: String },
}

/// Where a reply goes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyTarget {
    /// A message in the conversation, optionally quoting the customer's message.
    Conversation { quote: Option<String> },
    /// Instagram's one private reply to a public comment.
    CommentPrivateReply { comment_id: String },
    /// A public reply under a Threads reply.
    ThreadsReply { reply_to_id: String },
}

/// Who wrote a draft; for the AI worker, everything an auditor needs to see how.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DraftAuthor {
    AiWorker {
        generator: String,
        model: String,
        prompt_hash: String,
        article_ids: Vec<ArticleId>,
        confidence: f64,
        latency_ms: u64,
    },
    Person {
        user: UserId,
    },
}

impl DraftAuthor {
    pub fn is_automated(&self) -> bool {
        matches!(self, Self::AiWorker { .. })
    }
}

/// Why the AI worker proposed no answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// Outside the Partner's business (purpose limitation).
    OffTopic,
    /// The knowledge did not support an answer with enough confidence.
    LowConfidence,
    /// The generator failed (timeout, error); a person takes over.
    GeneratorUnavailable,
}

/// An approved WhatsApp message template, for sends outside the 24-hour window.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
    /// Body parameters; sealed because they usually hold the customer's name or order.
    pub parameters: Vec<Sealed>,
}

/// How a send goes out under Meta's messaging windows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingMode {
    /// Free-form, inside the customer-service window.
    Response,
    /// Messenger / Instagram `MESSAGE_TAG` `HUMAN_AGENT`: a person's reply up to 7 days.
    HumanAgentTag,
    /// A WhatsApp template, outside the window.
    Template,
    /// Instagram's private reply to a comment (its own 7-day rule).
    PrivateReply,
    /// A public Threads reply.
    PublicReply,
}

/// Why the policy refused a send. Every refusal is recorded; none is a silent drop.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefusalReason {
    #[error("the contact has opted out")]
    OptedOut,
    #[error("the contact was erased")]
    ContactErased,
    #[error("the customer has not written on this conversation, so there is no window to reply in")]
    NoCustomerMessage,
    #[error("the customer-service window closed at {closed_at}; WhatsApp needs an approved template")]
    TemplateRequired { closed_at: Timestamp },
    #[error("the customer-service window closed at {closed_at}; automated replies are not allowed")]
    AutomatedOutsideWindow { closed_at: Timestamp },
    #[error("the human-agent window closed at {closed_at}")]
    HumanAgentWindowClosed { closed_at: Timestamp },
    #[error("the customer-service window closed at {closed_at}")]
    WindowClosed { closed_at: Timestamp },
    #[error("this comment already has its private reply")]
    CommentAlreadyAnswered,
    #[error("private replies are allowed for 7 days; this comment's window closed at {closed_at}")]
    CommentReplyWindowExpired { closed_at: Timestamp },
    #[error("the comment is not known on this conversation")]
    UnknownComment,
    #[error("the Partner requires approval and this draft is not approved")]
    ApprovalRequired,
    #[error("the channel is not connected")]
    ChannelDisconnected,
    #[error("the channel needs re-authorisation")]
    ChannelNeedsReauthorisation,
}

/// A message's delivery as the platform reports it; moves forward only, but `Failed` always applies.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed { code: i64, title: String },
}

impl DeliveryStatus {
    /// Rank for forward-only moves (`Failed` is handled apart).
    pub const fn rank(&self) -> u8 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed { .. } => 4,
        }
    }
}

/// How an opt-out or opt-in was signalled.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptSignal {
    /// The customer wrote a keyword (STOP, BERHENTI, START, MULAI, …).
    Keyword { keyword: String },
    /// A partner user recorded it.
    Manual,
    /// The platform told us (e.g. WhatsApp error 131050, the user stopped marketing messages).
    PlatformError { code: i64 },
}

/// What an opt-out covers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptScope {
    /// No outbound message at all.
    All,
    /// Only marketing (follow-ups, templates that sell); service replies still go.
    Marketing,
}

/// When a Partner's AI drafts go out without a person.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Every draft waits for an owner or agent.
    #[default]
    Approval,
    /// Sends when confident, not negative and allowed; otherwise waits.
    Autopilot,
    /// The AI worker drafts nothing.
    Off,
}

/// One stage of a Partner's sales pipeline.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PipelineStage {
    pub name: String,
    /// Win probability in percent, for weighted forecasts.
    pub probability_pct: u8,
}

/// An amount in minor units (cents, sen) of an ISO 4217 currency.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Money {
    pub minor_units: i64,
    pub currency: String,
}

/// The inbox state of a conversation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Pending,
    Snoozed { until: Timestamp },
    Resolved,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleKind {
    Faq,
    Policy,
    Product,
}

/// What the platform answered when asked, with the Partner's token, about the account being
/// connected: proof that the token controls it. Absent for operator-seeded channels.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountProof {
    /// The account id the platform answered with (equal to the one connected).
    pub account_id: String,
    /// The name the platform shows: WhatsApp's verified name, the Page's name, the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// WhatsApp's display phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// Why a channel connection was refused (recorded; it never says who holds the account).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectRefusal {
    /// Another Partner holds the receiving account.
    AccountHeldElsewhere,
}

/// A Flow's answers (the opened `response_json` of a [`MessageContent::FlowReply`]) as
/// `field: value` texts, or the JSON as it came when it is not an object. The
/// `flow_token` is left out: it is the business's own correlation id, not an answer.
pub fn flow_answers(response_json: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(response_json) {
        Ok(serde_json::Value::Object(fields)) => fields
            .iter()
            .filter(|(k, _)| k.as_str() != "flow_token")
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect(),
        _ => vec![response_json.to_owned()],
    }
}

/// Why a process skipped an event: a kind of failure, never text from the event or from
/// an outside service (either could carry personal data).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// This version of Laras cannot read the event's payload.
    #[error("the event cannot be decoded")]
    Undecodable,
    /// Handling the event failed `attempts` times; `failure` names the failing part
    /// (`"store"`, `"knowledge"`, `"generator"`, …).
    #[error("handling failed {attempts} times ({failure})")]
    Failed { failure: String, attempts: u32 },
}

/// What showed that a reply went out.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SendEvidence {
    /// The Graph API answered the send with the message's id.
    #[default]
    GraphApiAnswer,
    /// A WhatsApp status webhook carried the send's id (`biz_opaque_callback_data`).
    StatusWebhook,
    /// A Messenger or Instagram message echo carried the send's id (`metadata`).
    EchoWebhook,
    /// A person who checked the customer's thread said it went out (`markSent`).
    PersonConfirmed,
}

impl SendEvidence {
    pub fn is_graph_api_answer(&self) -> bool {
        *self == Self::GraphApiAnswer
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GraphApiAnswer => "graph_api_answer",
            Self::StatusWebhook => "status_webhook",
            Self::EchoWebhook => "echo_webhook",
            Self::PersonConfirmed => "person_confirmed",
        }
    }
}

/// What happens to a send whose attempt stayed in doubt past its bound (ADR 010).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InDoubtPolicy {
    /// Send it again, recorded as a re-send of the in-doubt attempt.
    ResendAfterBound,
    /// Hold it until a person approves a re-send or marks it sent.
    HoldForPerson,
}

impl InDoubtPolicy {
    /// Re-send where the platform echoes a send's id back (so a send that did go out is
    /// almost always resolved before the bound); hold where it cannot (Threads).
    pub const fn default_for(channel: crate::channel::ChannelKind) -> Self {
        match channel {
            crate::channel::ChannelKind::Threads => Self::HoldForPerson,
            _ => Self::ResendAfterBound,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ResendAfterBound => "resend_after_bound",
            Self::HoldForPerson => "hold_for_person",
        }
    }
}
