//! Customers' media: what the bytes are (magic numbers, never the sender's word), what
//! they measure where that is cheap, and how they are sealed at rest.
//!
//! A fetched file is accepted only as what its bytes say it is: the type the platform
//! declared must agree with the magic numbers, and the attachment's kind (a photo, a
//! voice note) must agree with both. Sealing uses the contact's data key and the same
//! AEAD as every sealed field, in chunks so a range can be opened without the rest.

mod blob;
mod link;
mod probe;
mod sniff;
mod verify;

pub use blob::{open_blob, open_blob_range, seal_blob, BlobError, BlobHeader, BLOB_CHUNK};
pub use link::{LinkError, MediaLink};
pub use probe::{probe, Probe};
pub use sniff::{check_type, sniff, TypeVerdict};
pub use verify::{check_file, parse_sha256, CheckedFile};

use serde::{Deserialize, Serialize};

/// What an attachment is, as far as limits and types go.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub const ALL: [MediaKind; 5] = [Self::Image, Self::Audio, Self::Video, Self::Document, Self::Sticker];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    /// WhatsApp Cloud API's own limits (the defaults of the per-kind size settings):
    /// images 5 MB, audio and video 16 MB, documents 100 MB, stickers 500 KB (animated).
    pub const fn whatsapp_limit(self) -> u64 {
        const MB: u64 = 1024 * 1024;
        match self {
            Self::Image => 5 * MB,
            Self::Audio | Self::Video => 16 * MB,
            Self::Document => 100 * MB,
            Self::Sticker => 500 * 1024,
        }
    }

    /// The kind a kept file of type `mime` is sent as.
    pub fn of_mime(mime: &str) -> Self {
        match mime.split('/').next().unwrap_or_default() {
            "image" => Self::Image,
            "audio" => Self::Audio,
            "video" => Self::Video,
            _ => Self::Document,
        }
    }

    /// Whether a (verified) MIME type fits this kind of attachment.
    pub fn admits(self, mime: &str) -> bool {
        let top = mime.split('/').next().unwrap_or_default();
        match self {
            // Only types whose magic numbers were checked: an SVG is a script as much as a picture.
            Self::Image => matches!(mime, "image/jpeg" | "image/png" | "image/gif" | "image/webp"),
            Self::Sticker => mime == "image/webp" || mime == "image/png",
            Self::Audio => top == "audio",
            // WhatsApp videos are MP4 or 3GPP; an MP4 with only sound still plays.
            Self::Video => top == "video",
            Self::Document => true,
        }
    }
}

#[cfg(test)]
mod tests;
