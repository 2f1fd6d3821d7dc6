//! The file of a person's reply: an upload read off its temporary file and kept sealed
//! (`keep_reply_file`), or a reference to an earlier message's file, which the domain
//! checks belongs to the conversation.

use super::api;
use super::mutation::ReplyFileInput;
use crate::error::{ApiError, Code, OrApi};
use async_graphql::Context;
use laras_commands::media::{discard_reply_file, keep_reply_file, MediaError, Upload};
use laras_domain::aggregate::send::FileSource;
use laras_domain::event::MessageFile;
use laras_domain::ids::{ConversationId, PartnerId};
use std::io::Read;

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Command(e) => e.into(),
            other => {
                tracing::error!(error = %other, "keeping an uploaded file failed");
                ApiError::new(Code::Internal, "the file could not be kept; see the server log")
            }
        }
    }
}

pub(super) async fn reply_file(
    ctx: &Context<'_>,
    partner: PartnerId,
    conversation: ConversationId,
    file: ReplyFileInput,
) -> async_graphql::Result<FileSource> {
    let upload = match file {
        ReplyFileInput::FromMessage(m) => {
            return Ok(FileSource::Earlier(MessageFile { channel_message_id: m.message_id, attachment: m.attachment }))
        }
        ReplyFileInput::Upload(upload) => upload,
    };
    let value =
        upload.value(ctx).map_err(|_| ApiError::bad_input("no file was uploaded under that name").into_graphql())?;
    let declared_mime = value.content_type.clone();
    // The multipart parser kept the file in a temporary file, bounded by the upload limit.
    let bytes = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        value.into_read().read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .map_err(|_| ApiError::new(Code::Internal, "the upload could not be read").into_graphql())?
    .map_err(|_| ApiError::new(Code::Internal, "the upload could not be read").into_graphql())?;
    let api = api(ctx);
    keep_reply_file(&api.ledger, &api.media.vault, partner, conversation, Upload { bytes, declared_mime }).await.api()
}

/// Deletes the kept upload of a reply that was refused; a failure only leaves the sealed
/// file until the contact's erasure, so it is logged, not answered.
pub(super) async fn discard(api: &super::Api, partner: PartnerId, conversation: ConversationId, file: &FileSource) {
    if let Err(e) = discard_reply_file(&api.ledger, &api.media.vault, partner, conversation, file).await {
        tracing::warn!(error = %e, "a refused reply's file could not be deleted");
    }
}
