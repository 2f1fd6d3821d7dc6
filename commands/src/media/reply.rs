//! A file uploaded with a person's reply: checked like a fetched one (its type from the
//! bytes, the channel's limit for its kind) and kept sealed under the conversation's
//! contact before the send is requested, so the outbox finds it and an erasure deletes it.

use super::fetch::MediaError;
use super::store::MediaObject;
use super::vault::MediaVault;
use crate::ledger::Ledger;
use laras_domain::aggregate::send::{send_limit, FileSource};
use laras_domain::error::DomainError;
use laras_domain::ids::{ConversationId, PartnerId};
use laras_domain::media::{check_file, sniff, MediaKind};

/// Bytes a caller uploaded, with the type it declared (a browser's guess, checked).
pub struct Upload {
    pub bytes: Vec<u8>,
    pub declared_mime: Option<String>,
}

fn bad(reason: String) -> MediaError {
    MediaError::Command(DomainError::BadInput { field: "media", reason }.into())
}

/// Checks and keeps `upload` for a reply in `conversation`; answers the file to send.
pub async fn keep_reply_file(
    ledger: &Ledger,
    vault: &MediaVault,
    partner: PartnerId,
    conversation: ConversationId,
    upload: Upload,
) -> Result<FileSource, MediaError> {
    let state = ledger.conversation(partner, conversation).await?;
    let contact = state.contact.ok_or(DomainError::ConversationNotFound).map_err(|e| MediaError::Command(e.into()))?;
    let channel = state.channel.ok_or(DomainError::ConversationNotFound).map_err(|e| MediaError::Command(e.into()))?;
    let first_guess = sniff(&upload.bytes).or(upload.declared_mime.as_deref()).unwrap_or("application/octet-stream");
    let kind = MediaKind::of_mime(first_guess);
    let limit = send_limit(channel, kind)
        .ok_or_else(|| bad(format!("{} sends no {} file", channel.as_str(), kind.as_str())))?;
    let checked = check_file(kind, upload.declared_mime.as_deref(), None, limit, &upload.bytes)
        .map_err(|why| bad(why.to_string()))?;
    let (key, _) = ledger.keys.data_key_for(partner, contact).map_err(|e| MediaError::Command(e.into()))?;
    let object = vault
        .keep(partner, contact, key, &upload.bytes)
        .await?
        .ok_or(DomainError::ContactErased)
        .map_err(|e| MediaError::Command(e.into()))?;
    Ok(FileSource::Uploaded { kind, mime: checked.mime, size: checked.size, object })
}

/// Deletes a file kept by [`keep_reply_file`] whose send was then refused before anything
/// named it (`CommandError::appended_nothing`), so a refused reply leaves no file behind.
/// An earlier message's file is the customer's and stays.
pub async fn discard_reply_file(
    ledger: &Ledger,
    vault: &MediaVault,
    partner: PartnerId,
    conversation: ConversationId,
    file: &FileSource,
) -> Result<(), MediaError> {
    let FileSource::Uploaded { object, .. } = file else { return Ok(()) };
    let state = ledger.conversation(partner, conversation).await?;
    let Some(contact) = state.contact else { return Ok(()) };
    vault.discard(&MediaObject { partner, contact, name: object.clone() }).await?;
    Ok(())
}
