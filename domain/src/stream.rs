//! Stream ids: which aggregate an event belongs to.
//!
//! A stream id is text, `kind-uuid`, so it reads the same in SQLite, in KurrentDB and
//! in an audit bundle.

use crate::channel::ChannelKind;
use crate::ids::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stream that holds the key-rotation events; its partner id is the nil UUID.
pub const SIGNING_KEYS_STREAM: &str = "signing-keys";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    pub fn partner(id: PartnerId) -> Self {
        Self(format!("partner-{id}"))
    }
    pub fn contact(id: ContactId) -> Self {
        Self(format!("contact-{id}"))
    }
    pub fn conversation(id: ConversationId) -> Self {
        Self(format!("conversation-{id}"))
    }
    pub fn opportunity(id: OpportunityId) -> Self {
        Self(format!("opportunity-{id}"))
    }
    pub fn article(id: ArticleId) -> Self {
        Self(format!("article-{id}"))
    }
    /// The claim stream of one receiving account: who holds it. A system stream (nil
    /// partner), so it sits in no Partner's tree; its id derives from (channel, account id)
    /// so every claim on one account meets on one stream version.
    pub fn channel_account(channel: ChannelKind, account_id: &str) -> Self {
        let id = derived_uuid("laras.channel-account", &[channel.as_str().as_bytes(), account_id.as_bytes()]);
        Self(format!("account-{id}"))
    }
    /// Where a process that follows the log records what it skipped (`process-ai-worker`).
    /// A system stream (nil partner): it sits in no Partner's tree.
    pub fn process(name: &str) -> Self {
        Self(format!("process-{name}"))
    }
    pub fn signing_keys() -> Self {
        Self(SIGNING_KEYS_STREAM.to_owned())
    }
    /// Takes a stream id as stored (used when reading the log back).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The aggregate kind, the part before the first `-`.
    pub fn kind(&self) -> &str {
        self.0.split('-').next().unwrap_or("")
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_claim_stream_is_the_same_for_every_reader_and_distinct_per_channel() {
        let wa = StreamId::channel_account(ChannelKind::WhatsApp, "1065");
        assert_eq!(wa, StreamId::channel_account(ChannelKind::WhatsApp, "1065"));
        assert_eq!(wa.kind(), "account");
        assert_ne!(wa, StreamId::channel_account(ChannelKind::Messenger, "1065"));
        assert_ne!(wa, StreamId::channel_account(ChannelKind::WhatsApp, "10650"));
    }
}
