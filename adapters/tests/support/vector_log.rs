//! The fixed log behind `tests/vectors/bundle/` and `tests/vectors/cases/`: a key
//! rotation, two Partners (only one exported), stored tree heads and an erased contact.

#![allow(dead_code)]

use curve25519_dalek::scalar::{clamp_integer, Scalar};
use laras_adapters::audit_bundle::{export_bundle, ExportRequest};
use laras_commands::store::StoredEnvelope;
use laras_domain::actor::Actor;
use laras_domain::blind::{BlindIndex, IdentityKind};
use laras_domain::channel::ChannelKind;
use laras_domain::envelope::{Envelope, PendingEvent, ZERO_HASH};
use laras_domain::event::*;
use laras_domain::ids::*;
use laras_domain::merkle::{leaf_hash, Frontier};
use laras_domain::sealed::{Sealed, SecretKey};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use rand::{rngs::StdRng, SeedableRng};
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::path::Path;
use uuid::Uuid;

pub const T0: i64 = 1_767_225_600_000;
pub const PARTNER: PartnerId = PartnerId(Uuid::from_u128(0x9a27_4e12));

pub fn first_key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([0x2a; 32])
}

pub fn second_key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([0x2b; 32])
}

pub fn log() -> Vec<StoredEnvelope> {
    let other = PartnerId(Uuid::from_u128(0x07e4));
    let contact = ContactId(Uuid::from_u128(0xc0));
    let conversation = ConversationId(Uuid::from_u128(0xc1));
    let data_key = DataKeyId(Uuid::from_u128(0xd47a));
    let mut rng = StdRng::seed_from_u64(2026);
    let secret = SecretKey::from_bytes([0x07; 32]);
    let wa_id = Sealed::seal(data_key, &secret, b"6281234567890", &mut rng);
    let body = Sealed::seal(data_key, &secret, "Berapa harga batik tulis?".as_bytes(), &mut rng);
    let onboarded = |partner_id| DomainEvent::PartnerOnboarded {
        partner_id,
        name: "Toko Batik Laras".into(),
        approval: ApprovalMode::Approval,
        pipeline: vec![PipelineStage { name: "lead".into(), probability_pct: 10 }],
    };
    let system = PartnerId(Uuid::nil());
    let customer = Actor::Customer { contact };
    let steps: Vec<(PartnerId, StreamId, Actor, DomainEvent)> = vec![
        (
            system,
            StreamId::signing_keys(),
            Actor::system("keys"),
            DomainEvent::SigningKeyRotated {
                key_id: first_key().id().to_string(),
                public_key: first_key().public_hex(),
                previous: None,
            },
        ),
        (PARTNER, StreamId::partner(PARTNER), Actor::system("admin"), onboarded(PARTNER)),
        (other, StreamId::partner(other), Actor::system("admin"), onboarded(other)),
        (
            PARTNER,
            StreamId::contact(contact),
            customer.clone(),
            DomainEvent::ContactIdentified {
                contact_id: contact,
                channel: ChannelKind::WhatsApp,
                identity: IdentityKind::WaId,
                blind_index: BlindIndex("5b0e4c2f9d1a7e3c8b6f0a2d4e6c8b1a3f5e7d9c0b2a4f6e8d0c2b4a6f8e0d2c".into()),
                value: wa_id,
                name: None,
            },
        ),
        (
            PARTNER,
            StreamId::conversation(conversation),
            customer.clone(),
            DomainEvent::ConversationOpened {
                conversation_id: conversation,
                contact_id: contact,
                channel: ChannelKind::WhatsApp,
                account_id: "106540352242922".into(),
                thread: ThreadRef::Direct,
            },
        ),
        (
            system,
            StreamId::signing_keys(),
            Actor::system("keys"),
            DomainEvent::SigningKeyRotated {
                key_id: second_key().id().to_string(),
                public_key: second_key().public_hex(),
                previous: Some(first_key().id().to_string()),
            },
        ),
        (
            PARTNER,
            StreamId::conversation(conversation),
            customer,
            DomainEvent::InboundMessageReceived {
                channel_message_id: "wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBDMEI3QzE2RjY3RjA3RkQ2AA==".into(),
                contact_id: contact,
                sent_at: Timestamp(T0),
                content: MessageContent::Text { body },
                reply_to: None,
                context: Default::default(),
            },
        ),
        (
            PARTNER,
            StreamId::contact(contact),
            Actor::PartnerUser { user: UserId(Uuid::from_u128(0x05e2)) },
            DomainEvent::ContactErased { data_keys: vec![data_key] },
        ),
    ];
    let mut heads: HashMap<String, (u64, [u8; 32])> = HashMap::new();
    let mut key = first_key();
    let mut out = Vec::new();
    for (i, (partner, stream, actor, event)) in steps.into_iter().enumerate() {
        let (version, prev) = heads.get(stream.as_str()).map_or((0, ZERO_HASH), |(v, h)| (v + 1, *h));
        let rotation = matches!(&event, DomainEvent::SigningKeyRotated { previous: Some(_), .. });
        let pending = PendingEvent {
            event_id: EventId(Uuid::from_u128(0xe000 + i as u128)),
            actor,
            causation_id: Uuid::from_u128(0xca00 + i as u128),
            correlation_id: Uuid::from_u128(0xc0de),
            event,
        };
        let recorded_at = Timestamp(T0 + i as i64 * 1_000);
        let env = Envelope::seal(&pending, partner, stream.clone(), version, prev, recorded_at, &key).unwrap();
        heads.insert(stream.as_str().to_owned(), (version, env.hash().unwrap()));
        out.push(StoredEnvelope { position: i as u64 + 1, envelope: env });
        if rotation {
            key = second_key();
        }
    }
    out
}

/// A third key, introduced by no honest event of the log.
pub fn third_key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([0x2c; 32])
}

/// Heads the Merkle log would have stored: after the Partner's 2nd envelope (first key)
/// and after its 4th (second key, introduced before it).
pub fn stored_heads(log: &[StoredEnvelope]) -> Vec<TreeHead> {
    let mut frontier = Frontier::default();
    let mut heads = Vec::new();
    for s in log.iter().filter(|s| s.envelope.header.partner_id == PARTNER) {
        frontier.push(leaf_hash(&s.envelope.hash().unwrap()));
        let at = Timestamp(s.envelope.header.recorded_at.0 + 500);
        match frontier.size() {
            2 => heads.push(TreeHead::sign(PARTNER, 2, frontier.root(), at, &first_key())),
            4 => heads.push(TreeHead::sign(PARTNER, 4, frontier.root(), at, &second_key())),
            _ => {}
        }
    }
    heads
}

pub fn export_to(dir: &Path) {
    export_log(log(), dir);
}

/// Exports `log` (PARTNER's bundle) with the heads the Merkle log would have stored.
pub fn export_log(log: Vec<StoredEnvelope>, dir: &Path) {
    let request = ExportRequest {
        partner: PARTNER,
        stored_heads: stored_heads(&log),
        secrets: &[first_key(), second_key()],
        now: Timestamp(T0 + 60_000),
        cosignatures: Vec::new(),
    };
    export_bundle(log.into_iter().map(Ok), request, dir, &|_| {}).unwrap();
}

/// A signature that only the key's holder can make and that batch verification accepts:
/// R is the identity (a point of small order), S = k·a, so [S]B = R + [k]A holds exactly.
pub fn small_order_r_signature(secret: [u8; 32], message: &[u8]) -> [u8; 64] {
    let expanded = Sha512::digest(secret);
    let a = Scalar::from_bytes_mod_order(clamp_integer(expanded[..32].try_into().unwrap()));
    let public = LedgerSigningKey::from_secret(secret).public();
    let mut r = [0u8; 32];
    r[0] = 1; // the identity point (0, 1)
    let k = Scalar::from_hash(Sha512::new().chain_update(r).chain_update(public.as_bytes()).chain_update(message));
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    signature[32..].copy_from_slice((k * a).as_bytes());
    signature
}

/// A signature whose R is a prime-order point plus a point of order 8, as only the key's
/// holder can make: the cofactored equation of §3 holds, the cofactorless one does not.
pub fn mixed_order_r_signature(secret: [u8; 32], message: &[u8]) -> [u8; 64] {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    let expanded = Sha512::digest(secret);
    let a = Scalar::from_bytes_mod_order(clamp_integer(expanded[..32].try_into().unwrap()));
    let public = LedgerSigningKey::from_secret(secret).public();
    let r = Scalar::hash_from_bytes::<Sha512>(message);
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress().to_bytes();
    let k = Scalar::from_hash(Sha512::new().chain_update(big_r).chain_update(public.as_bytes()).chain_update(message));
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice((r + k * a).as_bytes());
    signature
}
