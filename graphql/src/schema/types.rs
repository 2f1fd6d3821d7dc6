//! Values shared by queries and mutations: enums, ids, money, times.

use crate::error::ApiError;
use async_graphql::{Enum, InputObject, SimpleObject, ID};
use laras_commands::access;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{self, Money};
use laras_domain::time::{rfc3339, Timestamp};

/// A Meta channel.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Channel {
    Whatsapp,
    Instagram,
    Messenger,
    Threads,
}

impl From<Channel> for ChannelKind {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Whatsapp => ChannelKind::WhatsApp,
            Channel::Instagram => ChannelKind::Instagram,
            Channel::Messenger => ChannelKind::Messenger,
            Channel::Threads => ChannelKind::Threads,
        }
    }
}

impl From<ChannelKind> for Channel {
    fn from(c: ChannelKind) -> Self {
        match c {
            ChannelKind::WhatsApp => Channel::Whatsapp,
            ChannelKind::Instagram => Channel::Instagram,
            ChannelKind::Messenger => Channel::Messenger,
            ChannelKind::Threads => Channel::Threads,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Owner,
    Agent,
    Auditor,
}

impl From<Role> for access::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => access::Role::Owner,
            Role::Agent => access::Role::Agent,
            Role::Auditor => access::Role::Auditor,
        }
    }
}

impl From<access::Role> for Role {
    fn from(r: access::Role) -> Self {
        match r {
            access::Role::Owner => Role::Owner,
            access::Role::Agent => Role::Agent,
            access::Role::Auditor => Role::Auditor,
        }
    }
}

/// What happens to a reply left in doubt past its bound (ADR 010).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InDoubtPolicy {
    /// Send it again, recorded as a re-send of the attempt in doubt.
    ResendAfterBound,
    /// Hold it for a person (`approveResend` or `markSent`).
    HoldForPerson,
}

impl From<InDoubtPolicy> for event::InDoubtPolicy {
    fn from(p: InDoubtPolicy) -> Self {
        match p {
            InDoubtPolicy::ResendAfterBound => event::InDoubtPolicy::ResendAfterBound,
            InDoubtPolicy::HoldForPerson => event::InDoubtPolicy::HoldForPerson,
        }
    }
}

/// When the AI worker's drafts go out.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ApprovalMode {
    /// Every draft waits for a person.
    Approval,
    /// Confident, allowed drafts go out; the rest wait.
    Autopilot,
    /// The AI worker drafts nothing.
    Off,
}

impl From<ApprovalMode> for event::ApprovalMode {
    fn from(m: ApprovalMode) -> Self {
        match m {
            ApprovalMode::Approval => event::ApprovalMode::Approval,
            ApprovalMode::Autopilot => event::ApprovalMode::Autopilot,
            ApprovalMode::Off => event::ApprovalMode::Off,
        }
    }
}

impl From<event::ApprovalMode> for ApprovalMode {
    fn from(m: event::ApprovalMode) -> Self {
        match m {
            event::ApprovalMode::Approval => ApprovalMode::Approval,
            event::ApprovalMode::Autopilot => ApprovalMode::Autopilot,
            event::ApprovalMode::Off => ApprovalMode::Off,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ArticleKind {
    Faq,
    Policy,
    Product,
}

impl From<ArticleKind> for event::ArticleKind {
    fn from(k: ArticleKind) -> Self {
        match k {
            ArticleKind::Faq => event::ArticleKind::Faq,
            ArticleKind::Policy => event::ArticleKind::Policy,
            ArticleKind::Product => event::ArticleKind::Product,
        }
    }
}

/// An amount in minor units (cents, sen) of an ISO 4217 currency.
#[derive(SimpleObject, InputObject, Clone, Debug, PartialEq)]
#[graphql(input_name = "MoneyInput")]
pub struct MoneyValue {
    /// Minor units as a decimal string (amounts may exceed 2^53).
    pub minor_units: String,
    pub currency: String,
}

impl MoneyValue {
    pub fn to_domain(&self) -> Result<Money, ApiError> {
        let minor_units = self.minor_units.parse::<i64>().map_err(|_| {
            ApiError::bad_input(format!(
                "minorUnits must be a whole number of minor units, written in digits, from 0 to {}",
                i64::MAX
            ))
        })?;
        if !laras_domain::currency::is_iso4217(&self.currency) {
            return Err(ApiError::bad_input("currency must be an ISO 4217 code in capitals, like IDR or USD"));
        }
        Ok(Money { minor_units, currency: self.currency.clone() })
    }
}

impl From<&Money> for MoneyValue {
    fn from(m: &Money) -> Self {
        Self { minor_units: m.minor_units.to_string(), currency: m.currency.clone() }
    }
}

/// Parses an id argument, local or global (`Node.id`); a malformed one is BAD_INPUT.
pub fn parse_id<T: std::str::FromStr>(what: &str, id: &ID) -> Result<T, ApiError> {
    id.parse::<T>()
        .ok()
        .or_else(|| super::node::decode(id).and_then(|(_, local)| local.parse::<T>().ok()))
        .ok_or_else(|| ApiError::bad_input(format!("{what} is not a valid id")))
}

/// Times are RFC 3339 in UTC with milliseconds.
pub fn time(ts: Timestamp) -> String {
    rfc3339(ts)
}

/// What a mutation stored: the ledger position to pass as `minPosition` for read-your-writes.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct Written {
    /// The highest ledger position the mutation's events stand on (null when nothing was stored).
    pub position: Option<u64>,
    /// The id of what the mutation created, when it created something.
    pub id: Option<ID>,
}

impl Written {
    pub fn at(committed: &laras_commands::Committed) -> Self {
        Self { position: committed.last_position(), id: None }
    }
    pub fn with_id(mut self, id: impl ToString) -> Self {
        self.id = Some(ID(id.to_string()));
        self
    }
}

/// A time argument in milliseconds, checked to be one a person can mean (2000 to 2200).
pub fn plausible_time(name: &str, ms: Option<i64>) -> Result<Option<i64>, crate::error::ApiError> {
    match ms {
        Some(ms) if !laras_domain::time::Timestamp(ms).is_plausible() => Err(crate::error::ApiError::bad_input(
            format!("{name} must be a time from 2000-01-01 to 2200-01-01 in milliseconds since 1970"),
        )),
        _ => Ok(ms),
    }
}

/// A page size as asked: from 1 to `max`, else a `BAD_INPUT` (never silently clamped).
pub fn page_size(first: i64, max: usize) -> Result<usize, crate::error::ApiError> {
    match usize::try_from(first) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(crate::error::ApiError::bad_input(format!("first must be from 1 to {max}"))),
    }
}
