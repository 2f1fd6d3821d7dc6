//! Meta's webhooks: the signature check and the wire formats, turned into [`Signal`]s.
//!
//! Serialize only at the edges: Meta's JSON types are private to this module. A
//! delivery that is not JSON is an error; anything Laras does not act on inside a
//! well-formed delivery (an unknown object, field or message type) is `Ignored`, so
//! the endpoint still answers 200 (Meta disables endpoints that keep failing).

mod http;
mod json;
mod messaging;
mod senders;
mod signal;
mod signature;
mod threads;
mod whatsapp;

pub use http::{routes, WebhookCounters, WebhookState, MAX_BODY};
pub use senders::BadSenders;
pub use signal::{Ignored, Malformed, Signal, WebhookBatch};
pub use signature::{verify_signature, SignatureError};

use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the body is not a JSON object")]
    NotJson,
}

/// Reads one delivery. `received_at` stands in for times a payload does not carry.
/// Each entry, change, message, messaging item and status is read on its own: one that
/// cannot be read is listed in [`WebhookBatch::malformed`] and the others still count.
pub fn parse(raw_body: &[u8], received_at: Timestamp) -> Result<WebhookBatch, ParseError> {
    let value: Value = serde_json::from_slice(raw_body).map_err(|_| ParseError::NotJson)?;
    if !value.is_object() {
        return Err(ParseError::NotJson);
    }
    let mut out = WebhookBatch::default();
    let entries = json::list(&value, "entry");
    match json::text(&value, "object").as_deref() {
        Some("whatsapp_business_account") => whatsapp::read(entries, &mut out),
        Some("page") => messaging::read(ChannelKind::Messenger, entries, received_at, &mut out),
        Some("instagram") => messaging::read(ChannelKind::Instagram, entries, received_at, &mut out),
        Some("threads") | None if value.get("values").is_some() => threads::read(&value, received_at, &mut out),
        Some(other) => out.ignore(format!("unknown object {:?}", json::label(other))),
        None => out.ignore("delivery without object"),
    }
    Ok(out)
}
