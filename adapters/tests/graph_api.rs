//! The Graph API sender against a fake Graph API on loopback.

use laras_adapters::credentials::SqliteCredentials;
use laras_adapters::graph_api::fake::{Answer, FakeGraph};
use laras_adapters::graph_api::{GraphSender, GraphSettings};
use laras_commands::credentials::{AccessToken, ChannelCredentials};
use laras_commands::outbox::*;
use laras_domain::channel::ChannelKind;
use laras_domain::event::MessagingMode;
use laras_domain::ids::{ConversationId, PartnerId, SendId};
use laras_domain::sealed::SecretKey;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const P: PartnerId = PartnerId(Uuid::from_u128(1));
const REF: &str = "laras:00000000-0000-0000-0000-000000000002:00000000-0000-0000-0000-000000000003";

struct Rig {
    fake: FakeGraph,
    sender: GraphSender,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let (fake, base) = FakeGraph::start();
    let dir = tempfile::tempdir().unwrap();
    let creds =
        Arc::new(SqliteCredentials::open(&dir.path().join("c.sqlite"), &SecretKey::from_bytes([1; 32])).unwrap());
    for channel in ChannelKind::ALL {
        creds.store(P, channel, &AccessToken::new(format!("TOKEN-{channel}"))).unwrap();
    }
    let settings = GraphSettings {
        base_url: base.clone(),
        threads_base_url: base,
        timeout: Duration::from_millis(500),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..GraphSettings::default()
    };
    Rig { fake, sender: GraphSender::new(settings, creds).unwrap(), _dir: dir }
}

fn message(channel: ChannelKind, recipient: Recipient, mode: MessagingMode) -> OutboundMessage {
    OutboundMessage {
        partner: P,
        channel,
        account_id: "ACCOUNT".into(),
        recipient,
        text: "Halo kak".into(),
        mode,
        template: None,
        quote: None,
        send_ref: SendRef { conversation: ConversationId(Uuid::from_u128(2)), send: SendId(Uuid::from_u128(3)) },
        media: None,
    }
}

#[tokio::test]
async fn whatsapp_text_with_a_quote() {
    let r = rig();
    let mut m = message(ChannelKind::WhatsApp, Recipient::WaId("6281234".into()), MessagingMode::Response);
    m.quote = Some("wamid.IN".into());
    assert_eq!(r.sender.deliver(&m).await.unwrap(), "wamid.fake.1");
    let req = &r.fake.requests()[0];
    assert_eq!(req.path, "/v21.0/ACCOUNT/messages");
    assert_eq!(req.authorization.as_deref(), Some("Bearer TOKEN-whatsapp"));
    assert_eq!(
        req.body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "6281234", "type": "text",
        "text": {"preview_url": false, "body": "Halo kak"}, "context": {"message_id": "wamid.IN"},
        "biz_opaque_callback_data": REF})
    );
}

#[tokio::test]
async fn whatsapp_template_outside_the_window() {
    let r = rig();
    let mut m = message(ChannelKind::WhatsApp, Recipient::WaId("6281234".into()), MessagingMode::Template);
    m.template =
        Some(OutboundTemplate { name: "follow_up".into(), language: "id".into(), parameters: vec!["Ana".into()] });
    r.sender.deliver(&m).await.unwrap();
    assert_eq!(
        r.fake.requests()[0].body["template"],
        json!({"name": "follow_up", "language": {"code": "id"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]})
    );
}

#[tokio::test]
async fn messenger_response_and_human_agent_tag_and_instagram_private_reply() {
    let r = rig();
    r.sender
        .deliver(&message(ChannelKind::Messenger, Recipient::Psid("PSID".into()), MessagingMode::Response))
        .await
        .unwrap();
    r.sender
        .deliver(&message(ChannelKind::Messenger, Recipient::Psid("PSID".into()), MessagingMode::HumanAgentTag))
        .await
        .unwrap();
    r.sender
        .deliver(&message(
            ChannelKind::Instagram,
            Recipient::Comment { comment_id: "C1".into() },
            MessagingMode::PrivateReply,
        ))
        .await
        .unwrap();
    let reqs = r.fake.requests();
    assert_eq!(
        reqs[0].body,
        json!({"recipient": {"id": "PSID"}, "messaging_type": "RESPONSE", "message": {"text": "Halo kak", "metadata": REF}})
    );
    assert_eq!(
        reqs[1].body,
        json!({"recipient": {"id": "PSID"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "Halo kak", "metadata": REF}})
    );
    assert_eq!(
        reqs[2].body,
        json!({"recipient": {"comment_id": "C1"}, "message": {"text": "Halo kak", "metadata": REF}})
    );
    assert_eq!(reqs[2].authorization.as_deref(), Some("Bearer TOKEN-instagram"));
}

#[tokio::test]
async fn threads_replies_create_a_container_then_publish_it() {
    let r = rig();
    let id = r
        .sender
        .deliver(&message(
            ChannelKind::Threads,
            Recipient::ThreadsReply { reply_to_id: "R1".into() },
            MessagingMode::PublicReply,
        ))
        .await
        .unwrap();
    let reqs = r.fake.requests();
    assert_eq!(reqs[0].path, "/v1.0/ACCOUNT/threads");
    assert_eq!(reqs[0].body, json!({"media_type": "TEXT", "text": "Halo kak", "reply_to_id": "R1"}));
    assert_eq!(reqs[1].path, "/v1.0/ACCOUNT/threads_publish");
    assert_eq!(reqs[1].body, json!({"creation_id": "container1"}));
    assert_eq!(id, "threads2");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_succeed() {
    let r = rig();
    r.fake.script([
        Answer::RateLimited { retry_after_s: 0 },
        Answer::Error { status: 500, code: 1, title: "oops" },
        Answer::Ok,
    ]);
    let id = r
        .sender
        .deliver(&message(ChannelKind::WhatsApp, Recipient::WaId("1".into()), MessagingMode::Response))
        .await
        .unwrap();
    assert_eq!(id, "wamid.fake.3");
    assert_eq!(r.fake.requests().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let r = rig();
    r.fake.script(std::iter::repeat_n(Answer::Error { status: 503, code: 2, title: "down" }, 10));
    let err = r
        .sender
        .deliver(&message(ChannelKind::WhatsApp, Recipient::WaId("1".into()), MessagingMode::Response))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Unavailable { status: Some(503), .. }));
    assert_eq!(r.fake.requests().len(), 4, "max_attempts");
}

#[tokio::test]
async fn an_expired_token_and_a_rejection_are_not_retried() {
    let r = rig();
    r.fake.script([Answer::Error { status: 401, code: 190, title: "Error validating access token" }]);
    let err = r
        .sender
        .deliver(&message(ChannelKind::Messenger, Recipient::Psid("P".into()), MessagingMode::Response))
        .await
        .unwrap_err();
    assert_eq!(err, DeliveryError::TokenExpired { code: 190 });
    r.fake.script([Answer::Error { status: 400, code: 131047, title: "Re-engagement message" }]);
    let err = r
        .sender
        .deliver(&message(ChannelKind::WhatsApp, Recipient::WaId("1".into()), MessagingMode::Response))
        .await
        .unwrap_err();
    assert_eq!(err, DeliveryError::Rejected { code: 131047, title: "Re-engagement message".into() });
    assert_eq!(r.fake.requests().len(), 2);
}

#[tokio::test]
async fn a_timeout_after_sending_is_in_doubt_and_not_retried() {
    let r = rig();
    r.fake.script([Answer::Slow(Duration::from_secs(2))]);
    let err = r
        .sender
        .deliver(&message(ChannelKind::WhatsApp, Recipient::WaId("1".into()), MessagingMode::Response))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Unknown { .. }));
    assert_eq!(r.fake.requests().len(), 1, "no second copy");
}

#[tokio::test]
async fn no_token_means_no_request() {
    let r = rig();
    let mut m = message(ChannelKind::WhatsApp, Recipient::WaId("1".into()), MessagingMode::Response);
    m.partner = PartnerId(Uuid::from_u128(2));
    assert_eq!(r.sender.deliver(&m).await.unwrap_err(), DeliveryError::NoCredentials);
    assert!(r.fake.requests().is_empty());
}
