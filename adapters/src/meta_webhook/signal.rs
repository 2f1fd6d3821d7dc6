//! What a webhook delivery says, in the command side's words.

use laras_commands::handlers::inbound::{IncomingComment, IncomingEcho, IncomingMessage};
use laras_commands::handlers::status::{IncomingStatus, IncomingWatermark};
use laras_domain::channel::ChannelKind;

/// One fact from a webhook, addressed to the receiving account.
#[derive(Clone, Debug)]
pub enum Signal {
    Message(IncomingMessage),
    Comment(IncomingComment),
    Echo(IncomingEcho),
    Status(IncomingStatus),
    Watermark(IncomingWatermark),
}

impl Signal {
    pub fn channel(&self) -> ChannelKind {
        match self {
            Self::Message(m) => m.channel,
            Self::Comment(c) => c.channel,
            Self::Echo(e) => e.channel,
            Self::Status(s) => s.channel,
            Self::Watermark(w) => w.channel,
        }
    }

    /// The Partner's account that received it (phone number id, Page id, IG account id, Threads user id).
    pub fn account_id(&self) -> &str {
        match self {
            Self::Message(m) => &m.account_id,
            Self::Comment(c) => &c.account_id,
            Self::Echo(e) => &e.account_id,
            Self::Status(s) => &s.account_id,
            Self::Watermark(w) => &w.account_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Comment(_) => "comment",
            Self::Echo(_) => "echo",
            Self::Status(_) => "status",
            Self::Watermark(_) => "watermark",
        }
    }
}

/// Something in a delivery that Laras does not act on (acknowledged and counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Why, without personal data: e.g. `unknown object "user"`, `whatsapp field "account_update"`.
    pub reason: String,
}

/// Everything one delivery carried.
#[derive(Clone, Debug, Default)]
pub struct WebhookBatch {
    pub signals: Vec<Signal>,
    pub ignored: Vec<Ignored>,
}
