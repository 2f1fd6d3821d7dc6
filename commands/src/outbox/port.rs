//! The port the outbox delivers through (the Graph API adapter implements it).

use async_trait::async_trait;
use laras_domain::channel::ChannelKind;
use laras_domain::event::MessagingMode;
use laras_domain::ids::PartnerId;
use laras_domain::media::MediaKind;
use std::fmt;
use std::sync::Arc;

pub use super::send_ref::SendRef;

/// Who receives a reply, as the channel addresses them.
#[derive(Clone, PartialEq, Eq)]
pub enum Recipient {
    /// WhatsApp: the customer's wa_id.
    WaId(String),
    /// Messenger: the page-scoped user id.
    Psid(String),
    /// Instagram DM: the Instagram-scoped user id.
    Igsid(String),
    /// Instagram private reply to a comment.
    Comment { comment_id: String },
    /// Threads: a public reply under this reply.
    ThreadsReply { reply_to_id: String },
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Customer identifiers stay out of logs.
        f.write_str(match self {
            Self::WaId(_) => "WaId(***)",
            Self::Psid(_) => "Psid(***)",
            Self::Igsid(_) => "Igsid(***)",
            Self::Comment { .. } => "Comment",
            Self::ThreadsReply { .. } => "ThreadsReply",
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct OutboundTemplate {
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

/// One reply, opened and addressed, ready for the Graph API.
#[derive(Clone)]
pub struct OutboundMessage {
    pub partner: PartnerId,
    pub channel: ChannelKind,
    pub account_id: String,
    pub recipient: Recipient,
    pub text: String,
    pub mode: MessagingMode,
    pub template: Option<OutboundTemplate>,
    /// The customer's message to quote (WhatsApp `context.message_id`).
    pub quote: Option<String>,
    /// Sent where the platform echoes it back (WhatsApp `biz_opaque_callback_data`,
    /// Messenger and Instagram `metadata`), so a webhook can settle a send in doubt.
    pub send_ref: SendRef,
    /// The file the reply carries, opened.
    pub media: Option<OutboundFile>,
}

/// A reply's file, opened for the Graph API (WhatsApp uploads it first; Messenger and
/// Instagram send it with the message).
#[derive(Clone)]
pub struct OutboundFile {
    pub kind: MediaKind,
    pub mime: String,
    pub bytes: Arc<Vec<u8>>,
}

impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("partner", &self.partner)
            .field("channel", &self.channel)
            .field("recipient", &self.recipient)
            .field("mode", &self.mode)
            .field("text", &format_args!("{} bytes", self.text.len()))
            .field("media", &self.media.as_ref().map(|f| (f.kind, f.bytes.len())))
            .finish()
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Graph API error 190: the channel must be re-authorised; nothing more goes out on it.
    #[error("the channel's access token expired or was revoked (code {code})")]
    TokenExpired { code: i64 },
    /// Meta refused this message (window closed, opted out of marketing, bad recipient…).
    #[error("Meta rejected the message: code {code}: {title}")]
    Rejected { code: i64, title: String },
    /// Rate limits, 5xx, or a connection that failed before the request was written:
    /// nothing went out, and the outbox tries again later.
    #[error("Meta was unavailable: {detail}")]
    Unavailable {
        status: Option<u16>,
        detail: String,
        /// How long Meta asked this account to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// The request was sent and no answer came (a timeout, a connection cut mid-answer):
    /// Meta may have delivered it. The attempt stays in doubt (ADR 010).
    #[error("no answer after the request was sent: {detail}")]
    Unknown { detail: String },
    /// No access token is stored for this channel.
    #[error("no access token is stored for this channel")]
    NoCredentials,
}

#[async_trait]
pub trait ChannelSender: Send + Sync + 'static {
    /// Delivers one message; returns the platform's message id.
    async fn deliver(&self, message: &OutboundMessage) -> Result<String, DeliveryError>;
}
