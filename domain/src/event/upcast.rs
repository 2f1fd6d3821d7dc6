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
///
/// A payload at the current version is read in one pass, straight from its bytes into the
/// event (the tag handed over first, so serde reads the data without buffering it); only
/// an older version goes through a JSON tree, for its upgrade steps.
pub fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<DomainEvent, DecodeError> {
    if version > CURRENT_EVENT_VERSION || version == 0 {
        return Err(DecodeError::FutureVersion { event_type: event_type.to_owned(), version });
    }
    let decoded = if version == CURRENT_EVENT_VERSION {
        decode_current(event_type, payload)
    } else {
        let data: Value = serde_json::from_slice(payload).map_err(|e| DecodeError::Payload {
            event_type: event_type.to_owned(),
            version,
            reason: e.to_string(),
        })?;
        let data = upgrade(event_type, version, data);
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))
    };
    decoded.map_err(|e| {
        let reason = e.to_string();
        if reason.starts_with("unknown variant") {
            DecodeError::UnknownType(event_type.to_owned())
        } else {
            DecodeError::Payload { event_type: event_type.to_owned(), version, reason }
        }
    })
}

/// The event from its type and its payload's bytes, with nothing after the payload.
fn decode_current(event_type: &str, payload: &[u8]) -> Result<DomainEvent, serde_json::Error> {
    use serde::Deserialize;
    let mut data = serde_json::Deserializer::from_slice(payload);
    let tagged = Tagged { event_type, data: &mut data, next: Field::Type };
    let event = DomainEvent::deserialize(serde::de::value::MapAccessDeserializer::new(tagged))?;
    data.end()?;
    Ok(event)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Type,
    Data,
    Done,
}

/// `{"type": event_type, "data": <payload>}` as a map, without building it: the payload's
/// deserializer is handed to the event's data as it is.
struct Tagged<'a, 'de> {
    event_type: &'a str,
    data: &'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
    next: Field,
}

impl<'de> serde::de::MapAccess<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        use serde::de::value::StrDeserializer;
        let key = match self.next {
            Field::Type => "type",
            Field::Data => "data",
            Field::Done => return Ok(None),
        };
        seed.deserialize(StrDeserializer::<serde_json::Error>::new(key)).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        match self.next {
            Field::Type => {
                self.next = Field::Data;
                seed.deserialize(serde::de::value::StrDeserializer::<serde_json::Error>::new(self.event_type))
            }
            Field::Data | Field::Done => {
                self.next = Field::Done;
                seed.deserialize(&mut *self.data)
            }
        }
    }
}

/// Each step turns version `n` of one type into version `n + 1`. None exist yet: every
/// type is at version 1. A new version adds its step here with a fixture test.
fn upgrade(_event_type: &str, _version: u16, data: Value) -> Value {
    data
}
