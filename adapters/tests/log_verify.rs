//! `laras verify`'s checker on a whole log (not a bundle): the strict rules hold there
//! exactly as in `laras audit verify`.

#[path = "support/vector_log.rs"]
mod vector_log;

use laras_adapters::log_verify::verify_log;
use laras_commands::store::StoredEnvelope;
use laras_domain::event::DomainEvent;
use laras_domain::ids::EventId;
use laras_domain::stream::StreamId;
use laras_domain::verification::FailureKind;
use uuid::Uuid;
use vector_log::{first_key, log, second_key, small_order_r_signature, third_key, PARTNER};

fn check(log: Vec<StoredEnvelope>) -> Option<(u64, FailureKind)> {
    let report = verify_log(log.into_iter().map(Ok), &[first_key().public()], &|_| {});
    report.first_failure.map(|f| (f.position, f.kind))
}

#[test]
fn the_vector_log_verifies() {
    assert_eq!(check(log()), None);
}

#[test]
fn a_signature_with_a_small_order_r_is_refused_although_a_batch_accepts_it() {
    let mut log = log();
    let last = log.len() - 1;
    let env = &mut log[last].envelope;
    let bytes = env.canonical_bytes().unwrap();
    env.signature = small_order_r_signature([0x2b; 32], &bytes);
    let signature = ed25519_dalek::Signature::from_bytes(&env.signature);
    assert!(ed25519_dalek::verify_batch(&[&bytes], &[signature], &[second_key().public()]).is_ok());
    let kind = check(log).map(|(p, k)| (p, std::mem::discriminant(&k)));
    let expected = std::mem::discriminant(&FailureKind::BadSignature { key_id: String::new() });
    assert_eq!(kind, Some((last as u64 + 1, expected)));
}

#[test]
fn a_key_event_of_a_partner_continuing_the_signing_keys_chain_is_refused() {
    let mut log = log();
    let keys: Vec<_> = log.iter().filter(|s| s.envelope.header.stream_id == StreamId::signing_keys()).collect();
    let last_key = keys.last().unwrap().envelope.clone();
    let mut env = last_key.clone();
    env.header.event_id = EventId(Uuid::from_u128(0xbad1));
    env.header.partner_id = PARTNER;
    env.header.stream_version += 1;
    env.header.prev_hash = last_key.hash().unwrap();
    env.header.recorded_at = laras_domain::time::Timestamp(log.last().unwrap().envelope.header.recorded_at.0 + 1);
    env.header.key_id = second_key().id().clone();
    env.payload = DomainEvent::SigningKeyRotated {
        key_id: third_key().id().to_string(),
        public_key: third_key().public_hex(),
        previous: Some(second_key().id().to_string()),
    }
    .encode_payload();
    env.signature = second_key().sign(&env.canonical_bytes().unwrap());
    let position = log.len() as u64 + 1;
    log.push(StoredEnvelope { position, envelope: env });
    assert!(matches!(check(log), Some((p, FailureKind::BadKeyEvent { .. })) if p == position));
}
