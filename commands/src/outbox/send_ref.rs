//! The reference a send carries to the platform and back: `laras:<conversation>:<send>`.
//!
//! It names the conversation too, so a webhook that echoes it is settled on the right
//! stream whatever thread the echo arrives in. It holds no personal data.

use laras_domain::ids::{ConversationId, SendId};
use std::fmt;
use uuid::Uuid;

const PREFIX: &str = "laras:";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRef {
    pub conversation: ConversationId,
    pub send: SendId,
}

impl SendRef {
    /// Reads a reference back; `None` for anything else (a Partner's own metadata, other apps).
    pub fn parse(text: &str) -> Option<Self> {
        let (conversation, send) = text.strip_prefix(PREFIX)?.split_once(':')?;
        Some(Self {
            conversation: ConversationId(Uuid::parse_str(conversation).ok()?),
            send: SendId(Uuid::parse_str(send).ok()?),
        })
    }
}

impl fmt::Display for SendRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}:{}", self.conversation.0, self.send.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_reads_back_as_itself_and_nothing_else_reads_as_one() {
        let r = SendRef { conversation: ConversationId(Uuid::from_u128(1)), send: SendId(Uuid::from_u128(2)) };
        assert_eq!(SendRef::parse(&r.to_string()), Some(r));
        assert!(r.to_string().len() < 100, "fits WhatsApp's 512 and Messenger's 1,000 characters");
        for other in ["", "laras:", "laras:x:y", "shop:order-17", &r.to_string()[1..]] {
            assert_eq!(SendRef::parse(other), None, "{other}");
        }
    }
}
