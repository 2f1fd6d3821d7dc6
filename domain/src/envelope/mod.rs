//! The signed envelope: one stored event and the canonical bytes that prove it.
//!
//! `docs/audit-format.md` is the normative description of [`canonical_bytes`]; the
//! two must change together (the test vectors in `tests/vectors/` catch drift).
//! The envelope hash is SHA-256 of the canonical bytes; the signature is Ed25519
//! over the same bytes. Each envelope carries the hash of the previous envelope in
//! its stream, so a stream is a hash chain.

use crate::actor::Actor;
use crate::event::{self, DecodeError, DomainEvent};
use crate::ids::{EventId, PartnerId};
use crate::signing::{KeyId, LedgerSigningKey};
use crate::stream::StreamId;
use crate::time::Timestamp;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod decode;
pub use decode::CanonicalError;

/// The domain-separation tag at the start of every envelope's canonical bytes.
pub const ENVELOPE_MAGIC: &[u8; 8] = b"LARASEV1";

/// SHA-256 digest.
pub type Hash32 = [u8; 32];

/// The previous-hash of the first envelope in a stream.
pub const ZERO_HASH: Hash32 = [0; 32];

/// Everything about an event except its signature.
#[derive(Clone, PartialEq, Debug)]
pub struct EnvelopeHeader {
    pub event_id: EventId,
    pub partner_id: PartnerId,
    pub stream_id: StreamId,
    /// 0 for the first event of a stream.
    pub stream_version: u64,
    pub recorded_at: Timestamp,
    pub actor: Actor,
    /// The command or event that caused this one.
    pub causation_id: Uuid,
    /// The request or conversation turn this event belongs to.
    pub correlation_id: Uuid,
    pub event_type: String,
    pub event_version: u16,
    pub key_id: KeyId,
    pub prev_hash: Hash32,
}

/// A stored, signed event.
#[derive(Clone, PartialEq, Debug)]
pub struct Envelope {
    pub header: EnvelopeHeader,
    /// The event's payload bytes exactly as signed (JSON, keys sorted).
    pub payload: Vec<u8>,
    pub signature: [u8; 64],
}

/// What an event is before it is placed in a stream and signed.
#[derive(Clone, PartialEq, Debug)]
pub struct PendingEvent {
    pub event_id: EventId,
    pub actor: Actor,
    pub causation_id: Uuid,
    pub correlation_id: Uuid,
    pub event: DomainEvent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("field {field} is {len} bytes, longer than its length prefix allows")]
    FieldTooLong { field: &'static str, len: usize },
}

fn put_str16(out: &mut Vec<u8>, field: &'static str, value: &[u8]) -> Result<(), EnvelopeError> {
    let len = u16::try_from(value.len()).map_err(|_| EnvelopeError::FieldTooLong { field, len: value.len() })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// The exact bytes that are hashed and signed (docs/audit-format.md §Canonical bytes).
pub fn canonical_bytes(header: &EnvelopeHeader, payload: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::with_capacity(256 + payload.len());
    out.extend_from_slice(ENVELOPE_MAGIC);
    out.extend_from_slice(header.event_id.0.as_bytes());
    out.extend_from_slice(header.partner_id.0.as_bytes());
    put_str16(&mut out, "stream_id", header.stream_id.as_str().as_bytes())?;
    out.extend_from_slice(&header.stream_version.to_be_bytes());
    out.extend_from_slice(&header.recorded_at.0.to_be_bytes());
    out.push(header.actor.kind_code());
    put_str16(&mut out, "actor_id", header.actor.id_text().as_bytes())?;
    out.extend_from_slice(header.causation_id.as_bytes());
    out.extend_from_slice(header.correlation_id.as_bytes());
    put_str16(&mut out, "event_type", header.event_type.as_bytes())?;
    out.extend_from_slice(&header.event_version.to_be_bytes());
    put_str16(&mut out, "key_id", header.key_id.as_str().as_bytes())?;
    out.extend_from_slice(&header.prev_hash);
    let len = u32::try_from(payload.len())
        .map_err(|_| EnvelopeError::FieldTooLong { field: "payload", len: payload.len() })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

impl Envelope {
    /// Places `pending` at `stream_version` after `prev_hash` and signs it.
    pub fn seal(
        pending: &PendingEvent,
        partner_id: PartnerId,
        stream_id: StreamId,
        stream_version: u64,
        prev_hash: Hash32,
        recorded_at: Timestamp,
        key: &LedgerSigningKey,
    ) -> Result<Self, EnvelopeError> {
        Self::seal_hashed(pending, partner_id, stream_id, stream_version, prev_hash, recorded_at, key).map(|(e, _)| e)
    }

    /// [`Envelope::seal`], also answering the envelope's hash, taken from the canonical
    /// bytes just signed: the next link of a chain without building them again.
    pub fn seal_hashed(
        pending: &PendingEvent,
        partner_id: PartnerId,
        stream_id: StreamId,
        stream_version: u64,
        prev_hash: Hash32,
        recorded_at: Timestamp,
        key: &LedgerSigningKey,
    ) -> Result<(Self, Hash32), EnvelopeError> {
        let header = EnvelopeHeader {
            event_id: pending.event_id,
            partner_id,
            stream_id,
            stream_version,
            recorded_at,
            actor: pending.actor.clone(),
            causation_id: pending.causation_id,
            correlation_id: pending.correlation_id,
            event_type: pending.event.event_type().to_owned(),
            event_version: pending.event.event_version(),
            key_id: key.id().clone(),
            prev_hash,
        };
        let payload = pending.event.encode_payload();
        let bytes = canonical_bytes(&header, &payload)?;
        let signature = key.sign(&bytes);
        let hash = Sha256::digest(&bytes).into();
        Ok((Self { header, payload, signature }, hash))
    }

    pub fn canonical_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        canonical_bytes(&self.header, &self.payload)
    }

    /// SHA-256 of the canonical bytes: what the next envelope in the stream links to.
    pub fn hash(&self) -> Result<Hash32, EnvelopeError> {
        Ok(Sha256::digest(self.canonical_bytes()?).into())
    }

    /// Checks the signature with `public` (single verification; `laras verify` batches).
    pub fn verify_signature(&self, public: &VerifyingKey) -> bool {
        match self.canonical_bytes() {
            Ok(bytes) => crate::signing::verify_signature(public, &bytes, &self.signature),
            Err(_) => false,
        }
    }

    /// Decodes the payload into the current event shape (upcasting old versions).
    pub fn event(&self) -> Result<DomainEvent, DecodeError> {
        event::decode(&self.header.event_type, self.header.event_version, &self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PartnerId;
    use proptest::prelude::*;

    fn key() -> LedgerSigningKey {
        LedgerSigningKey::from_secret([42; 32])
    }

    fn sample(version: u64, prev: Hash32) -> Envelope {
        let pending = PendingEvent {
            event_id: EventId(Uuid::from_u128(version as u128 + 1)),
            actor: Actor::system("test"),
            causation_id: Uuid::from_u128(100),
            correlation_id: Uuid::from_u128(200),
            event: DomainEvent::ConversationAssigned { assignee: None },
        };
        Envelope::seal(
            &pending,
            PartnerId(Uuid::from_u128(9)),
            StreamId::from_stored("conversation-x".into()),
            version,
            prev,
            Timestamp(1_767_225_600_000),
            &key(),
        )
        .unwrap()
    }

    #[test]
    fn the_hash_answered_at_sealing_is_the_envelopes_hash() {
        let env = sample(0, ZERO_HASH);
        let pending = PendingEvent {
            event_id: env.header.event_id,
            actor: env.header.actor.clone(),
            causation_id: env.header.causation_id,
            correlation_id: env.header.correlation_id,
            event: env.event().unwrap(),
        };
        let h = &env.header;
        let (again, hash) =
            Envelope::seal_hashed(&pending, h.partner_id, h.stream_id.clone(), 0, ZERO_HASH, h.recorded_at, &key())
                .unwrap();
        assert_eq!(again, env);
        assert_eq!(hash, env.hash().unwrap());
    }

    #[test]
    fn a_sealed_envelope_verifies_with_its_key_only() {
        let env = sample(0, ZERO_HASH);
        assert!(env.verify_signature(&key().public()));
        let other = LedgerSigningKey::from_secret([7; 32]);
        assert!(!env.verify_signature(&other.public()));
    }

    #[test]
    fn canonical_bytes_start_with_the_magic_and_end_with_the_payload() {
        let env = sample(0, ZERO_HASH);
        let bytes = env.canonical_bytes().unwrap();
        assert!(bytes.starts_with(ENVELOPE_MAGIC));
        assert!(bytes.ends_with(&env.payload));
        assert_eq!(env.payload, br#"{"assignee":null}"#);
    }

    #[test]
    fn the_payload_decodes_back_into_the_event() {
        let env = sample(0, ZERO_HASH);
        assert_eq!(env.event().unwrap(), DomainEvent::ConversationAssigned { assignee: None });
    }

    #[test]
    fn an_oversized_stream_id_is_a_typed_error_not_a_panic() {
        let mut env = sample(0, ZERO_HASH);
        env.header.stream_id = StreamId::from_stored("x".repeat(70_000));
        assert_eq!(env.canonical_bytes(), Err(EnvelopeError::FieldTooLong { field: "stream_id", len: 70_000 }));
    }

    #[test]
    fn canonical_bytes_read_back_into_the_same_envelope() {
        let env = sample(4, [1; 32]);
        let bytes = env.canonical_bytes().unwrap();
        assert_eq!(Envelope::from_canonical(&bytes, env.signature), Ok(env.clone()));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Envelope::from_canonical(&longer, env.signature), Err(CanonicalError::Trailing(1)));
        let mut wrong = bytes;
        wrong[0] = b'X';
        assert_eq!(Envelope::from_canonical(&wrong, env.signature), Err(CanonicalError::Magic));
    }

    proptest! {
        #[test]
        fn every_truncation_of_canonical_bytes_is_a_typed_error(cut in 0usize..400) {
            let env = sample(2, [3; 32]);
            let bytes = env.canonical_bytes().unwrap();
            let cut = cut % bytes.len();
            prop_assert!(Envelope::from_canonical(&bytes[..cut], env.signature).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_reader(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut framed = ENVELOPE_MAGIC.to_vec();
            framed.extend(bytes);
            let _ = Envelope::from_canonical(&framed, [0; 64]);
        }

        #[test]
        fn every_header_field_and_payload_byte_is_covered_by_the_signature(
            field in 0usize..10, byte in any::<usize>(), bit in 0u8..8
        ) {
            let good = sample(3, [5; 32]);
            let mut bad = good.clone();
            let h = &mut bad.header;
            match field {
                0 => h.event_id = EventId(Uuid::from_u128(999)),
                1 => h.partner_id = PartnerId(Uuid::from_u128(8)),
                2 => h.stream_id = StreamId::from_stored("conversation-y".into()),
                3 => h.stream_version += 1,
                4 => h.recorded_at = Timestamp(h.recorded_at.0 + 1),
                5 => h.actor = Actor::system("tesu"),
                6 => h.causation_id = Uuid::from_u128(101),
                7 => h.correlation_id = Uuid::from_u128(201),
                8 => h.prev_hash[byte % 32] ^= 1 << bit,
                _ => { let i = byte % bad.payload.len(); bad.payload[i] ^= 1 << bit; }
            }
            prop_assert!(!bad.verify_signature(&key().public()));
            prop_assert_ne!(bad.hash().unwrap(), good.hash().unwrap());
        }
    }
}
