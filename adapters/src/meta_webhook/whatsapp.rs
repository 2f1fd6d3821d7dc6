//! WhatsApp Cloud API webhooks (`object: whatsapp_business_account`): `entry[].changes[].value`,
//! each message and status read on its own.

use super::json::{epoch_seconds, flag, int, label, list, object, text};
use super::signal::{Signal, Skip, WebhookBatch};
use laras_commands::handlers::inbound::{
    IncomingIdentityChange, IncomingMessage, IncomingReaction, PlainContent, PlainContext, PlainReferral,
    SenderIdentity,
};
use laras_commands::handlers::status::IncomingStatus;
use laras_commands::outbox::SendRef;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DeliveryStatus, OrderLine};
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
    int(v, "timestamp").and_then(epoch_seconds)
}

/// Who wrote: the phone number (`from`) when Meta gives it, else the business-scoped user
/// id (`from_user_id`), with the other ids the change's `contacts` entry gives for the same
/// person (BSUID, parent BSUID, username) so they are linked to the same contact.
fn sender(m: &Value, contacts: &[Value]) -> Result<(SenderIdentity, Vec<SenderIdentity>), Skip> {
    let phone = text(m, "from");
    let user_id = text(m, "from_user_id");
    let contact = contacts.iter().find(|c| {
        (phone.is_some() && text(c, "wa_id") == phone) || (user_id.is_some() && text(c, "user_id") == user_id)
    });
    let profile = contact.and_then(|c| object(c, "profile"));
    let name = profile.and_then(|p| text(p, "name"));
    let id = |kind, value: String| SenderIdentity { kind, value, name: None };
    let mut also = Vec::new();
    for value in [user_id.clone(), contact.and_then(|c| text(c, "user_id"))].into_iter().flatten() {
        also.push(id(IdentityKind::WaUserId, value));
    }
    for value in [text(m, "from_parent_user_id"), contact.and_then(|c| text(c, "parent_user_id"))].into_iter().flatten()
    {
        also.push(id(IdentityKind::WaUserId, value));
    }
    if let Some(username) =
        profile.and_then(|p| text(p, "username")).or_else(|| contact.and_then(|c| text(c, "username")))
    {
        also.push(id(IdentityKind::WaUsername, username));
    }
    let main = match (phone, user_id) {
        (Some(phone), _) => SenderIdentity { kind: IdentityKind::WaId, value: phone, name },
        (None, Some(user)) => SenderIdentity { kind: IdentityKind::WaUserId, value: user, name },
        (None, None) => return Err("no sender".into()),
    };
    also.retain(|a| !(a.kind == main.kind && a.value == main.value));
    Ok((main, also))
}

fn referral(m: &Value) -> Option<PlainReferral> {
    let r = object(m, "referral")?;
    Some(PlainReferral {
        source_type: text(r, "source_type").unwrap_or_default(),
        source_id: text(r, "source_id"),
        source_url: text(r, "source_url"),
        headline: text(r, "headline"),
        body: text(r, "body"),
        ctwa_clid: text(r, "ctwa_clid"),
    })
}

fn order(m: &Value) -> Result<PlainContent, Skip> {
    let o = object(m, "order").ok_or("order without its object")?;
    let items = list(o, "product_items")
        .iter()
        .filter_map(|i| {
            Some(OrderLine {
                product_retailer_id: text(i, "product_retailer_id")?,
                quantity: int(i, "quantity").unwrap_or(1),
                item_price: text(i, "item_price").unwrap_or_default(),
                currency: text(i, "currency").unwrap_or_default(),
            })
        })
        .collect();
    Ok(PlainContent::Order { catalog_id: text(o, "catalog_id").unwrap_or_default(), note: text(o, "text"), items })
}

struct Media {
    id: String,
    mime: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    voice: bool,
    sha256: Option<String>,
}

fn media_of(m: &Value, kind: &str) -> Result<Media, Skip> {
    let o = object(m, kind).ok_or(Skip::Malformed("media message without its media object"))?;
    Ok(Media {
        id: text(o, "id").ok_or(Skip::Malformed("media message without a media id"))?,
        mime: text(o, "mime_type"),
        caption: text(o, "caption"),
        filename: text(o, "filename"),
        voice: flag(o, "voice"),
        sha256: text(o, "sha256"),
    })
}

fn message(account: &str, m: &Value, contacts: &[Value]) -> Result<Signal, Skip> {
    if !m.is_object() {
        return Err("not an object".into());
    }
    let id = text(m, "id").ok_or("no message id")?;
    let (from, also) = sender(m, contacts)?;
    let sent_at = seconds(m).ok_or("no readable timestamp")?;
    let kind = text(m, "type").unwrap_or_default();
    match kind.as_str() {
        "reaction" => {
            let r = object(m, "reaction").ok_or("reaction without its object")?;
            return Ok(Signal::Reaction(IncomingReaction {
                channel: ChannelKind::WhatsApp,
                account_id: account.to_owned(),
                sender: from,
                also,
                reaction_id: id,
                to_message: text(r, "message_id").ok_or("reaction without message_id")?,
                emoji: text(r, "emoji"),
                sent_at,
            }));
        }
        "system" => return system(account, m, from, id, sent_at),
        _ => {}
    }
    let content = match kind.as_str() {
        "text" => PlainContent::Text(object(m, "text").and_then(|t| text(t, "body")).unwrap_or_default()),
        "image" => {
            let i = media_of(m, "image")?;
            PlainContent::Image { media: i.id, mime: i.mime, caption: i.caption, sha256: i.sha256 }
        }
        "audio" => {
            let a = media_of(m, "audio")?;
            if a.voice {
                PlainContent::VoiceNote { media: a.id, mime: a.mime, sha256: a.sha256 }
            } else {
                PlainContent::Attachment {
                    attachment: AttachmentKind::Audio,
                    media: a.id,
                    mime: a.mime,
                    caption: None,
                    sha256: a.sha256,
                }
            }
        }
        "video" => {
            let v = media_of(m, "video")?;
            PlainContent::Attachment {
                attachment: AttachmentKind::Video,
                media: v.id,
                mime: v.mime,
                caption: v.caption,
                sha256: v.sha256,
            }
        }
        "document" => {
            let d = media_of(m, "document")?;
            let caption = d.caption.or(d.filename);
            PlainContent::Attachment {
                attachment: AttachmentKind::Document,
                media: d.id,
                mime: d.mime,
                caption,
                sha256: d.sha256,
            }
        }
        "sticker" => {
            let s = media_of(m, "sticker")?;
            PlainContent::Attachment {
                attachment: AttachmentKind::Sticker,
                media: s.id,
                mime: s.mime,
                caption: None,
                sha256: s.sha256,
            }
        }
        "location" => PlainContent::Location { place_json: m.get("location").cloned().unwrap_or_default().to_string() },
        "contacts" => {
            PlainContent::SharedContacts { cards_json: m.get("contacts").cloned().unwrap_or_default().to_string() }
        }
        "interactive" => {
            let i = object(m, "interactive").ok_or("interactive message without its object")?;
            if let Some(flow) = object(i, "nfm_reply") {
                let response_json = match flow.get("response_json") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => return Err("flow reply without response_json".into()),
                };
                return Ok(Signal::Message(IncomingMessage {
                    channel: ChannelKind::WhatsApp,
                    account_id: account.to_owned(),
                    sender: from,
                    channel_message_id: id,
                    sent_at,
                    content: PlainContent::FlowReply { name: text(flow, "name"), response_json },
                    reply_to: object(m, "context").and_then(|c| text(c, "id")),
                    context: context(m),
                    also,
                }));
            }
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
        "order" => order(m)?,
        other => PlainContent::Unsupported { kind: label(other) },
    };
    Ok(Signal::Message(IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        sender: from,
        channel_message_id: id,
        sent_at,
        content,
        reply_to: object(m, "context").and_then(|c| text(c, "id")),
        context: context(m),
        also,
    }))
}

fn context(m: &Value) -> PlainContext {
    PlainContext { group_id: text(m, "group_id"), referral: referral(m), story: None, standby: false }
}

/// A `system` message: the customer's number or business-scoped id changed. The new one is
/// linked to the same contact; other system notices are not acted on.
fn system(account: &str, m: &Value, from: SenderIdentity, id: String, sent_at: Timestamp) -> Result<Signal, Skip> {
    let sys = object(m, "system").ok_or("system message without its object")?;
    let kind = text(sys, "type").unwrap_or_default();
    let new_identity = match kind.as_str() {
        "user_changed_number" | "customer_changed_number" => {
            let new =
                text(sys, "wa_id").or_else(|| text(sys, "new_wa_id")).ok_or("number change without the new number")?;
            SenderIdentity { kind: IdentityKind::WaId, value: new, name: None }
        }
        "user_changed_user_id" => {
            let new =
                text(sys, "user_id").or_else(|| text(sys, "new_user_id")).ok_or("user id change without the new id")?;
            SenderIdentity { kind: IdentityKind::WaUserId, value: new, name: None }
        }
        other => return Err(Skip::Ignored(format!("whatsapp system {:?}", label(other)))),
    };
    Ok(Signal::IdentityChange(IncomingIdentityChange {
        channel: ChannelKind::WhatsApp,
        account_id: account.to_owned(),
        sender: from,
        channel_message_id: id,
        new_identity,
        sent_at,
    }))
}

fn status(account: &str, s: &Value) -> Result<Signal, Skip> {
    if !s.is_object() {
        return Err("not an object".into());
    }
    let id = text(s, "id").ok_or("no message id")?;
    let recipient = match (text(s, "recipient_id"), text(s, "recipient_user_id")) {
        (Some(phone), _) => SenderIdentity { kind: IdentityKind::WaId, value: phone, name: None },
        (None, Some(user)) => SenderIdentity { kind: IdentityKind::WaUserId, value: user, name: None },
        (None, None) => return Err("no recipient".into()),
    };
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
        recipient,
        platform_message_id: id,
        status,
        at,
        // Laras's own reference, echoed from the send (ADR 010); anything else is not ours.
        send_ref: text(s, "biz_opaque_callback_data").and_then(|r| SendRef::parse(&r)),
    }))
}
