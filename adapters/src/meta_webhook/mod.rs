//! Meta's webhooks: the signature check and the wire formats, turned into [`Signal`]s.
//!
//! Serialize only at the edges: Meta's JSON types are private to this module. A
//! delivery that is not JSON is an error; anything Laras does not act on inside a
//! well-formed delivery (an unknown object, field or message type) is `Ignored`, so
//! the endpoint still answers 200 (Meta disables endpoints that keep failing).

mod http;
mod messaging;
mod signal;
mod signature;
mod threads;
mod whatsapp;

pub use http::{routes, WebhookCounters, WebhookState, MAX_BODY};
pub use signal::{Ignored, Signal, WebhookBatch};
pub use signature::{verify_signature, SignatureError};

use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the body is not a JSON object")]
    NotJson,
}

#[derive(Deserialize)]
struct Envelope {
    object: Option<String>,
    #[serde(default)]
    entry: Vec<Value>,
    values: Option<Value>,
}

fn entries<T: serde::de::DeserializeOwned>(raw: Vec<Value>, object: &str, out: &mut WebhookBatch) -> Vec<T> {
    raw.into_iter()
        .filter_map(|e| match serde_json::from_value(e) {
            Ok(entry) => Some(entry),
            Err(_) => {
                out.ignored.push(Ignored { reason: format!("{object} entry does not parse") });
                None
            }
        })
        .collect()
}

/// Reads one delivery. `received_at` stands in for times a payload does not carry.
pub fn parse(raw_body: &[u8], received_at: Timestamp) -> Result<WebhookBatch, ParseError> {
    let value: Value = serde_json::from_slice(raw_body).map_err(|_| ParseError::NotJson)?;
    if !value.is_object() {
        return Err(ParseError::NotJson);
    }
    let envelope: Envelope = serde_json::from_value(value.clone()).map_err(|_| ParseError::NotJson)?;
    let mut out = WebhookBatch::default();
    match envelope.object.as_deref() {
        Some("whatsapp_business_account") => {
            let list = entries(envelope.entry, "whatsapp", &mut out);
            whatsapp::read(list, &mut out);
        }
        Some("page") => {
            let list = entries(envelope.entry, "page", &mut out);
            messaging::read(ChannelKind::Messenger, list, received_at, &mut out);
        }
        Some("instagram") => {
            let list = entries(envelope.entry, "instagram", &mut out);
            messaging::read(ChannelKind::Instagram, list, received_at, &mut out);
        }
        Some("threads") | None if envelope.values.is_some() => match serde_json::from_value(value) {
            Ok(delivery) => threads::read(delivery, received_at, &mut out),
            Err(_) => out.ignored.push(Ignored { reason: "threads delivery does not parse".into() }),
        },
        Some(other) => out
            .ignored
            .push(Ignored { reason: format!("unknown object {:?}", other.chars().take(40).collect::<String>()) }),
        None => out.ignored.push(Ignored { reason: "delivery without object".into() }),
    }
    Ok(out)
}
