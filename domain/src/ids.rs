//! Identifiers of the things a Partner's ledger talks about.
//!
//! Each is a UUID behind its own type so a `DraftId` can never be passed where a
//! `ContactId` is meant. Ids that must converge when Meta delivers the same thing
//! twice (a contact's identifier, a channel message id) are derived, not random:
//! see [`derived_uuid`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            /// Raw 16 bytes, as they appear in canonical encodings.
            pub fn to_bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, ":{}"), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A business that uses Laras: the tenant every event belongs to.
    PartnerId, "partner");
id_type!(
    /// A customer of a Partner, across all the channels they were seen on.
    ContactId, "contact");
id_type!(
    /// One thread with a contact on one channel (a DM thread, or the comments on one post).
    ConversationId, "conversation");
id_type!(
    /// A reply proposed by the AI worker or a person, before it is sent.
    DraftId, "draft");
id_type!(
    /// One request to deliver a reply through the Graph API.
    SendId, "send");
id_type!(
    /// A sales opportunity in a Partner's pipeline.
    OpportunityId, "opportunity");
id_type!(
    /// A knowledge article the AI worker may ground replies in.
    ArticleId, "article");
id_type!(
    /// A note a partner user wrote about a contact.
    NoteId, "note");
id_type!(
    /// A person who works for a Partner (owner or agent).
    UserId, "user");
id_type!(
    /// The identity of a stored event; appending the same id twice stores it once.
    EventId, "event");
id_type!(
    /// A per-contact data key (crypto-shredding: destroying it erases the contact).
    DataKeyId, "datakey");

/// A UUID (version 8, RFC 9562) derived from SHA-256 of a namespace and parts.
///
/// Used where two deliveries of the same outside fact must land on the same id
/// (idempotency without a look-up table). Parts are length-prefixed so that
/// `("ab","c")` and `("a","bc")` differ.
pub fn derived_uuid(namespace: &str, parts: &[&[u8]]) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update((namespace.len() as u32).to_be_bytes());
    hasher.update(namespace.as_bytes());
    for part in parts {
        hasher.update((part.len() as u32).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_separate_their_parts() {
        let a = derived_uuid("ns", &[b"ab", b"c"]);
        let b = derived_uuid("ns", &[b"a", b"bc"]);
        assert_ne!(a, b);
        assert_eq!(a, derived_uuid("ns", &[b"ab", b"c"]));
        assert_eq!(a.get_version_num(), 8);
    }

    #[test]
    fn ids_print_their_kind_in_debug_and_parse_back() {
        let id = ContactId(Uuid::nil());
        assert_eq!(format!("{id:?}"), "contact:00000000-0000-0000-0000-000000000000");
        let parsed: ContactId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }
}
