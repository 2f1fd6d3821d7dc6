//! Which key may sign when.
//!
//! The first key is introduced by a `SigningKeyRotated` event with no `previous`,
//! signed by itself, and must be one of the auditor's trust anchors. Each later key is
//! introduced by an event signed by the key it replaces, which must be the current key
//! (a key has at most one successor, so the key history is one line). A key is valid
//! from its introduction's `recorded_at` up to and including its successor's.
//!
//! Key events live only in the `signing-keys` stream (nil Partner), and that stream
//! holds only key events: a key introduced anywhere else would escape every Partner's
//! tree and the bundle's `signing-keys.bin`.

use super::FailureKind;
use crate::envelope::Envelope;
use crate::event::DomainEvent;
use crate::ids::PartnerId;
use crate::signing::{is_strict_point, parse_public_hex, KeyId};
use crate::stream::SIGNING_KEYS_STREAM;
use crate::time::Timestamp;
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;

struct KeyRecord {
    public: VerifyingKey,
    valid_from: Timestamp,
    valid_until: Option<Timestamp>,
}

/// A key the log introduced and when it may sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValidity {
    pub key_id: KeyId,
    pub public: VerifyingKey,
    pub valid_from: Timestamp,
    /// None while no successor has been introduced.
    pub valid_until: Option<Timestamp>,
}

/// The one event type that introduces keys.
pub const KEY_EVENT: &str = "SigningKeyRotated";

pub struct KeyRing {
    anchors: Vec<VerifyingKey>,
    keys: HashMap<KeyId, KeyRecord>,
    order: Vec<KeyId>,
}

impl KeyRing {
    pub fn new(anchors: Vec<VerifyingKey>) -> Self {
        Self { anchors, keys: HashMap::new(), order: Vec::new() }
    }

    /// Key ids in the order the log introduced them.
    pub fn introduced(&self) -> &[KeyId] {
        &self.order
    }

    /// Every introduced key with its validity, in the order the log introduced them.
    pub fn validity(&self) -> Vec<KeyValidity> {
        self.order
            .iter()
            .filter_map(|id| {
                self.keys.get(id).map(|r| KeyValidity {
                    key_id: id.clone(),
                    public: r.public,
                    valid_from: r.valid_from,
                    valid_until: r.valid_until,
                })
            })
            .collect()
    }

    /// The key that must have signed `envelope`, checking validity and key events.
    /// A key event is taken into the ring here (call in position order).
    pub fn signer_of(&mut self, envelope: &Envelope) -> Result<VerifyingKey, FailureKind> {
        let h = &envelope.header;
        let bad = |detail: &str| FailureKind::BadKeyEvent { detail: detail.to_owned() };
        let key_event = h.event_type == KEY_EVENT;
        let key_stream = h.stream_id.as_str() == SIGNING_KEYS_STREAM;
        if key_event && !key_stream {
            return Err(bad("a SigningKeyRotated event outside the signing-keys stream"));
        }
        if key_stream && !key_event {
            return Err(bad("an event other than SigningKeyRotated in the signing-keys stream"));
        }
        if key_stream && h.partner_id != PartnerId(uuid::Uuid::nil()) {
            return Err(bad("the signing-keys stream belongs to the nil Partner"));
        }
        if key_event {
            return self.take_key_event(envelope);
        }
        self.valid_key(&h.key_id, h.recorded_at)
    }

    /// The public key of `key_id` if it may sign at `at` (tree heads are checked with it too).
    pub fn valid_key(&self, key_id: &KeyId, at: Timestamp) -> Result<VerifyingKey, FailureKind> {
        let record = self.keys.get(key_id).ok_or_else(|| FailureKind::UnknownKey { key_id: key_id.to_string() })?;
        let valid = at >= record.valid_from && record.valid_until.is_none_or(|until| at <= until);
        if !valid {
            return Err(FailureKind::KeyNotValidAt { key_id: key_id.to_string(), recorded_at: at.0 });
        }
        Ok(record.public)
    }

    fn take_key_event(&mut self, envelope: &Envelope) -> Result<VerifyingKey, FailureKind> {
        let h = &envelope.header;
        let bad = |detail: &str| FailureKind::BadKeyEvent { detail: detail.to_owned() };
        let Ok(DomainEvent::SigningKeyRotated { key_id, public_key, previous }) = envelope.event() else {
            return Err(bad("payload is not a SigningKeyRotated event"));
        };
        let lower_hex = public_key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let public = parse_public_hex(&public_key)
            .filter(|_| lower_hex)
            .ok_or_else(|| bad("public_key is not a 32-byte Ed25519 key in lowercase hex"))?;
        if !is_strict_point(public.as_bytes()) {
            return Err(bad("public_key is of small order or not canonically encoded"));
        }
        let new_id = KeyId::of(&public);
        if new_id.as_str() != key_id {
            return Err(bad("key_id is not derived from public_key"));
        }
        if self.keys.contains_key(&new_id) {
            return Err(bad("the key was already introduced"));
        }
        let signer = match previous {
            None => {
                if !self.keys.is_empty() {
                    return Err(bad("a first key after keys were already introduced"));
                }
                if h.key_id != new_id {
                    return Err(bad("the first key must sign its own introduction"));
                }
                if !self.anchors.contains(&public) {
                    return Err(bad("the first key is not a trust anchor"));
                }
                public
            }
            Some(previous) => {
                let previous = KeyId(previous);
                if self.order.last() != Some(&previous) {
                    return Err(bad("previous is not the current key (a key has at most one successor)"));
                }
                if h.key_id != previous {
                    return Err(bad("a new key must be introduced under the key it replaces"));
                }
                let signer = self.valid_key(&previous, h.recorded_at)?;
                if let Some(old) = self.keys.get_mut(&previous) {
                    old.valid_until = Some(h.recorded_at);
                }
                signer
            }
        };
        self.keys.insert(new_id.clone(), KeyRecord { public, valid_from: h.recorded_at, valid_until: None });
        self.order.push(new_id);
        Ok(signer)
    }
}
