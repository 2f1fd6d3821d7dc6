//! Reading stored payloads back into events, upgrading old versions as they are read.

use super::{DomainEvent, CURRENT_EVENT_VERSION};
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event {event_type} has version {version}, newer than this build understands")]
    FutureVersion { event_type: String, version: u16 },
    #[error("payload of {event_type} v{version} does not decode: {reason}")]
    Payload { event_type: String, version: u16, reason: String },
}

/// Decodes a stored payload of `event_type` at `version` into the current event shape.
pub fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<DomainEvent, DecodeError> {
    if version > CURRENT_EVENT_VERSION || version == 0 {
        return Err(DecodeError::FutureVersion { event_type: event_type.to_owned(), version });
    }
    let data: Value = serde_json::from_slice(payload).map_err(|e| DecodeError::Payload {
        event_type: event_type.to_owned(),
        version,
        reason: e.to_string(),
    })?;
    let data = upgrade(event_type, version, data);
    let tagged = serde_json::json!({ "type": event_type, "data": data });
    serde_json::from_value(tagged).map_err(|e| {
        let reason = e.to_string();
        if reason.starts_with("unknown variant") {
            DecodeError::UnknownType(event_type.to_owned())
        } else {
            DecodeError::Payload { event_type: event_type.to_owned(), version, reason }
        }
    })
}

/// Each step turns version `n` of one type into version `n + 1`. None exist yet: every
/// type is at version 1. A new version adds its step here with a fixture test.
fn upgrade(_event_type: &str, _version: u16, data: Value) -> Value {
    data
}
