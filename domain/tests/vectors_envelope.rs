//! `tests/vectors/envelopes.json` must match what the code produces, byte for byte.
//! Regenerate after a deliberate format change with `LARAS_REGENERATE_VECTORS=1`.

use laras_domain::actor::Actor;
use laras_domain::blind::{BlindIndex, IdentityKind};
use laras_domain::channel::ChannelKind;
use laras_domain::envelope::{Envelope, PendingEvent, ZERO_HASH};
use laras_domain::event::*;
use laras_domain::ids::*;
use laras_domain::sealed::{Sealed, SecretKey};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use laras_domain::verification::{ChainChecker, KeyRing};
use rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/envelopes.json");

fn key() -> LedgerSigningKey {
    LedgerSigningKey::from_secret([0x2a; 32])
}

fn data_key() -> (DataKeyId, SecretKey) {
    (DataKeyId(Uuid::from_u128(0xd47a)), SecretKey::from_bytes([0x07; 32]))
}

fn envelopes() -> Vec<Envelope> {
    let key = key();
    let partner = PartnerId(Uuid::from_u128(0x9a27_4e12));
    let contact = ContactId(Uuid::from_u128(0xc0));
    let conversation = ConversationId(Uuid::from_u128(0xc1));
    let (dk_id, dk) = data_key();
    let mut rng = StdRng::seed_from_u64(2026);
    let body = Sealed::seal(dk_id, &dk, "Berapa harga batik tulis?".as_bytes(), &mut rng);
    let wa_id = Sealed::seal(dk_id, &dk, b"6281234567890", &mut rng);
    let system = PartnerId(Uuid::nil());
    let steps: Vec<(PartnerId, StreamId, Actor, DomainEvent)> = vec![
        (
            system,
            StreamId::signing_keys(),
            Actor::system("keys"),
            DomainEvent::SigningKeyRotated {
                key_id: key.id().to_string(),
                public_key: key.public_hex(),
                previous: None,
            },
        ),
        (
            partner,
            StreamId::partner(partner),
            Actor::system("admin"),
            DomainEvent::PartnerOnboarded {
                partner_id: partner,
                name: "Toko Batik Laras".into(),
                approval: ApprovalMode::Approval,
                pipeline: vec![
                    PipelineStage { name: "lead".into(), probability_pct: 10 },
                    PipelineStage { name: "proposal".into(), probability_pct: 60 },
                ],
            },
        ),
        (
            partner,
            StreamId::partner(partner),
            Actor::PartnerUser { user: UserId(Uuid::from_u128(0x05e2)) },
            DomainEvent::ChannelConnected {
                channel: ChannelKind::WhatsApp,
                account_id: "106540352242922".into(),
                display_name: "Toko Batik Laras".into(),
                proof: None,
            },
        ),
        (
            partner,
            StreamId::contact(contact),
            Actor::Customer { contact },
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
            partner,
            StreamId::conversation(conversation),
            Actor::Customer { contact },
            DomainEvent::ConversationOpened {
                conversation_id: conversation,
                contact_id: contact,
                channel: ChannelKind::WhatsApp,
                account_id: "106540352242922".into(),
                thread: ThreadRef::Direct,
            },
        ),
        (
            partner,
            StreamId::conversation(conversation),
            Actor::Customer { contact },
            DomainEvent::InboundMessageReceived {
                channel_message_id: "wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBDMEI3QzE2RjY3RjA3RkQ2AA==".into(),
                contact_id: contact,
                sent_at: Timestamp::from_seconds(1_767_225_600),
                content: MessageContent::Text { body },
                reply_to: None,
                context: Default::default(),
            },
        ),
    ];
    let mut heads: HashMap<String, (u64, [u8; 32])> = HashMap::new();
    steps
        .into_iter()
        .enumerate()
        .map(|(i, (partner, stream, actor, event))| {
            let (version, prev) = heads.get(stream.as_str()).map_or((0, ZERO_HASH), |(v, h)| (v + 1, *h));
            let pending = PendingEvent {
                event_id: EventId(Uuid::from_u128(0xe000 + i as u128)),
                actor,
                causation_id: Uuid::from_u128(0xca00 + i as u128),
                correlation_id: Uuid::from_u128(0xc0de),
                event,
            };
            let recorded_at = Timestamp(1_767_225_600_000 + i as i64 * 1_000);
            let env = Envelope::seal(&pending, partner, stream.clone(), version, prev, recorded_at, &key).unwrap();
            heads.insert(stream.as_str().to_owned(), (version, env.hash().unwrap()));
            env
        })
        .collect()
}

fn render(envs: &[Envelope]) -> Value {
    let key = key();
    let (dk_id, dk) = data_key();
    let items: Vec<Value> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let h = &e.header;
            json!({
                "position": i + 1,
                "event_id": h.event_id.to_string(),
                "partner_id": h.partner_id.to_string(),
                "stream_id": h.stream_id.as_str(),
                "stream_version": h.stream_version,
                "recorded_at": h.recorded_at.0,
                "actor_kind": h.actor.kind_code(),
                "actor_id": h.actor.id_text(),
                "causation_id": h.causation_id.to_string(),
                "correlation_id": h.correlation_id.to_string(),
                "event_type": h.event_type,
                "event_version": h.event_version,
                "key_id": h.key_id.as_str(),
                "prev_hash": hex::encode(h.prev_hash),
                "payload_utf8": String::from_utf8_lossy(&e.payload),
                "payload_hex": hex::encode(&e.payload),
                "canonical_bytes_hex": hex::encode(e.canonical_bytes().unwrap()),
                "hash": hex::encode(e.hash().unwrap()),
                "signature": hex::encode(e.signature),
            })
        })
        .collect();
    json!({
        "format": "laras envelope v1 (docs/audit-format.md)",
        "signing_key": { "secret": hex::encode(key.secret_bytes()), "public": key.public_hex(), "key_id": key.id().as_str() },
        "data_key": { "id": dk_id.to_string(), "secret": hex::encode(dk.as_bytes()), "opens": {
            "position 4 value": "6281234567890", "position 6 content.body": "Berapa harga batik tulis?" } },
        "envelopes": items,
    })
}

#[test]
fn the_envelope_vectors_match_the_code() {
    let rendered = serde_json::to_string_pretty(&render(&envelopes())).unwrap() + "\n";
    if std::env::var("LARAS_REGENERATE_VECTORS").is_ok() {
        std::fs::write(PATH, &rendered).unwrap();
    }
    let stored = std::fs::read_to_string(PATH)
        .expect("tests/vectors/envelopes.json exists (regenerate with LARAS_REGENERATE_VECTORS=1)");
    assert_eq!(stored, rendered, "the format changed: update docs/audit-format.md and regenerate the vectors");
}

#[test]
fn the_vectors_verify_and_their_sealed_fields_open() {
    let envs = envelopes();
    let mut ring = KeyRing::new(vec![key().public()]);
    let mut chains = ChainChecker::default();
    for e in &envs {
        chains.check(&e.header, e.hash().unwrap()).unwrap();
        assert!(e.verify_signature(&ring.signer_of(e).unwrap()));
    }
    let (_, dk) = data_key();
    match envs[5].event().unwrap() {
        DomainEvent::InboundMessageReceived { content: MessageContent::Text { body }, .. } => {
            assert_eq!(body.open_text(&dk).unwrap(), "Berapa harga batik tulis?");
        }
        other => panic!("unexpected {other:?}"),
    }
}
