//! What each send looks like on the wire.

use super::GraphSettings;
use laras_commands::outbox::{DeliveryError, OutboundMessage, Recipient};
use laras_domain::channel::ChannelKind;
use laras_domain::event::MessagingMode;
use serde_json::{json, Value};

pub enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

pub struct GraphRequest {
    pub url: String,
    pub body: Body,
}

/// A send is one request, or (Threads) a container then its publication.
pub struct Plan {
    pub first: GraphRequest,
    pub publish: Option<Box<dyn FnOnce(String) -> GraphRequest + Send>>,
}

fn wrong(detail: &str) -> DeliveryError {
    DeliveryError::Rejected { code: 0, title: detail.to_owned() }
}

pub fn plan(s: &GraphSettings, m: &OutboundMessage) -> Result<Plan, DeliveryError> {
    let graph = |path: &str| format!("{}/{}/{}", s.base_url.trim_end_matches('/'), s.api_version, path);
    let single =
        |url: String, body: Value| Ok(Plan { first: GraphRequest { url, body: Body::Json(body) }, publish: None });
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
            single(graph(&format!("{}/messages", m.account_id)), body)
        }
        (ChannelKind::Messenger | ChannelKind::Instagram, Recipient::Psid(id) | Recipient::Igsid(id)) => {
            // `metadata` comes back in the message echo webhook (ADR 010).
            let message = json!({ "text": m.text, "metadata": m.send_ref.to_string() });
            let mut body = json!({ "recipient": { "id": id }, "message": message });
            if m.mode == MessagingMode::HumanAgentTag {
                body["messaging_type"] = json!("MESSAGE_TAG");
                body["tag"] = json!("HUMAN_AGENT");
            } else {
                body["messaging_type"] = json!("RESPONSE");
            }
            single(graph(&format!("{}/messages", m.account_id)), body)
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
            Ok(Plan { first, publish: Some(publish) })
        }
        _ => Err(wrong("the recipient does not fit the channel")),
    }
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
