//! WhatsApp Cloud API webhooks (`object: whatsapp_business_account`): `entry[].changes[].value`,
//! each message and status read on its own.

use super::json::{flag, int, label, list, object, text};
use super::signal::{Signal, Skip, WebhookBatch};
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::status::IncomingStatus;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DeliveryStatus};
use laras_domain::time::Timestamp;
use serde_json::Value;

pub(super) fn read(entries: &[Value], out: &mut WebhookBatch) {
    for (e, entry) in entries.iter().enumerate() {
        if !entry.is_object() {
            out.item("whatsapp entry", None, || format!("entry {e}"), Err("not an object".into()));
            continue;
        }
        for (c, change) in list(entry, "changes").iter().enumerate() {
            let field = text(change, "field").unwrap_or_default();
            if field != "messages" {
                out.ignore(format!("whatsapp field {:?}", label(&field)));
                continue;
            }
            let Some(value) = object(change, "value") else {
                out.item("whatsapp change", None, || format!("entry {e} change {c}"), Err("no value object".into()));
                continue;
            };
            let Some(account) = object(value, "metadata").and_then(|m| text(m, "phone_number_id")) else {
                out.item("whatsapp change", None, || format!("entry {e} change {c}"), Err("no phone_number_id".into()));
                continue;
            };
            let contacts = list(value, "contacts");
            for (i, m) in list(value, "messages").iter().enumerate() {
                let outcome = message(&account, m, contacts).map(|s| vec![s]);
                out.item("whatsapp message", Some(&account), || format!("entry {e} change {c} message {i}"), outcome);
            }
            for (i, s) in list(value, "statuses").iter().enumerate() {
                let outcome = status(&account, s).map(|s| vec![s]);
                out.item("whatsapp status", Some(&account), || format!("entry {e} change {c} status {i}"), outcome);
            }
        }
    }
}

fn seconds(v: &Value) -> Option<Timestamp> {
    int(v, "timestamp").map(Timestamp::from_seconds)
}

/// The sender's profile name, from the change's `contacts` entry for the same `wa_id`.
fn profile_name(contacts: &[Value], wa_id: &str) -> Option<String> {
    contacts
        .iter()
        .find(|c| text(c, "wa_id").as_deref() == Some(wa_id))
        .and_then(|c| object(c, "profile"))
        .and_then(|p| text(p, "name"))
}

struct Media {
    id: String,
    mime: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    voice: bool,
}

fn media_of(m: &Value, kind: &str) -> Result<Media, Skip> {
    let o = object(m, kind).ok_or(Skip::Malformed("media message without its media object"))?;
    Ok(Media {
        id: text(o, "id").ok_or(Skip::Malformed("media message without a media id"))?,
        mime: text(o, "mime_type"),
        caption: text(o, "caption"),
        filename: text(o, "filename"),
        voice: flag(o, "voice"),
    })
}

fn message(account: &str, m: &Value, contacts: &[Value]) -> Result<Signal, Skip> {
    if !m.is_object() {
        return Err("not an object".into());
    }
    let id = text(m, "id").ok_or("no message id")?;
    let from = text(m, "from").ok_or("no sender")?;
    let sent_at = seconds(m).ok_or("no readable timestamp")?;
    let kind = text(m, "type").unwrap_or_default();
    let content = match kind.as_str() {
        "text" => PlainContent::Text(object(m, "text").and_then(|t| text(t, "body")).unwrap_or_default()),
        "image" => {
            let i = media_of(m, "image")?;
            PlainContent::Image { media: i.id, mime: i.mime, caption: i.caption }
        }
        "audio" => {
            let a = media_of(m, "audio")?;
            if a.voice {
                PlainContent::VoiceNote { media: a.id, mime: a.mime }
            } else {
                PlainContent::Attachment { attachment: AttachmentKind::Audio, media: a.id, mime: a.mime, caption: None }
            }
        }
        "video" => {
            let v = media_of(m, "video")?;
            PlainContent::Attachment {
                attachment: AttachmentKind::Video,
                media: v.id,
                mime: v.mime,
                caption: v.caption,
            }
        }
        "document" => {
            let d = media_of(m, "document")?;
            let caption = d.caption.or(d.filename);
            PlainContent::Attachment { attachment: AttachmentKind::Document, media: d.id, mime: d.mime, caption }
        }
        "sticker" => {
            let s = media_of(m, "sticker")?;
            PlainContent::Attachment { attachment: AttachmentKind::Sticker, media: s.id, mime: s.mime, caption: None }
        }
        "location" => PlainContent::Location { place_json: m.get("location").cloned().unwrap_or_default().to_string() },
        "contacts" => {
            PlainContent::SharedContacts { cards_json: m.get("contacts").cloned().unwrap_or_default().to_string() }
        }
        "interactive" => {
            let i = object(m, "interactive").ok_or("interactive message without its object")?;
            let choice = object(i, "button_reply")
                .or_else(|| object(i, "list_reply"))
                .ok_or("interactive message without a reply")?;
            PlainContent::InteractiveReply {
                reply_id: text(choice, "id").unwrap_or_default(),
                title: text(choice, "title").unwrap_or_default(),
            }
        }
        "button" => {
            let b = object(m, "button").ok_or("button message without its object")?;
            PlainContent::ButtonReply {
                payload: text(b, "payload").unwrap_or_default(),
                text: text(b, "text").unwrap_or_default(),
            }
        }
        "reaction" => {
            let r = object(m, "reaction").ok_or("reaction without its object")?;
            PlainContent::Reaction {
                to_message: text(r, "message_id").ok_or("reaction without message_id")?,
                emoji: text(r, "emoji"),
            }
        }
        other => PlainContent::Unsupported { kind: label(other) },
    };
    Ok(Signal::Message(IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        sender: SenderIdentity { kind: IdentityKind::WaId, name: profile_name(contacts, &from), value: from },
        channel_message_id: id,
        sent_at,
        content,
        reply_to: object(m, "context").and_then(|c| text(c, "id")),
    }))
}

fn status(account: &str, s: &Value) -> Result<Signal, Skip> {
    if !s.is_object() {
        return Err("not an object".into());
    }
    let id = text(s, "id").ok_or("no message id")?;
    let recipient = text(s, "recipient_id").ok_or("no recipient")?;
    let at = seconds(s).ok_or("no readable timestamp")?;
    let status = match text(s, "status").unwrap_or_default().as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => {
            let e = list(s, "errors").first();
            DeliveryStatus::Failed {
                code: e.and_then(|e| int(e, "code")).unwrap_or_default(),
                title: e.and_then(|e| text(e, "title")).unwrap_or_default().chars().take(300).collect(),
            }
        }
        other => return Err(Skip::Ignored(format!("whatsapp status {:?}", label(other)))),
    };
    Ok(Signal::Status(IncomingStatus {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        recipient: SenderIdentity { kind: IdentityKind::WaId, value: recipient, name: None },
        platform_message_id: id,
        status,
        at,
    }))
}
