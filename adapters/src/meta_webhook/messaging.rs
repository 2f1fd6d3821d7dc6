//! Messenger (`object: page`) and Instagram (`object: instagram`) webhooks:
//! `entry[].messaging[]` for direct messages, `entry[].changes[]` for Instagram comments.

use super::signal::{Ignored, Signal, WebhookBatch};
use laras_commands::handlers::inbound::{IncomingComment, IncomingEcho, IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::status::{IncomingStatus, IncomingWatermark};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DeliveryStatus};
use laras_domain::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Entry {
    id: String,
    messaging: Vec<Messaging>,
    changes: Vec<Change>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Party {
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Messaging {
    sender: Party,
    recipient: Party,
    timestamp: i64,
    message: Option<Message>,
    delivery: Option<Delivery>,
    read: Option<Read>,
    postback: Option<Postback>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Message {
    mid: String,
    text: Option<String>,
    is_echo: bool,
    quick_reply: Option<QuickReply>,
    reply_to: Option<ReplyTo>,
    attachments: Vec<Attachment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReplyTo {
    mid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    payload: AttachmentPayload,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AttachmentPayload {
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Delivery {
    mids: Vec<String>,
    watermark: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Read {
    watermark: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Postback {
    mid: Option<String>,
    title: String,
    payload: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Change {
    field: String,
    value: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommentValue {
    id: String,
    text: String,
    parent_id: Option<String>,
    from: CommentAuthor,
    media: CommentMedia,
    timestamp: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommentAuthor {
    id: String,
    username: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommentMedia {
    id: String,
}

pub(super) fn read(channel: ChannelKind, entries: Vec<Entry>, received_at: Timestamp, out: &mut WebhookBatch) {
    let user_kind = if channel == ChannelKind::Instagram { IdentityKind::Igsid } else { IdentityKind::Psid };
    for entry in entries {
        if entry.id.is_empty() {
            out.ignored.push(Ignored { reason: format!("{channel} entry without an id") });
            continue;
        }
        for m in entry.messaging {
            match messaging(channel, user_kind, &entry.id, m) {
                Ok(signals) => out.signals.extend(signals),
                Err(reason) => out.ignored.push(Ignored { reason }),
            }
        }
        for change in entry.changes {
            match (channel, change.field.as_str()) {
                (ChannelKind::Instagram, "comments" | "live_comments") => {
                    match comment(&entry.id, change.value, received_at) {
                        Ok(signal) => out.signals.push(signal),
                        Err(reason) => out.ignored.push(Ignored { reason }),
                    }
                }
                (_, field) => out.ignored.push(Ignored {
                    reason: format!("{channel} field {:?}", field.chars().take(40).collect::<String>()),
                }),
            }
        }
    }
}

fn customer(kind: IdentityKind, id: &str) -> SenderIdentity {
    SenderIdentity { kind, value: id.to_owned(), name: None }
}

fn messaging(channel: ChannelKind, kind: IdentityKind, account: &str, m: Messaging) -> Result<Vec<Signal>, String> {
    let at = Timestamp(m.timestamp);
    if let Some(msg) = m.message {
        if msg.mid.is_empty() {
            return Err(format!("{channel} message without mid"));
        }
        if msg.is_echo {
            // The Page wrote to the customer (the recipient) outside Laras.
            return Ok(vec![Signal::Echo(IncomingEcho {
                channel,
                account_id: account.to_owned(),
                recipient: customer(kind, &m.recipient.id),
                channel_message_id: msg.mid,
                text: msg.text,
                sent_at: at,
            })]);
        }
        if m.sender.id.is_empty() {
            return Err(format!("{channel} message without a sender"));
        }
        let content = match (&msg.text, &msg.quick_reply, msg.attachments.first()) {
            (Some(text), Some(q), _) => PlainContent::ButtonReply { payload: q.payload.clone(), text: text.clone() },
            (Some(text), None, _) => PlainContent::Text(text.clone()),
            (None, _, Some(a)) => attachment(a),
            (None, _, None) => PlainContent::Unsupported { kind: "empty".into() },
        };
        return Ok(vec![Signal::Message(IncomingMessage {
            channel,
            account_id: account.to_owned(),
            sender: customer(kind, &m.sender.id),
            channel_message_id: msg.mid,
            sent_at: at,
            content,
            reply_to: msg.reply_to.and_then(|r| r.mid),
        })]);
    }
    if let Some(p) = m.postback {
        let mid = p.mid.unwrap_or_else(|| format!("postback:{}:{}", m.sender.id, m.timestamp));
        return Ok(vec![Signal::Message(IncomingMessage {
            channel,
            account_id: account.to_owned(),
            sender: customer(kind, &m.sender.id),
            channel_message_id: mid,
            sent_at: at,
            content: PlainContent::ButtonReply { payload: p.payload, text: p.title },
            reply_to: None,
        })]);
    }
    if let Some(d) = m.delivery {
        if d.mids.is_empty() {
            return Ok(vec![Signal::Watermark(IncomingWatermark {
                channel,
                account_id: account.to_owned(),
                customer: customer(kind, &m.sender.id),
                status: DeliveryStatus::Delivered,
                watermark: Timestamp(d.watermark),
            })]);
        }
        return Ok(d
            .mids
            .into_iter()
            .map(|mid| {
                Signal::Status(IncomingStatus {
                    channel,
                    account_id: account.to_owned(),
                    recipient: customer(kind, &m.sender.id),
                    platform_message_id: mid,
                    status: DeliveryStatus::Delivered,
                    at: Timestamp(d.watermark),
                })
            })
            .collect());
    }
    if let Some(r) = m.read {
        return Ok(vec![Signal::Watermark(IncomingWatermark {
            channel,
            account_id: account.to_owned(),
            customer: customer(kind, &m.sender.id),
            status: DeliveryStatus::Read,
            watermark: Timestamp(r.watermark),
        })]);
    }
    Err(format!("{channel} messaging item of an unknown kind"))
}

fn attachment(a: &Attachment) -> PlainContent {
    let media = a.payload.url.clone().unwrap_or_default();
    match a.kind.as_str() {
        "image" => PlainContent::Image { media, mime: None, caption: None },
        "audio" => PlainContent::VoiceNote { media, mime: None },
        "video" => PlainContent::Attachment { attachment: AttachmentKind::Video, media, mime: None, caption: None },
        "file" => PlainContent::Attachment { attachment: AttachmentKind::File, media, mime: None, caption: None },
        "sticker" => PlainContent::Attachment { attachment: AttachmentKind::Sticker, media, mime: None, caption: None },
        other => PlainContent::Unsupported { kind: other.chars().take(40).collect() },
    }
}

fn comment(account: &str, value: Value, received_at: Timestamp) -> Result<Signal, String> {
    let c: CommentValue = serde_json::from_value(value).map_err(|_| "instagram comment does not parse".to_owned())?;
    if c.id.is_empty() || c.from.id.is_empty() || c.media.id.is_empty() {
        return Err("instagram comment without id, author or media".into());
    }
    // Comment webhooks carry no reliable time of their own in every version: the time
    // Meta delivered it is the closest honest value.
    let sent_at = match c.timestamp {
        Some(Value::Number(n)) => n.as_i64().map(Timestamp::from_seconds).unwrap_or(received_at),
        _ => received_at,
    };
    Ok(Signal::Comment(IncomingComment {
        channel: ChannelKind::Instagram,
        account_id: account.to_owned(),
        sender: SenderIdentity { kind: IdentityKind::Igsid, value: c.from.id, name: c.from.username },
        post_id: c.media.id,
        comment_id: c.id,
        parent_id: c.parent_id,
        text: c.text,
        sent_at,
    }))
}
