//! Messenger (`object: page`) and Instagram (`object: instagram`) webhooks:
//! `entry[].messaging[]` for direct messages, `entry[].changes[]` for Instagram comments.
//! Each messaging item and change is read on its own.

use super::json::{epoch, flag, int, label, list, object, text};
use super::signal::{Signal, Skip, WebhookBatch};
use laras_commands::handlers::handover::IncomingThreadControl;
use laras_commands::handlers::inbound::{
    IncomingComment, IncomingEcho, IncomingMessage, IncomingReaction, PlainContent, PlainContext, PlainEchoAttachment,
    PlainReferral, PlainStory, SenderIdentity,
};
use laras_commands::handlers::status::{IncomingStatus, IncomingWatermark};
use laras_commands::outbox::SendRef;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DeliveryStatus};
use laras_domain::time::Timestamp;
use serde_json::Value;

struct Item<'a> {
    channel: ChannelKind,
    /// How the channel names its users (PSID on Messenger, IGSID on Instagram).
    user_kind: IdentityKind,
    account: &'a str,
}

impl Item<'_> {
    fn customer(&self, id: String) -> SenderIdentity {
        SenderIdentity { kind: self.user_kind, value: id, name: None }
    }
}

pub(super) fn read(channel: ChannelKind, entries: &[Value], received_at: Timestamp, out: &mut WebhookBatch) {
    let user_kind = if channel == ChannelKind::Instagram { IdentityKind::Igsid } else { IdentityKind::Psid };
    let (entry_kind, item_kind, change_kind) = match channel {
        ChannelKind::Instagram => ("instagram entry", "instagram messaging item", "instagram change"),
        _ => ("messenger entry", "messenger messaging item", "messenger change"),
    };
    for (e, entry) in entries.iter().enumerate() {
        let Some(account) = text(entry, "id") else {
            out.item(entry_kind, None, || format!("entry {e}"), Err("no entry id".into()));
            continue;
        };
        let item = Item { channel, user_kind, account: &account };
        for (i, m) in list(entry, "messaging").iter().enumerate() {
            let outcome = messaging(&item, m, false);
            out.item(item_kind, Some(&account), || format!("entry {e} messaging {i}"), outcome);
        }
        // Handover protocol: another app holds these threads; Laras records, never answers.
        for (i, m) in list(entry, "standby").iter().enumerate() {
            let outcome = messaging(&item, m, true);
            out.item(item_kind, Some(&account), || format!("entry {e} standby {i}"), outcome);
        }
        for (c, change) in list(entry, "changes").iter().enumerate() {
            let field = text(change, "field").unwrap_or_default();
            let outcome = match (channel, field.as_str()) {
                (ChannelKind::Instagram, "comments" | "live_comments") => {
                    comment(&account, change.get("value").unwrap_or(&Value::Null), received_at).map(|s| vec![s])
                }
                (_, field) => Err(Skip::Ignored(format!("{channel} field {:?}", label(field)))),
            };
            out.item(change_kind, Some(&account), || format!("entry {e} change {c}"), outcome);
        }
    }
}

fn messaging(item: &Item<'_>, m: &Value, standby: bool) -> Result<Vec<Signal>, Skip> {
    if !m.is_object() {
        return Err("not an object".into());
    }
    let sender = object(m, "sender").and_then(|p| text(p, "id"));
    let recipient = object(m, "recipient").and_then(|p| text(p, "id"));
    let at = int(m, "timestamp").and_then(epoch);
    let (channel, account) = (item.channel, item.account.to_owned());
    if let Some(msg) = object(m, "message") {
        let mid = text(msg, "mid").ok_or("message without mid")?;
        let sent_at = at.ok_or("no readable timestamp")?;
        if flag(msg, "is_echo") {
            // The Page wrote to the customer (the recipient) outside Laras.
            let recipient = recipient.ok_or("echo without a recipient")?;
            let attachments = list(msg, "attachments")
                .iter()
                .map(|a| {
                    let payload = object(a, "payload");
                    PlainEchoAttachment {
                        kind: label(&text(a, "type").unwrap_or_default()),
                        title: payload.and_then(|p| text(p, "title")).or_else(|| text(a, "title")),
                        url: payload.and_then(|p| text(p, "url")).or_else(|| text(a, "url")),
                    }
                })
                .collect();
            return Ok(vec![Signal::Echo(IncomingEcho {
                channel,
                account_id: account,
                recipient: item.customer(recipient),
                channel_message_id: mid,
                text: text(msg, "text"),
                sent_at,
                attachments,
                // Laras's own reference, echoed from the send's `metadata` (ADR 010).
                send_ref: text(msg, "metadata").and_then(|r| SendRef::parse(&r)),
            })]);
        }
        let sender = sender.ok_or("message without a sender")?;
        let body = text(msg, "text");
        let quick_reply = object(msg, "quick_reply").and_then(|q| text(q, "payload"));
        let first = list(msg, "attachments").first();
        let content = match (body, quick_reply, first) {
            (Some(text), Some(payload), _) => PlainContent::ButtonReply { payload, text },
            (Some(text), None, _) => PlainContent::Text(text),
            (None, _, Some(a)) => attachment(a),
            (None, _, None) => PlainContent::Unsupported { kind: "empty".into() },
        };
        let reply_to = object(msg, "reply_to");
        let story = match (reply_to.and_then(|r| object(r, "story")), first) {
            (Some(s), _) => Some(PlainStory { mention: false, id: text(s, "id"), url: text(s, "url") }),
            (None, Some(a)) if text(a, "type").as_deref() == Some("story_mention") => Some(PlainStory {
                mention: true,
                id: object(a, "payload").and_then(|p| text(p, "id")),
                url: object(a, "payload").and_then(|p| text(p, "url")),
            }),
            _ => None,
        };
        let referral = object(msg, "referral").or_else(|| object(m, "referral")).map(referral);
        return Ok(vec![Signal::Message(IncomingMessage {
            channel,
            account_id: account,
            sender: item.customer(sender),
            channel_message_id: mid,
            sent_at,
            content,
            reply_to: reply_to.and_then(|r| text(r, "mid")),
            context: PlainContext { group_id: None, referral, story, standby },
            also: vec![],
        })]);
    }
    if let Some(p) = object(m, "postback") {
        let sender = sender.ok_or("postback without a sender")?;
        let sent_at = at.ok_or("no readable timestamp")?;
        let raw_time = text(m, "timestamp").unwrap_or_default();
        let mid = text(p, "mid").unwrap_or_else(|| format!("postback:{sender}:{raw_time}"));
        let payload = text(p, "payload").unwrap_or_default();
        // A postback without a title still says something: its payload.
        let title = text(p, "title").unwrap_or_else(|| payload.clone());
        return Ok(vec![Signal::Message(IncomingMessage {
            channel,
            account_id: account,
            sender: item.customer(sender),
            channel_message_id: mid,
            sent_at,
            content: PlainContent::ButtonReply { payload, text: title },
            reply_to: None,
            context: PlainContext { referral: object(p, "referral").map(referral), standby, ..Default::default() },
            also: vec![],
        })]);
    }
    if let Some(r) = object(m, "reaction") {
        let sender = sender.ok_or("reaction without a sender")?;
        let sent_at = at.ok_or("no readable timestamp")?;
        let to_message = text(r, "mid").ok_or("reaction without mid")?;
        let removed = text(r, "action").as_deref() == Some("unreact");
        // Instagram and Messenger give a reaction no id of its own: its target, author,
        // action and time name it, so a redelivery is recognised.
        let reaction_id = format!(
            "{to_message}:{sender}:{}:{}",
            if removed { "unreact" } else { "react" },
            text(m, "timestamp").unwrap_or_default()
        );
        let emoji = if removed { None } else { text(r, "emoji").or_else(|| text(r, "reaction")) };
        return Ok(vec![Signal::Reaction(IncomingReaction {
            channel,
            account_id: account,
            sender: item.customer(sender),
            also: vec![],
            reaction_id,
            to_message,
            emoji,
            sent_at,
        })]);
    }
    for (key, held_by_laras, app) in
        [("pass_thread_control", true, "previous_owner_app_id"), ("take_thread_control", false, "new_owner_app_id")]
    {
        if let Some(c) = object(m, key) {
            let customer = item.customer(sender.ok_or("thread control without a sender")?);
            return Ok(vec![Signal::ThreadControl(IncomingThreadControl {
                channel,
                account_id: account,
                customer,
                held_by_laras,
                app_id: text(c, app),
                at: at.ok_or("no readable timestamp")?,
            })]);
        }
    }
    if standby {
        // Deliveries and reads of the other app's messages: not Laras's to track.
        return Err(Skip::Ignored(format!("{channel} standby item")));
    }
    if let Some(d) = object(m, "delivery") {
        let customer = item.customer(sender.ok_or("delivery without a sender")?);
        let watermark = int(d, "watermark").and_then(epoch).ok_or("delivery without a watermark")?;
        let mids: Vec<String> = list(d, "mids").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        if mids.is_empty() {
            return Ok(vec![Signal::Watermark(IncomingWatermark {
                channel,
                account_id: account,
                customer,
                status: DeliveryStatus::Delivered,
                watermark,
            })]);
        }
        return Ok(mids
            .into_iter()
            .map(|mid| {
                Signal::Status(IncomingStatus {
                    channel,
                    account_id: account.clone(),
                    recipient: customer.clone(),
                    platform_message_id: mid,
                    status: DeliveryStatus::Delivered,
                    at: watermark,
                    send_ref: None,
                })
            })
            .collect());
    }
    if let Some(r) = object(m, "read") {
        return Ok(vec![Signal::Watermark(IncomingWatermark {
            channel,
            account_id: account,
            customer: item.customer(sender.ok_or("read without a sender")?),
            status: DeliveryStatus::Read,
            watermark: int(r, "watermark").and_then(epoch).ok_or("read without a watermark")?,
        })]);
    }
    let known = m.as_object().map(|o| o.keys().filter(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp")));
    let kind = known.and_then(|mut k| k.next().map(|k| label(k))).unwrap_or_default();
    Err(Skip::Ignored(format!("{channel} messaging item {kind:?}")))
}

fn referral(r: &Value) -> PlainReferral {
    let ad = object(r, "ads_context_data");
    PlainReferral {
        source_type: text(r, "source").or_else(|| text(r, "source_type")).unwrap_or_default(),
        source_id: text(r, "ad_id").or_else(|| text(r, "ref")),
        source_url: text(r, "referer_uri").or_else(|| ad.and_then(|a| text(a, "photo_url"))),
        headline: ad.and_then(|a| text(a, "ad_title")),
        body: None,
        ctwa_clid: None,
    }
}

fn attachment(a: &Value) -> PlainContent {
    let payload = object(a, "payload");
    let media = payload.and_then(|p| text(p, "url")).unwrap_or_default();
    match text(a, "type").unwrap_or_default().as_str() {
        kind @ ("share" | "ig_reel" | "reel" | "ig_post" | "story_mention" | "template" | "fallback") => {
            PlainContent::Shared {
                share: kind.to_owned(),
                title: payload.and_then(|p| text(p, "title")).or_else(|| text(a, "title")),
                url: payload.and_then(|p| text(p, "url")).or_else(|| text(a, "url")),
            }
        }
        "image" => PlainContent::Image { media, mime: None, caption: None, sha256: None },
        "audio" => PlainContent::VoiceNote { media, mime: None, sha256: None },
        "video" => file(AttachmentKind::Video, media),
        "file" => file(AttachmentKind::File, media),
        "sticker" => file(AttachmentKind::Sticker, media),
        other => PlainContent::Unsupported { kind: label(other) },
    }
}

fn file(attachment: AttachmentKind, media: String) -> PlainContent {
    PlainContent::Attachment { attachment, media, mime: None, caption: None, sha256: None }
}

fn comment(account: &str, c: &Value, received_at: Timestamp) -> Result<Signal, Skip> {
    if !c.is_object() {
        return Err("comment value is not an object".into());
    }
    let id = text(c, "id").ok_or("comment without id")?;
    let from = object(c, "from").ok_or("comment without author")?;
    let author = text(from, "id").ok_or("comment without author id")?;
    let media = object(c, "media").and_then(|m| text(m, "id")).ok_or("comment without media id")?;
    // Comment webhooks carry no reliable time of their own in every version: the time
    // Meta delivered it is the closest honest value.
    let sent_at = int(c, "timestamp").and_then(epoch).unwrap_or(received_at);
    Ok(Signal::Comment(IncomingComment {
        channel: ChannelKind::Instagram,
        account_id: account.to_owned(),
        sender: SenderIdentity { kind: IdentityKind::Igsid, value: author, name: text(from, "username") },
        post_id: media,
        comment_id: id,
        parent_id: text(c, "parent_id"),
        text: text(c, "text").unwrap_or_default(),
        sent_at,
    }))
}
