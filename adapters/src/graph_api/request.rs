//! What each send looks like on the wire.

use super::GraphSettings;
use laras_commands::outbox::{DeliveryError, OutboundFile, OutboundMessage, Recipient};
use laras_domain::channel::ChannelKind;
use laras_domain::event::MessagingMode;
use laras_domain::media::MediaKind;
use serde_json::{json, Value};

pub enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
    /// Text fields, and one file under `file.0` (rebuilt for every attempt).
    Multipart {
        fields: Vec<(&'static str, String)>,
        file: (&'static str, OutboundFile),
    },
}

pub struct GraphRequest {
    pub url: String,
    pub body: Body,
}

/// A send is one request, or a first request whose answer's `id` the second needs:
/// Threads (a container, then its publication) and WhatsApp files (an upload, then the message).
pub struct Plan {
    pub first: GraphRequest,
    pub publish: Option<Box<dyn FnOnce(String) -> GraphRequest + Send>>,
    /// The first request delivers nothing to the customer (an upload): if its answer is
    /// lost, the send is not in doubt.
    pub first_sends_nothing: bool,
}

fn wrong(detail: &str) -> DeliveryError {
    DeliveryError::Rejected { code: 0, title: detail.to_owned() }
}

pub fn plan(s: &GraphSettings, m: &OutboundMessage) -> Result<Plan, DeliveryError> {
    let graph = |path: &str| format!("{}/{}/{}", s.base_url.trim_end_matches('/'), s.api_version, path);
    let single = |url: String, body: Value| {
        Ok(Plan { first: GraphRequest { url, body: Body::Json(body) }, publish: None, first_sends_nothing: false })
    };
    match (m.channel, &m.recipient) {
        (ChannelKind::WhatsApp, Recipient::WaId(to)) => {
            let mut body = json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to });
            match (&m.mode, &m.template) {
                (MessagingMode::Template, Some(t)) => {
                    let parameters: Vec<Value> =
                        t.parameters.iter().map(|p| json!({ "type": "text", "text": p })).collect();
                    let components = if parameters.is_empty() {
                        json!([])
                    } else {
                        json!([{ "type": "body", "parameters": parameters }])
                    };
                    body["type"] = json!("template");
                    body["template"] =
                        json!({ "name": t.name, "language": { "code": t.language }, "components": components });
                }
                (MessagingMode::Template, None) => return Err(wrong("a template send without a template")),
                _ if m.media.is_some() => {}
                _ => {
                    body["type"] = json!("text");
                    body["text"] = json!({ "preview_url": false, "body": m.text });
                }
            }
            if let Some(quote) = &m.quote {
                body["context"] = json!({ "message_id": quote });
            }
            // Returned in every status webhook of this message (ADR 010).
            body["biz_opaque_callback_data"] = json!(m.send_ref.to_string());
            let messages = graph(&format!("{}/messages", m.account_id));
            let Some(file) = &m.media else { return single(messages, body) };
            // Upload first (`POST /{phone-number-id}/media`), then send the message naming it.
            let upload = GraphRequest {
                url: graph(&format!("{}/media", m.account_id)),
                body: Body::Multipart {
                    fields: vec![("messaging_product", "whatsapp".into()), ("type", file.mime.clone())],
                    file: ("file", file.clone()),
                },
            };
            let kind = whatsapp_type(file.kind);
            let caption = (!m.text.trim().is_empty() && kind != "audio" && kind != "sticker").then(|| m.text.clone());
            let filename = (kind == "document").then(|| file_name(file));
            let publish = Box::new(move |media_id: String| {
                let mut body = body;
                let mut object = json!({ "id": media_id });
                if let Some(caption) = caption {
                    object["caption"] = json!(caption);
                }
                if let Some(filename) = filename {
                    object["filename"] = json!(filename);
                }
                body["type"] = json!(kind);
                body[kind] = object;
                GraphRequest { url: messages, body: Body::Json(body) }
            });
            Ok(Plan { first: upload, publish: Some(publish), first_sends_nothing: true })
        }
        (ChannelKind::Messenger | ChannelKind::Instagram, Recipient::Psid(id) | Recipient::Igsid(id)) => {
            // `metadata` comes back in the message echo webhook (ADR 010).
            let message = match &m.media {
                None => json!({ "text": m.text, "metadata": m.send_ref.to_string() }),
                // Uploaded and sent in one request, the file in `filedata` (Send API, form data).
                Some(file) => json!({
                    "attachment": { "type": messenger_type(file.kind), "payload": { "is_reusable": false } },
                    "metadata": m.send_ref.to_string(),
                }),
            };
            let mut body = json!({ "recipient": { "id": id }, "message": message });
            if m.mode == MessagingMode::HumanAgentTag {
                body["messaging_type"] = json!("MESSAGE_TAG");
                body["tag"] = json!("HUMAN_AGENT");
            } else {
                body["messaging_type"] = json!("RESPONSE");
            }
            let url = graph(&format!("{}/messages", m.account_id));
            let Some(file) = &m.media else { return single(url, body) };
            let mut fields: Vec<(&'static str, String)> =
                vec![("recipient", body["recipient"].to_string()), ("message", body["message"].to_string())];
            for name in ["messaging_type", "tag"] {
                if let Some(v) = body[name].as_str() {
                    fields.push((name, v.to_owned()));
                }
            }
            let first = GraphRequest { url, body: Body::Multipart { fields, file: ("filedata", file.clone()) } };
            Ok(Plan { first, publish: None, first_sends_nothing: false })
        }
        (ChannelKind::Instagram | ChannelKind::Messenger, Recipient::Comment { comment_id }) => {
            let message = json!({ "text": m.text, "metadata": m.send_ref.to_string() });
            let body = json!({ "recipient": { "comment_id": comment_id }, "message": message });
            single(graph(&format!("{}/messages", m.account_id)), body)
        }
        (ChannelKind::Threads, Recipient::ThreadsReply { reply_to_id }) => {
            let threads =
                format!("{}/{}/{}", s.threads_base_url.trim_end_matches('/'), s.threads_api_version, m.account_id);
            let first = GraphRequest {
                url: format!("{threads}/threads"),
                body: Body::Form(vec![
                    ("media_type", "TEXT".into()),
                    ("text", m.text.clone()),
                    ("reply_to_id", reply_to_id.clone()),
                ]),
            };
            let publish_url = format!("{threads}/threads_publish");
            let publish = Box::new(move |container: String| GraphRequest {
                url: publish_url,
                body: Body::Form(vec![("creation_id", container)]),
            });
            Ok(Plan { first, publish: Some(publish), first_sends_nothing: false })
        }
        _ => Err(wrong("the recipient does not fit the channel")),
    }
}

/// WhatsApp's message type for a file.
fn whatsapp_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
    }
}

/// The Send API's attachment type for a file.
fn messenger_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image | MediaKind::Sticker => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Document => "file",
    }
}

/// The name a file is sent under: its kind and an extension from its type (never the
/// customer's own file name, which may say more than the file).
pub fn file_name(file: &OutboundFile) -> String {
    let extension =
        file.mime.rsplit('/').next().filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric())).unwrap_or("bin");
    let extension = match extension {
        "jpeg" => "jpg",
        "mpeg" => "mp3",
        "plain" => "txt",
        other => other,
    };
    format!("{}.{extension}", whatsapp_type(file.kind))
}

/// The platform message id of a send: WhatsApp `messages[0].id`, Messenger/Instagram `message_id`.
pub fn message_id(body: &Value) -> Option<String> {
    body.get("messages")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("id"))
        .or_else(|| body.get("message_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}
