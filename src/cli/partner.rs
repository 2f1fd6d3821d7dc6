//! `laras partner create` and `laras channel connect`: set-up from the command line
//! (they take the data dir's writer lock, so run them while the server is stopped).

use crate::app::{App, SystemClock};
use crate::settings::Settings;
use laras_adapters::graph_api::{GraphProver, GraphSettings};
use laras_commands::access::Role;
use laras_commands::account_proof::ProofError;
use laras_commands::credentials::{validate_token, AccessToken};
use laras_commands::directory::ChannelDirectory;
use laras_commands::{CommandError, CommandMeta};
use laras_domain::aggregate::partner::{default_pipeline, DisconnectChannel, OnboardPartner};
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
/// so it stays out of shell history and process listings). The Graph API is asked first
/// whether the token controls the account. Exits 2 when it does not (nothing recorded),
/// 3 when another Partner holds the account (the refusal is recorded).
pub async fn connect(
    settings: &Settings,
    partner: PartnerId,
    channel: ChannelKind,
    account: &str,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let token = std::env::var("LARAS_CHANNEL_TOKEN")
        .map_err(|_| anyhow::anyhow!("set LARAS_CHANNEL_TOKEN to the channel's access token"))?;
    let token = AccessToken::new(token);
    validate_token(token.expose())?;
    let prover = GraphProver::new(GraphSettings {
        base_url: settings.meta_graph_url.clone(),
        api_version: settings.meta_graph_version.clone(),
        threads_base_url: settings.threads_graph_url.clone(),
        ..GraphSettings::default()
    })?;
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let directory = ChannelDirectory::new(app.ledger.store.clone());
    let meta = CommandMeta::system("cli");
    let outcome =
        app.ledger.connect_proven_channel(partner, channel, account, name, &token, &prover, &directory, &meta).await;
    let code = match outcome {
        Ok(committed) => {
            // Only once the connection is recorded: a refused connect leaves no token behind.
            app.credentials.store(partner, channel, &token)?;
            println!(
                "{}",
                serde_json::json!({ "partner_id": partner.to_string(), "channel": channel.as_str(), "account_id": account, "position": committed.last_position() })
            );
            ExitCode::SUCCESS
        }
        Err(CommandError::AccountHeld { position }) => {
            println!("{}", serde_json::json!({ "refused": "account_held_elsewhere", "position": position }));
            eprintln!("laras: this account is connected to another Partner; nothing changed");
            ExitCode::from(3)
        }
        Err(CommandError::Proof(e @ (ProofError::NotControlled | ProofError::TokenInvalid { .. }))) => {
            eprintln!("laras: {e}; nothing recorded");
            ExitCode::from(2)
        }
        Err(e) => {
            app.close().await;
            return Err(e.into());
        }
    };
    app.close().await;
    Ok(code)
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
