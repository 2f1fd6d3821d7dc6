//! Which files a reply may carry, and where. A file goes only in a direct conversation
//! on WhatsApp, Messenger or Instagram, within the channel's size limit for its kind,
//! of a type its kind admits; an earlier message's file must be one this conversation
//! kept. Messenger and Instagram send a file without words, WhatsApp sends audio and
//! stickers without a caption. A file that breaks a rule is bad input: nothing is
//! recorded (a refusal is for policy, which may change; these never do).

use crate::aggregate::conversation::Conversation;
use crate::channel::ChannelKind;
use crate::error::DomainError;
use crate::event::{MessageFile, ReplyMedia, ReplyTarget};
use crate::media::MediaKind;

/// The file a person's reply carries, as the handler found it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReplyFile {
    pub source: FileSource,
    /// Whether the reply has words beside the file (a caption).
    pub captioned: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FileSource {
    /// Uploaded with the reply: checked (type from the bytes) and kept by the handler.
    Uploaded { kind: MediaKind, mime: String, size: u64, object: String },
    /// A file an earlier message of this conversation carried.
    Earlier(MessageFile),
}

fn bad(reason: &str) -> DomainError {
    DomainError::BadInput { field: "media", reason: reason.to_owned() }
}

const MB: u64 = 1024 * 1024;

/// The largest file of `kind` the channel takes (Meta's documented limits); None when the
/// channel sends no such file.
pub const fn send_limit(channel: ChannelKind, kind: MediaKind) -> Option<u64> {
    match channel {
        ChannelKind::WhatsApp => Some(kind.whatsapp_limit()),
        ChannelKind::Messenger | ChannelKind::Instagram => match kind {
            MediaKind::Image => Some(8 * MB),
            MediaKind::Audio | MediaKind::Video | MediaKind::Document => Some(25 * MB),
            MediaKind::Sticker => None,
        },
        ChannelKind::Threads => None,
    }
}

/// The file as the send request records it, or why it cannot go.
pub(super) fn admit(
    file: &ReplyFile,
    conversation: &Conversation,
    channel: ChannelKind,
    target: &ReplyTarget,
    template: bool,
) -> Result<ReplyMedia, DomainError> {
    if !matches!(target, ReplyTarget::Conversation { .. }) || channel == ChannelKind::Threads {
        return Err(bad("a file goes only in a direct conversation on WhatsApp, Messenger or Instagram"));
    }
    if template {
        return Err(bad("a template message carries no file"));
    }
    let (kind, mime, size, object, from_message) = match &file.source {
        FileSource::Uploaded { kind, mime, size, object } => (*kind, mime.clone(), *size, object.clone(), None),
        FileSource::Earlier(earlier) => {
            let kept = conversation.files.get(earlier).ok_or_else(|| bad("this conversation kept no such file"))?;
            let kind = MediaKind::of_mime(&kept.mime);
            (kind, kept.mime.clone(), kept.size, kept.object.clone(), Some(earlier.clone()))
        }
    };
    if !kind.admits(&mime) {
        return Err(bad("the file's type does not fit its kind"));
    }
    match send_limit(channel, kind) {
        None => return Err(bad("the channel sends no file of this kind")),
        Some(limit) if size > limit => {
            return Err(bad(&format!("the file is larger than the channel's {limit} bytes")))
        }
        Some(_) => {}
    }
    if file.captioned {
        match channel {
            ChannelKind::Messenger | ChannelKind::Instagram => {
                return Err(bad("Messenger and Instagram send a file without words: send the text as its own reply"))
            }
            _ if matches!(kind, MediaKind::Audio | MediaKind::Sticker) => {
                return Err(bad("WhatsApp sends audio and stickers without a caption"))
            }
            _ => {}
        }
    }
    Ok(ReplyMedia { kind, mime, size, object, from_message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::conversation::StoredFile;

    fn upload(kind: MediaKind, mime: &str, size: u64, captioned: bool) -> ReplyFile {
        ReplyFile { source: FileSource::Uploaded { kind, mime: mime.into(), size, object: "ab".repeat(32) }, captioned }
    }

    fn direct() -> ReplyTarget {
        ReplyTarget::Conversation { quote: None }
    }

    fn kept() -> Conversation {
        let mut c = Conversation::default();
        let file = MessageFile { channel_message_id: "wamid.1".into(), attachment: 0 };
        c.files.insert(file, StoredFile { object: "cd".repeat(32), size: 90_000, mime: "audio/ogg".into() });
        c
    }

    #[test]
    fn a_captioned_photo_goes_on_whatsapp_and_a_bare_one_on_messenger() {
        let c = Conversation::default();
        let photo =
            admit(&upload(MediaKind::Image, "image/jpeg", 1000, true), &c, ChannelKind::WhatsApp, &direct(), false);
        assert_eq!(photo.map(|m| m.kind), Ok(MediaKind::Image));
        let bare =
            admit(&upload(MediaKind::Image, "image/png", 1000, false), &c, ChannelKind::Messenger, &direct(), false);
        assert!(bare.is_ok());
    }

    #[test]
    fn words_beside_a_file_are_refused_where_the_channel_cannot_carry_them() {
        let c = Conversation::default();
        for channel in [ChannelKind::Messenger, ChannelKind::Instagram] {
            assert!(admit(&upload(MediaKind::Image, "image/jpeg", 10, true), &c, channel, &direct(), false).is_err());
        }
        let voice = upload(MediaKind::Audio, "audio/ogg", 10, true);
        assert!(admit(&voice, &c, ChannelKind::WhatsApp, &direct(), false).is_err());
    }

    #[test]
    fn files_are_refused_on_threads_in_comments_with_templates_and_past_the_limit() {
        let c = Conversation::default();
        let photo = upload(MediaKind::Image, "image/jpeg", 10, false);
        assert!(admit(&photo, &c, ChannelKind::Threads, &direct(), false).is_err());
        let comment = ReplyTarget::CommentPrivateReply { comment_id: "c".into() };
        assert!(admit(&photo, &c, ChannelKind::Instagram, &comment, false).is_err());
        assert!(admit(&photo, &c, ChannelKind::WhatsApp, &direct(), true).is_err());
        let big = upload(MediaKind::Image, "image/jpeg", 8 * MB + 1, false);
        assert!(admit(&big, &c, ChannelKind::Messenger, &direct(), false).is_err());
        let svg = upload(MediaKind::Image, "image/svg+xml", 10, false);
        assert!(admit(&svg, &c, ChannelKind::WhatsApp, &direct(), false).is_err());
    }

    #[test]
    fn an_earlier_file_must_be_one_the_conversation_kept() {
        let earlier = |id: &str| ReplyFile {
            source: FileSource::Earlier(MessageFile { channel_message_id: id.into(), attachment: 0 }),
            captioned: false,
        };
        let sent = admit(&earlier("wamid.1"), &kept(), ChannelKind::WhatsApp, &direct(), false);
        let sent = sent.map(|m| (m.kind, m.object, m.from_message.map(|f| f.channel_message_id)));
        assert_eq!(sent, Ok((MediaKind::Audio, "cd".repeat(32), Some("wamid.1".to_owned()))));
        assert!(admit(&earlier("wamid.2"), &kept(), ChannelKind::WhatsApp, &direct(), false).is_err());
    }
}
