//! Short-lived links to one kept file, handed out by GraphQL to a caller allowed to read
//! the conversation, so a browser's `<img>` or `<audio>` can fetch it without an API key.
//!
//! A link names the Partner, the conversation, the message and the attachment, and when
//! it stops working; an HMAC-SHA-256 under a key derived from the master key binds them
//! (every node derives the same key, so a link works on any node). Nothing in it is
//! personal: ids only. Format (ADR 014): `base64url(payload) "." base64url(tag)`, where
//! `payload` is `v1|partner|conversation|expires_ms|attachment|message` and the tag is the
//! first 16 bytes of the HMAC of the payload.

use crate::ids::{ConversationId, PartnerId};
use crate::sealed::SecretKey;
use crate::time::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a link opens: one attachment of one message of one Partner's conversation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MediaLink {
    pub partner: PartnerId,
    pub conversation: ConversationId,
    /// The message's channel id (inbound) or the send's id (outbound).
    pub message: String,
    pub attachment: u32,
    pub expires: Timestamp,
}

/// Why a presented link opens nothing. The server answers every one of them the same
/// way (404), so a caller learns nothing from which it was.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not one of ours")]
    Malformed,
    #[error("the link's signature does not hold")]
    Forged,
    #[error("the link has expired")]
    Expired,
}

const VERSION: &str = "v1";
const TAG_LEN: usize = 16;
/// Longer payloads are refused before any work: ids are short.
const MAX_TOKEN: usize = 512;

fn tag(key: &SecretKey, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(payload);
    mac
}

impl MediaLink {
    /// The link's token, for `/media/{token}`.
    pub fn seal(&self, key: &SecretKey) -> String {
        let payload = format!(
            "{VERSION}|{}|{}|{}|{}|{}",
            self.partner.0, self.conversation.0, self.expires.0, self.attachment, self.message
        );
        let mac = tag(key, payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&mac[..TAG_LEN]))
    }

    /// The link a token names, if its tag holds under `key` and it has not expired at `now`.
    pub fn open(token: &str, key: &SecretKey, now: Timestamp) -> Result<Self, LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Malformed);
        }
        let (payload, presented) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
        let presented = URL_SAFE_NO_PAD.decode(presented).map_err(|_| LinkError::Malformed)?;
        // Checked before the payload is read, in constant time.
        tag(key, &payload).verify_truncated_left(&presented).map_err(|_| LinkError::Forged)?;
        if presented.len() != TAG_LEN {
            return Err(LinkError::Forged);
        }
        let payload = std::str::from_utf8(&payload).map_err(|_| LinkError::Malformed)?;
        let mut parts = payload.splitn(6, '|');
        let mut next = || parts.next().ok_or(LinkError::Malformed);
        if next()? != VERSION {
            return Err(LinkError::Malformed);
        }
        let partner = next()?.parse().map(PartnerId).map_err(|_| LinkError::Malformed)?;
        let conversation = next()?.parse().map(ConversationId).map_err(|_| LinkError::Malformed)?;
        let expires = Timestamp(next()?.parse().map_err(|_| LinkError::Malformed)?);
        let attachment = next()?.parse().map_err(|_| LinkError::Malformed)?;
        let message = next()?.to_owned();
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(Self { partner, conversation, message, attachment, expires })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes([b; 32])
    }

    fn link() -> MediaLink {
        MediaLink {
            partner: PartnerId(uuid::Uuid::from_u128(1)),
            conversation: ConversationId(uuid::Uuid::from_u128(2)),
            message: "wamid.HBgL|odd.id".to_owned(),
            attachment: 0,
            expires: Timestamp(10_000),
        }
    }

    #[test]
    fn a_sealed_link_opens_to_itself_until_it_expires() {
        let token = link().seal(&key(7));
        assert_eq!(MediaLink::open(&token, &key(7), Timestamp(9_999)), Ok(link()));
        assert_eq!(MediaLink::open(&token, &key(7), Timestamp(10_000)), Err(LinkError::Expired));
    }

    #[test]
    fn another_key_or_a_cut_tag_does_not_open_it() {
        let token = link().seal(&key(7));
        assert_eq!(MediaLink::open(&token, &key(8), Timestamp(0)), Err(LinkError::Forged));
        let (payload, tag) = token.split_once('.').unwrap_or_default();
        let short = format!("{payload}.{}", &tag[..16]);
        assert_eq!(MediaLink::open(&short, &key(7), Timestamp(0)), Err(LinkError::Forged));
        assert_eq!(MediaLink::open(payload, &key(7), Timestamp(0)), Err(LinkError::Malformed));
        assert_eq!(MediaLink::open(&"a".repeat(600), &key(7), Timestamp(0)), Err(LinkError::Malformed));
    }

    #[test]
    fn a_payload_rewritten_to_another_partner_is_forged() {
        let token = link().seal(&key(7));
        let (_, tag) = token.split_once('.').unwrap_or_default();
        let other = MediaLink { partner: PartnerId(uuid::Uuid::from_u128(3)), ..link() };
        let other_token = other.seal(&key(7));
        let (other_payload, _) = other_token.split_once('.').unwrap_or_default();
        assert_eq!(MediaLink::open(&format!("{other_payload}.{tag}"), &key(7), Timestamp(0)), Err(LinkError::Forged));
    }

    proptest! {
        #[test]
        fn no_changed_character_of_a_token_opens(at in 0usize..200, with in prop::sample::select(vec!['A', 'z', '0', '-', '_', '.'])) {
            let token = link().seal(&key(7));
            let at = at % token.len();
            let mut changed: Vec<char> = token.chars().collect();
            prop_assume!(changed[at] != with);
            changed[at] = with;
            let changed: String = changed.into_iter().collect();
            prop_assert!(MediaLink::open(&changed, &key(7), Timestamp(0)).is_err());
        }

        #[test]
        fn any_message_id_round_trips(message in "\\PC{0,80}", attachment in 0u32..8) {
            let l = MediaLink { message, attachment, ..link() };
            prop_assert_eq!(MediaLink::open(&l.seal(&key(1)), &key(1), Timestamp(0)), Ok(l));
        }
    }
}
