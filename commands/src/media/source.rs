//! The media source port: where an attachment's bytes come from (the Graph API for
//! WhatsApp's media ids, the platform's CDN for Messenger and Instagram links).

use async_trait::async_trait;
use laras_domain::channel::ChannelKind;
use laras_domain::event::MediaUnavailableReason;
use laras_domain::ids::PartnerId;

/// One file to fetch.
#[derive(Clone, Debug)]
pub struct MediaRequest {
    pub partner: PartnerId,
    pub channel: ChannelKind,
    /// The receiving account (WhatsApp phone number id, Page, Instagram account).
    pub account_id: String,
    /// The platform's reference: a WhatsApp media id, or an attachment URL.
    pub reference: String,
    /// More bytes than this end the fetch as too large (checked before and while reading).
    pub limit: u64,
}

/// The bytes as the platform served them, with what it said about them.
#[derive(Clone, Debug, Default)]
pub struct FetchedFile {
    pub bytes: Vec<u8>,
    pub mime: Option<String>,
    /// The SHA-256 the platform reported beside the file (WhatsApp's media look-up).
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The fetch cannot succeed (expired, too large, refused, unknown): recorded at once.
    #[error("the file is unavailable: {0}")]
    Unavailable(MediaUnavailableReason),
    /// It may pass (5xx, 429, a cut-off download, a timeout); after the last retry the
    /// fetch ends as `if_final`.
    #[error("fetching failed for now ({detail})")]
    Retryable { detail: &'static str, if_final: MediaUnavailableReason },
}

#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    async fn fetch(&self, request: &MediaRequest) -> Result<FetchedFile, SourceError>;
}
