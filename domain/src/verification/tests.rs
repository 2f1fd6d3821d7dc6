use super::*;
use crate::actor::Actor;
use crate::envelope::{Envelope, PendingEvent, ZERO_HASH};
use crate::event::DomainEvent;
use crate::ids::{EventId, PartnerId};
use crate::signing::LedgerSigningKey;
use crate::stream::StreamId;
use crate::time::Timestamp;
use proptest::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

struct LogBuilder {
    key: LedgerSigningKey,
    heads: HashMap<String, (u64, [u8; 32])>,
    log: Vec<Envelope>,
    now: i64,
}

impl LogBuilder {
    fn new() -> Self {
        let mut b =
            Self { key: LedgerSigningKey::from_secret([1; 32]), heads: HashMap::new(), log: Vec::new(), now: 1_000 };
        let first = b.key.clone();
        b.push(
            "signing-keys",
            DomainEvent::SigningKeyRotated {
                key_id: first.id().to_string(),
                public_key: first.public_hex(),
                previous: None,
            },
        );
        b
    }

    fn push(&mut self, stream: &str, event: DomainEvent) {
        self.push_as(PartnerId(Uuid::nil()), stream, event);
    }

    fn push_as(&mut self, partner: PartnerId, stream: &str, event: DomainEvent) {
        self.now += 1;
        let (version, prev) = self.heads.get(stream).map_or((0, ZERO_HASH), |(v, h)| (v + 1, *h));
        let pending = PendingEvent {
            event_id: EventId(Uuid::from_u128(self.log.len() as u128 + 1)),
            actor: Actor::system("t"),
            causation_id: Uuid::nil(),
            correlation_id: Uuid::nil(),
            event,
        };
        let env = Envelope::seal(
            &pending,
            partner,
            StreamId::from_stored(stream.into()),
            version,
            prev,
            Timestamp(self.now),
            &self.key,
        )
        .unwrap();
        self.heads.insert(stream.into(), (version, env.hash().unwrap()));
        self.log.push(env);
    }

    fn rotate(&mut self, secret: u8) {
        let next = LedgerSigningKey::from_secret([secret; 32]);
        let event = DomainEvent::SigningKeyRotated {
            key_id: next.id().to_string(),
            public_key: next.public_hex(),
            previous: Some(self.key.id().to_string()),
        };
        self.push("signing-keys", event);
        self.key = next;
    }
}

fn anchors() -> Vec<ed25519_dalek::VerifyingKey> {
    vec![LedgerSigningKey::from_secret([1; 32]).public()]
}

/// The reference check: every envelope in order, one at a time.
fn check(log: &[Envelope], anchors: Vec<ed25519_dalek::VerifyingKey>) -> Result<(), (usize, FailureKind)> {
    let mut ring = KeyRing::new(anchors);
    let mut chains = ChainChecker::default();
    let mut ids = EventIds::default();
    for (i, env) in log.iter().enumerate() {
        ids.check(env.header.event_id).map_err(|k| (i, k))?;
        chains.check(&env.header, env.hash().unwrap()).map_err(|k| (i, k))?;
        let key = ring.signer_of(env).map_err(|k| (i, k))?;
        if !env.verify_signature(&key) {
            return Err((i, FailureKind::BadSignature { key_id: env.header.key_id.to_string() }));
        }
    }
    Ok(())
}

fn assign(b: &mut LogBuilder, stream: &str) {
    b.push(stream, DomainEvent::ConversationAssigned { assignee: None });
}

#[test]
fn a_log_with_a_rotation_verifies_and_old_events_keep_verifying() {
    let mut b = LogBuilder::new();
    assign(&mut b, "conversation-a");
    b.rotate(2);
    assign(&mut b, "conversation-a");
    assert_eq!(check(&b.log, anchors()), Ok(()));
}

#[test]
fn a_first_key_that_is_not_an_anchor_is_refused() {
    let b = LogBuilder::new();
    let other = vec![LedgerSigningKey::from_secret([9; 32]).public()];
    assert!(matches!(check(&b.log, other), Err((0, FailureKind::BadKeyEvent { .. }))));
}

#[test]
fn the_old_key_is_not_valid_after_its_successor_was_introduced() {
    let mut b = LogBuilder::new();
    b.rotate(2);
    b.key = LedgerSigningKey::from_secret([1; 32]);
    assign(&mut b, "conversation-a");
    assert!(matches!(check(&b.log, anchors()), Err((2, FailureKind::KeyNotValidAt { .. }))));
}

#[test]
fn a_key_introduced_under_a_key_other_than_its_predecessor_is_refused() {
    let mut b = LogBuilder::new();
    let next = LedgerSigningKey::from_secret([3; 32]);
    let event = DomainEvent::SigningKeyRotated {
        key_id: next.id().to_string(),
        public_key: next.public_hex(),
        previous: Some("ed25519:0000000000000000".into()),
    };
    b.push("signing-keys", event);
    assert!(matches!(check(&b.log, anchors()), Err((1, FailureKind::BadKeyEvent { .. }))));
}

#[test]
fn a_missing_event_breaks_the_chain_at_the_next_one() {
    let mut b = LogBuilder::new();
    for _ in 0..3 {
        assign(&mut b, "conversation-a");
    }
    b.log.remove(2);
    assert!(matches!(check(&b.log, anchors()), Err((2, FailureKind::VersionGap { expected: 1, found: 2, .. }))));
}

proptest! {
    /// Random valid logs verify; changing any one byte of any envelope's signed parts
    /// (or its signature) is caught at that envelope or before.
    #[test]
    fn any_single_change_is_caught(streams in proptest::collection::vec(0u8..4, 1..25), rotate_at in proptest::option::of(0usize..25), victim in any::<usize>(), byte in any::<usize>(), bit in 0u8..8, part in 0u8..3) {
        let mut b = LogBuilder::new();
        for (i, s) in streams.iter().enumerate() {
            if rotate_at == Some(i) { b.rotate(2); }
            assign(&mut b, &format!("conversation-{s}"));
        }
        prop_assert_eq!(check(&b.log, anchors()), Ok(()));
        let victim = victim % b.log.len();
        let env = &mut b.log[victim];
        match part {
            0 => { let i = byte % env.payload.len(); env.payload[i] ^= 1 << bit; }
            1 => env.signature[byte % 64] ^= 1 << bit,
            _ => env.header.prev_hash[byte % 32] ^= 1 << bit,
        }
        let result = check(&b.log, anchors());
        prop_assert!(matches!(result, Err((at, _)) if at <= victim), "{:?}", result);
    }
}

#[test]
fn the_ring_reports_each_keys_validity_window() {
    let mut b = LogBuilder::new();
    assign(&mut b, "conversation-a");
    b.rotate(2);
    let mut ring = KeyRing::new(anchors());
    for env in &b.log {
        ring.signer_of(env).unwrap();
    }
    let keys = ring.validity();
    assert_eq!(keys.len(), 2);
    let rotated_at = b.log[2].header.recorded_at;
    assert_eq!(keys[0].valid_from, b.log[0].header.recorded_at);
    assert_eq!(keys[0].valid_until, Some(rotated_at));
    assert_eq!((keys[1].valid_from, keys[1].valid_until), (rotated_at, None));
    assert!(ring.valid_key(&keys[0].key_id, rotated_at).is_ok());
    assert!(matches!(
        ring.valid_key(&keys[0].key_id, Timestamp(rotated_at.0 + 1)),
        Err(FailureKind::KeyNotValidAt { .. })
    ));
}

fn introduce(next: &LedgerSigningKey, previous: &LedgerSigningKey) -> DomainEvent {
    DomainEvent::SigningKeyRotated {
        key_id: next.id().to_string(),
        public_key: next.public_hex(),
        previous: Some(previous.id().to_string()),
    }
}

fn bad_key_event_at(log: &[Envelope], at: usize) -> bool {
    matches!(check(log, anchors()), Err((i, FailureKind::BadKeyEvent { .. })) if i == at)
}

#[test]
fn a_key_event_outside_the_signing_keys_stream_is_refused_even_under_the_current_key() {
    let mut b = LogBuilder::new();
    let next = LedgerSigningKey::from_secret([2; 32]);
    b.push_as(PartnerId(Uuid::from_u128(7)), "partner-x", introduce(&next, &b.key.clone()));
    assert!(bad_key_event_at(&b.log, 1));
}

#[test]
fn the_signing_keys_stream_belongs_to_the_nil_partner() {
    let mut b = LogBuilder::new();
    let next = LedgerSigningKey::from_secret([2; 32]);
    b.push_as(PartnerId(Uuid::from_u128(7)), "signing-keys", introduce(&next, &b.key.clone()));
    assert!(bad_key_event_at(&b.log, 1));
}

#[test]
fn another_event_in_the_signing_keys_stream_is_refused() {
    let mut b = LogBuilder::new();
    assign(&mut b, "signing-keys");
    assert!(bad_key_event_at(&b.log, 1));
}

#[test]
fn other_nil_partner_streams_are_not_key_streams() {
    let mut b = LogBuilder::new();
    assign(&mut b, "account-whatsapp-1");
    assert_eq!(check(&b.log, anchors()), Ok(()));
}

#[test]
fn a_key_endorsing_a_second_successor_is_a_fork_and_refused() {
    let mut b = LogBuilder::new();
    let first = b.key.clone();
    b.push("signing-keys", introduce(&LedgerSigningKey::from_secret([2; 32]), &first));
    // Same millisecond, same endorsing key, another successor.
    b.now -= 1;
    b.push("signing-keys", introduce(&LedgerSigningKey::from_secret([3; 32]), &first));
    assert!(bad_key_event_at(&b.log, 2));
}

#[test]
fn a_second_first_key_is_refused() {
    let mut b = LogBuilder::new();
    let again = b.key.clone();
    b.rotate(2);
    b.key = again.clone();
    let event = DomainEvent::SigningKeyRotated {
        key_id: again.id().to_string(),
        public_key: again.public_hex(),
        previous: None,
    };
    b.push("signing-keys", event);
    assert!(bad_key_event_at(&b.log, 2));
}

#[test]
fn a_small_order_or_upper_case_public_key_is_refused() {
    let first = LedgerSigningKey::from_secret([1; 32]);
    // The identity point: y = 1.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = hex::encode(identity);
    for public_key in [weak, first.public_hex().to_uppercase()] {
        let mut b = LogBuilder::new();
        let key_id = match parse_id(&public_key) {
            Some(id) => id,
            None => "ed25519:0".into(),
        };
        b.push(
            "signing-keys",
            DomainEvent::SigningKeyRotated { key_id, public_key, previous: Some(first.id().to_string()) },
        );
        assert!(bad_key_event_at(&b.log, 1));
    }
}

fn parse_id(public_hex: &str) -> Option<String> {
    crate::signing::parse_public_hex(public_hex).map(|k| crate::signing::KeyId::of(&k).to_string())
}

#[test]
fn a_second_envelope_with_a_known_event_id_is_refused() {
    let mut b = LogBuilder::new();
    assign(&mut b, "conversation-a");
    assign(&mut b, "conversation-b");
    let mut copy = b.log[1].clone();
    copy.header.stream_id = crate::stream::StreamId::from_stored("conversation-c".into());
    let key = b.key.clone();
    copy.signature = key.sign(&copy.canonical_bytes().unwrap());
    b.log.push(copy);
    assert!(matches!(check(&b.log, anchors()), Err((3, FailureKind::DuplicateEvent { .. }))));
}
