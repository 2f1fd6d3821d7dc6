//! What a webhook delivery says, in the command side's words.

use laras_commands::handlers::inbound::{IncomingComment, IncomingEcho, IncomingMessage, SenderIdentity};
use laras_commands::handlers::status::IncomingStatus;
use laras_domain::channel::ChannelKind;
use laras_domain::event::DeliveryStatus;
use laras_domain::time::Timestamp;

/// One fact from a webhook, addressed to the receiving account.
#[derive(Clone, Debug)]
pub enum Signal {
    Message(IncomingMessage),
    Comment(IncomingComment),
    Echo(IncomingEcho),
    Status(IncomingStatus),
    /// Messenger / Instagram: everything sent to this customer up to `watermark` was
    /// delivered or read.
    Watermark { channel: ChannelKind, account_id: String, customer: SenderIdentity, status: DeliveryStatus, watermark: Timestamp },
}

impl Signal {
    pub fn channel(&self) -> ChannelKind {
        match self {
            Self::Message(m) => m.channel,
            Self::Comment(c) => c.channel,
            Self::Echo(e) => e.channel,
            Self::Status(s) => s.channel,
            Self::Watermark { channel, .. } => *channel,
        }
    }

    /// The Partner's account that received it (phone number id, Page id, IG account id, Threads user id).
    pub fn account_id(&self) -> &str {
        match self {
            Self::Message(m) => &m.account_id,
            Self::Comment(c) => &c.account_id,
            Self::Echo(e) => &e.account_id,
            Self::Status(s) => &s.account_id,
            Self::Watermark { account_id, .. } => account_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Comment(_) => "comment",
            Self::Echo(_) => "echo",
            Self::Status(_) => "status",
            Self::Watermark { .. } => "watermark",
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
