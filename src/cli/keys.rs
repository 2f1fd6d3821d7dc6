//! `laras keys` and `laras keys rotate`.

use crate::app::{App, SystemClock};
use crate::settings::Settings;
use laras_commands::CommandMeta;
use laras_domain::event::DomainEvent;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::SIGNING_KEYS_STREAM;
use std::process::ExitCode;
use std::sync::Arc;

/// Prints every key the log introduced: id, public key, when, and whether its secret is here.
/// Reads the log only, so it works while the server runs.
pub async fn list(settings: &Settings) -> anyhow::Result<ExitCode> {
    let data = settings.log.existing_data_dir(&settings.data_dir, settings.signing_key_dir.as_deref())?;
    let on_disk = data.signing_keys()?;
    let mut introduced = Vec::new();
    for stored in settings.log.scan(&data)? {
        let stored = stored?;
        if stored.envelope.header.stream_id.as_str() != SIGNING_KEYS_STREAM {
            continue;
        }
        if let Ok(DomainEvent::SigningKeyRotated { key_id, public_key, previous }) = stored.envelope.event() {
            introduced.push((key_id, public_key, previous, stored.envelope.header.recorded_at));
        }
    }
    let active = introduced
        .iter()
        .rev()
        .find(|(id, ..)| on_disk.iter().any(|k| k.id().as_str() == id))
        .map(|(id, ..)| id.clone());
    for (id, public, previous, at) in &introduced {
        let secret_here = on_disk.iter().any(|k| k.id().as_str() == id);
        let mark = if Some(id) == active.as_ref() {
            "active"
        } else if secret_here {
            "retired"
        } else {
            "public only"
        };
        let endorsed =
            previous.as_deref().map(|p| format!(" endorsed by {p}")).unwrap_or_else(|| " (first key)".into());
        println!("{id}  {public}  since {at}  {mark}{endorsed}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Generates a key, stores its secret (0600), records it signed by the current key, makes it active.
pub async fn rotate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let next = LedgerSigningKey::generate(&mut rand::rngs::OsRng);
    // The secret is durable before the log names it, so a crash never leaves a key
    // recorded in the log without its secret.
    app.data.store_signing_key(&next)?;
    let previous = app.ledger.signer.active().id().clone();
    app.ledger.rotate_signing_key(next.clone(), &CommandMeta::system("keys")).await?;
    println!("{}  {}  active (endorsed by {previous})", next.id(), next.public_hex());
    app.close().await;
    Ok(ExitCode::SUCCESS)
}
