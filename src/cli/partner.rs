//! `laras partner create` and `laras channel connect`: set-up from the command line
//! (they take the data dir's writer lock, so run them while the server is stopped).

use crate::app::{App, SystemClock};
use crate::settings::Settings;
use laras_commands::access::{ApiKeys, Role};
use laras_commands::credentials::{AccessToken, ChannelCredentials};
use laras_commands::CommandMeta;
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, DisconnectChannel, OnboardPartner};
use laras_domain::channel::ChannelKind;
use laras_domain::event::ApprovalMode;
use laras_domain::ids::PartnerId;
use std::process::ExitCode;
use std::sync::Arc;
use uuid::Uuid;

pub async fn create(settings: &Settings, name: &str, approval: ApprovalMode) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let partner = PartnerId(Uuid::now_v7());
    let command = OnboardPartner { partner_id: partner, name: name.to_owned(), approval, pipeline: default_pipeline() };
    let committed = app.ledger.onboard_partner(command, &CommandMeta::system("cli")).await?;
    let (key, secret) = app.api_keys.create(partner, Role::Owner, "first owner key")?;
    println!(
        "{}",
        serde_json::json!({
            "partner_id": partner.to_string(),
            "owner_key": secret.expose(),
            "owner_key_id": key.id,
            "position": committed.last_position(),
        })
    );
    app.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Connects a channel; the access token comes from `LARAS_CHANNEL_TOKEN` (never a flag,
/// so it stays out of shell history and process listings).
pub async fn connect(
    settings: &Settings,
    partner: PartnerId,
    channel: ChannelKind,
    account: &str,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let token = std::env::var("LARAS_CHANNEL_TOKEN")
        .map_err(|_| anyhow::anyhow!("set LARAS_CHANNEL_TOKEN to the channel's access token"))?;
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    app.credentials.store(partner, channel, &AccessToken::new(token))?;
    let command = ConnectChannel { channel, account_id: account.to_owned(), display_name: name.to_owned() };
    let committed = app.ledger.connect_channel(partner, command, &CommandMeta::system("cli")).await?;
    println!(
        "{}",
        serde_json::json!({ "partner_id": partner.to_string(), "channel": channel.as_str(), "account_id": account, "position": committed.last_position() })
    );
    app.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Disconnects a channel and forgets its token.
pub async fn disconnect(settings: &Settings, partner: PartnerId, channel: ChannelKind) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let committed =
        app.ledger.disconnect_channel(partner, DisconnectChannel { channel }, &CommandMeta::system("cli")).await?;
    app.credentials.remove(partner, channel)?;
    println!(
        "{}",
        serde_json::json!({ "partner_id": partner.to_string(), "channel": channel.as_str(), "position": committed.last_position() })
    );
    app.close().await;
    Ok(ExitCode::SUCCESS)
}
