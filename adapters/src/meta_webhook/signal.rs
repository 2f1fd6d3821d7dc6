//! What a webhook delivery says, in the command side's words.

use laras_commands::handlers::handover::IncomingThreadControl;
use laras_commands::handlers::inbound::{
    IncomingComment, IncomingEcho, IncomingIdentityChange, IncomingMessage, IncomingReaction, SenderIdentity,
};
use laras_commands::handlers::status::{IncomingStatus, IncomingWatermark};
use laras_domain::channel::ChannelKind;

/// One fact from a webhook, addressed to the receiving account.
// Signals live only while one delivery is handled; most are messages anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Signal {
    Message(IncomingMessage),
    Comment(IncomingComment),
    Echo(IncomingEcho),
    Status(IncomingStatus),
    Watermark(IncomingWatermark),
    Reaction(IncomingReaction),
    IdentityChange(IncomingIdentityChange),
    ThreadControl(IncomingThreadControl),
}

impl Signal {
    /// The customer the signal is about: signals of one customer are recorded in order,
    /// each deciding on what the one before it recorded.
    pub fn customer(&self) -> &SenderIdentity {
        match self {
            Self::Message(m) => &m.sender,
            Self::Comment(c) => &c.sender,
            Self::Echo(e) => &e.recipient,
            Self::Status(s) => &s.recipient,
            Self::Watermark(w) => &w.customer,
            Self::Reaction(r) => &r.sender,
            Self::IdentityChange(i) => &i.sender,
            Self::ThreadControl(t) => &t.customer,
        }
    }

    pub fn channel(&self) -> ChannelKind {
        match self {
            Self::Message(m) => m.channel,
            Self::Comment(c) => c.channel,
            Self::Echo(e) => e.channel,
            Self::Status(s) => s.channel,
            Self::Watermark(w) => w.channel,
            Self::Reaction(r) => r.channel,
            Self::IdentityChange(i) => i.channel,
            Self::ThreadControl(t) => t.channel,
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
            Self::Reaction(r) => &r.account_id,
            Self::IdentityChange(i) => &i.account_id,
            Self::ThreadControl(t) => &t.account_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Comment(_) => "comment",
            Self::Echo(_) => "echo",
            Self::Status(_) => "status",
            Self::Watermark(_) => "watermark",
            Self::Reaction(_) => "reaction",
            Self::IdentityChange(_) => "identity change",
            Self::ThreadControl(_) => "thread control",
        }
    }
}

/// Something in a delivery that Laras does not act on (acknowledged and counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Why, without personal data: e.g. `unknown object "user"`, `whatsapp field "account_update"`.
    pub reason: String,
}

/// One item of a delivery that could not be read; the rest of the delivery still is.
/// Carries where it was, never what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// What the item was: `whatsapp message`, `messenger messaging item`, ….
    pub kind: &'static str,
    /// The receiving account, when the item's container named it.
    pub account: Option<String>,
    /// The item's place in the delivery, e.g. `entry 0 change 1 message 2`.
    pub position: String,
    /// What was wrong, in Laras's words: `no message id`, `not an object`.
    pub reason: &'static str,
}

/// Everything one delivery carried.
#[derive(Clone, Debug, Default)]
pub struct WebhookBatch {
    pub signals: Vec<Signal>,
    pub ignored: Vec<Ignored>,
    pub malformed: Vec<Malformed>,
}

/// Why one item gave no signal.
#[derive(Debug)]
pub(super) enum Skip {
    /// Well formed, but nothing Laras acts on (an unknown type or field).
    Ignored(String),
    /// Not readable as what it claims to be.
    Malformed(&'static str),
}

impl From<&'static str> for Skip {
    fn from(reason: &'static str) -> Self {
        Self::Malformed(reason)
    }
}

impl WebhookBatch {
    pub(super) fn ignore(&mut self, reason: impl Into<String>) {
        self.ignored.push(Ignored { reason: reason.into() });
    }

    /// Files one item's outcome: its signals, or why it has none.
    pub(super) fn item(
        &mut self,
        kind: &'static str,
        account: Option<&str>,
        position: impl FnOnce() -> String,
        outcome: Result<Vec<Signal>, Skip>,
    ) {
        match outcome {
            Ok(signals) => self.signals.extend(signals),
            Err(Skip::Ignored(reason)) => self.ignore(reason),
            Err(Skip::Malformed(reason)) => self.malformed.push(Malformed {
                kind,
                account: account.map(str::to_owned),
                position: position(),
                reason,
            }),
        }
    }
}
