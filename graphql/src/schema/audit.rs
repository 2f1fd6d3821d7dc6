//! The audit trail of a conversation, contact or opportunity: who did what, when, under which key.

use super::types::time;
use async_graphql::SimpleObject;
use laras_commands::store::StoredEnvelope;

#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEntry {
    /// The global ledger position.
    pub position: u64,
    pub event_id: String,
    pub event_type: String,
    pub stream_id: String,
    pub stream_version: u64,
    pub recorded_at: String,
    pub actor_kind: super::enums::ActorKind,
    /// The contact, generator, user or component.
    pub actor_id: String,
    /// The signing key (`ed25519:…`).
    pub key_id: String,
    pub causation_id: String,
    pub correlation_id: String,
    /// SHA-256 of the envelope's canonical bytes, hex.
    pub hash: String,
    /// The previous envelope's hash in this stream, hex.
    pub prev_hash: String,
}

impl AuditEntry {
    pub fn of(stored: &StoredEnvelope) -> Self {
        let h = &stored.envelope.header;
        Self {
            position: stored.position,
            event_id: h.event_id.to_string(),
            event_type: h.event_type.clone(),
            stream_id: h.stream_id.to_string(),
            stream_version: h.stream_version,
            recorded_at: time(h.recorded_at),
            actor_kind: (&h.actor).into(),
            actor_id: h.actor.id_text(),
            key_id: h.key_id.as_str().to_owned(),
            causation_id: h.causation_id.to_string(),
            correlation_id: h.correlation_id.to_string(),
            hash: stored.envelope.hash().map(hex::encode).unwrap_or_default(),
            prev_hash: hex::encode(h.prev_hash),
        }
    }
}
