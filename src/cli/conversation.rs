//! `laras conversations` and `laras reply`: a Partner's conversations and a person's reply
//! from the command line, until the GraphQL API serves them.

use crate::app::{App, SystemClock};
use crate::settings::Settings;
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::{CommandError, CommandMeta};
use laras_domain::event::{DomainEvent, ReplyTarget};
use laras_domain::ids::{ConversationId, PartnerId, UserId};
use std::process::ExitCode;
use std::sync::Arc;

/// Prints one JSON line per conversation of `partner` (reads the log only).
pub fn list(settings: &Settings, partner: PartnerId) -> anyhow::Result<ExitCode> {
    let data = settings.log.existing_data_dir(&settings.data_dir, settings.signing_key_dir.as_deref())?;
    for stored in settings.log.scan(&data)? {
        let stored = stored?;
        let h = &stored.envelope.header;
        if h.partner_id != partner || h.event_type != "ConversationOpened" {
            continue;
        }
        if let Ok(DomainEvent::ConversationOpened { conversation_id, channel, account_id, thread, .. }) =
            stored.envelope.event()
        {
            let thread = serde_json::to_value(&thread)?;
            println!(
                "{}",
                serde_json::json!({ "conversation_id": conversation_id.to_string(), "channel": channel.as_str(), "account_id": account_id, "thread": thread })
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records a person's reply; the server's outbox delivers it.
pub async fn reply(
    settings: &Settings,
    partner: PartnerId,
    conversation: ConversationId,
    user: UserId,
    text: &str,
    comment: Option<String>,
) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let target = match comment {
        Some(comment_id) => ReplyTarget::CommentPrivateReply { comment_id },
        None => ReplyTarget::Conversation { quote: None },
    };
    let request = SendRequest {
        reply: OutgoingReply::Person { text: text.to_owned(), target },
        template: None,
        marketing: false,
        media: None,
    };
    let result = app.ledger.request_send(partner, conversation, request, &CommandMeta::partner_user(user)).await;
    app.close().await;
    match result {
        Ok((send_id, committed)) => {
            println!(
                "{}",
                serde_json::json!({ "send_id": send_id.to_string(), "position": committed.last_position() })
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(CommandError::PolicyRefused { reason, position }) => {
            println!("{}", serde_json::json!({ "refused": reason.to_string(), "position": position }));
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}
