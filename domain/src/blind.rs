//! Keyed blind indexes: finding a contact by phone number or handle without storing it.
//!
//! `HMAC-SHA256(partner's blind-index key, kind ‖ 0x00 ‖ normalised value)`. The key
//! is per Partner, so the same phone number has unrelated indexes at two Partners.

use crate::sealed::SecretKey;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// What kind of identifier a contact was seen with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// WhatsApp id (the customer's phone number in international form, digits only).
    WaId,
    Phone,
    /// Instagram-scoped user id.
    Igsid,
    /// Page-scoped user id (Messenger).
    Psid,
    ThreadsUserId,
    /// WhatsApp business-scoped user id (BSUID, `user_id` / `from_user_id` / `parent_user_id`).
    WaUserId,
    /// A WhatsApp username (kept apart from Threads and Instagram handles).
    WaUsername,
    /// A Threads or Instagram username (handle).
    Username,
    Email,
}

impl IdentityKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WaId => "wa_id",
            Self::Phone => "phone",
            Self::Igsid => "igsid",
            Self::Psid => "psid",
            Self::ThreadsUserId => "threads_user_id",
            Self::WaUserId => "wa_user_id",
            Self::WaUsername => "wa_username",
            Self::Username => "username",
            Self::Email => "email",
        }
    }

    /// Normalises a value so equal identifiers index equally (`+62 812-5` ≡ `628125`).
    pub fn normalise(self, value: &str) -> String {
        match self {
            Self::WaId | Self::Phone => value.chars().filter(char::is_ascii_digit).collect(),
            Self::Email | Self::Username | Self::WaUsername => value.trim().trim_start_matches('@').to_lowercase(),
            Self::Igsid | Self::Psid | Self::ThreadsUserId | Self::WaUserId => value.trim().to_owned(),
        }
    }
}

/// A blind index value (hex of the HMAC).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct BlindIndex(pub String);

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindIndex({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// Computes the blind index of an identifier under a Partner's blind-index key.
pub fn blind_index(key: &SecretKey, kind: IdentityKind, value: &str) -> BlindIndex {
    // HMAC accepts keys of any length; a 32-byte key cannot be rejected.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(kind.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(kind.normalise(value).as_bytes());
    BlindIndex(hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_identifiers_index_equally_after_normalising() {
        let key = SecretKey::from_bytes([3; 32]);
        assert_eq!(
            blind_index(&key, IdentityKind::WaId, "+62 812-3456"),
            blind_index(&key, IdentityKind::WaId, "628123456")
        );
        assert_eq!(
            blind_index(&key, IdentityKind::Email, " Ana@Example.COM"),
            blind_index(&key, IdentityKind::Email, "ana@example.com")
        );
    }

    #[test]
    fn kinds_and_partners_separate_indexes() {
        let a = SecretKey::from_bytes([1; 32]);
        let b = SecretKey::from_bytes([2; 32]);
        assert_ne!(blind_index(&a, IdentityKind::Psid, "123"), blind_index(&a, IdentityKind::Igsid, "123"));
        assert_ne!(blind_index(&a, IdentityKind::Psid, "123"), blind_index(&b, IdentityKind::Psid, "123"));
    }
}
