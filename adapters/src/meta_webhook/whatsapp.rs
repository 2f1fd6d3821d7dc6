//! WhatsApp Cloud API webhooks (`object: whatsapp_business_account`): `entry[].changes[].value`.

use super::signal::{Ignored, Signal, WebhookBatch};
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::status::IncomingStatus;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DeliveryStatus};
use laras_domain::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub(super) struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangeValue {
    metadata: Metadata,
    contacts: Vec<Contact>,
    messages: Vec<Message>,
    statuses: Vec<Status>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Contact {
    wa_id: String,
    profile: Profile,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Message {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    context: Option<Context>,
    text: Option<Text>,
    image: Option<Media>,
    audio: Option<Media>,
    video: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Value>,
    contacts: Option<Value>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    reaction: Option<Reaction>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Text {
    body: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Media {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    voice: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Interactive {
    button_reply: Option<Choice>,
    list_reply: Option<Choice>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    id: String,
    title: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Button {
    payload: String,
    text: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reaction {
    message_id: String,
    emoji: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    id: String,
    status: String,
    timestamp: String,
    recipient_id: String,
    errors: Vec<StatusError>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusError {
    code: i64,
    title: String,
}

fn seconds(ts: &str) -> Option<Timestamp> {
    ts.trim().parse::<i64>().ok().map(Timestamp::from_seconds)
}

pub(super) fn read(entries: Vec<Entry>, out: &mut WebhookBatch) {
    for change in entries.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            out.ignored.push(Ignored { reason: format!("whatsapp field {:?}", change.field) });
            continue;
        }
        let value: ChangeValue = match serde_json::from_value(change.value) {
            Ok(v) => v,
            Err(_) => {
                out.ignored.push(Ignored { reason: "whatsapp change value does not parse".into() });
                continue;
            }
        };
        let account = value.metadata.phone_number_id;
        if account.is_empty() {
            out.ignored.push(Ignored { reason: "whatsapp change without metadata.phone_number_id".into() });
            continue;
        }
        for m in value.messages {
            let name = value.contacts.iter().find(|c| c.wa_id == m.from).and_then(|c| c.profile.name.clone());
            match message(&account, m, name) {
                Ok(signal) => out.signals.push(signal),
                Err(reason) => out.ignored.push(Ignored { reason }),
            }
        }
        for s in value.statuses {
            match status(&account, s) {
                Ok(signal) => out.signals.push(signal),
                Err(reason) => out.ignored.push(Ignored { reason }),
            }
        }
    }
}

fn media(m: Option<Media>) -> Result<Media, String> {
    m.filter(|m| !m.id.is_empty()).ok_or_else(|| "whatsapp media message without a media id".to_owned())
}

fn message(account: &str, m: Message, name: Option<String>) -> Result<Signal, String> {
    if m.id.is_empty() || m.from.is_empty() {
        return Err("whatsapp message without id or sender".into());
    }
    let sent_at = seconds(&m.timestamp).ok_or("whatsapp message with a bad timestamp")?;
    let content = match m.kind.as_str() {
        "text" => PlainContent::Text(m.text.map(|t| t.body).unwrap_or_default()),
        "image" => {
            let i = media(m.image)?;
            PlainContent::Image { media: i.id, mime: i.mime_type, caption: i.caption }
        }
        "audio" => {
            let a = media(m.audio)?;
            if a.voice {
                PlainContent::VoiceNote { media: a.id, mime: a.mime_type }
            } else {
                PlainContent::Attachment {
                    attachment: AttachmentKind::Audio,
                    media: a.id,
                    mime: a.mime_type,
                    caption: None,
                }
            }
        }
        "video" => {
            let v = media(m.video)?;
            PlainContent::Attachment {
                attachment: AttachmentKind::Video,
                media: v.id,
                mime: v.mime_type,
                caption: v.caption,
            }
        }
        "document" => {
            let d = media(m.document)?;
            let caption = d.caption.or(d.filename);
            PlainContent::Attachment { attachment: AttachmentKind::Document, media: d.id, mime: d.mime_type, caption }
        }
        "sticker" => {
            let s = media(m.sticker)?;
            PlainContent::Attachment {
                attachment: AttachmentKind::Sticker,
                media: s.id,
                mime: s.mime_type,
                caption: None,
            }
        }
        "location" => PlainContent::Location { place_json: m.location.unwrap_or_default().to_string() },
        "contacts" => PlainContent::SharedContacts { cards_json: m.contacts.unwrap_or_default().to_string() },
        "interactive" => {
            let i = m.interactive.unwrap_or_default();
            let choice = i.button_reply.or(i.list_reply).ok_or("whatsapp interactive message without a reply")?;
            PlainContent::InteractiveReply { reply_id: choice.id, title: choice.title }
        }
        "button" => {
            let b = m.button.unwrap_or_default();
            PlainContent::ButtonReply { payload: b.payload, text: b.text }
        }
        "reaction" => {
            let r = m.reaction.unwrap_or_default();
            PlainContent::Reaction { to_message: r.message_id, emoji: r.emoji.filter(|e| !e.is_empty()) }
        }
        other => PlainContent::Unsupported { kind: other.chars().take(40).collect() },
    };
    Ok(Signal::Message(IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: m.from, name },
        channel_message_id: m.id,
        sent_at,
        content,
        reply_to: m.context.and_then(|c| c.id),
    }))
}

fn status(account: &str, s: Status) -> Result<Signal, String> {
    if s.id.is_empty() || s.recipient_id.is_empty() {
        return Err("whatsapp status without id or recipient".into());
    }
    let at = seconds(&s.timestamp).ok_or("whatsapp status with a bad timestamp")?;
    let status = match s.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => {
            let e = s.errors.into_iter().next().unwrap_or_default();
            DeliveryStatus::Failed { code: e.code, title: e.title.chars().take(300).collect() }
        }
        other => return Err(format!("whatsapp status {:?}", other.chars().take(20).collect::<String>())),
    };
    Ok(Signal::Status(IncomingStatus {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        recipient: SenderIdentity { kind: IdentityKind::WaId, value: s.recipient_id, name: None },
        platform_message_id: s.id,
        status,
        at,
    }))
}
