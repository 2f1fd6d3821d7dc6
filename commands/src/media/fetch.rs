//! The media fetcher: follows the log and, for every inbound message that carries a file,
//! fetches it (with retries and backoff), checks it, keeps it sealed in the media store
//! and records `MediaStored`, or records `MediaUnavailable` with the reason; for every
//! `ContactErased`, deletes the contact's files. Once-only (it holds its lease), resumes
//! from its checkpoint, skips a poison event with a record (ADR 009).
//!
//! A file is fetched once: a redelivered webhook adds no event to the log, and an event
//! seen again after a restart finds its outcome already on the conversation.

use super::source::{MediaRequest, MediaSource, SourceError};
use super::vault::{MediaVault, VaultError};
use crate::error::CommandError;
use crate::ledger::Ledger;
use crate::meta::CommandMeta;
use crate::runtime::follow::{follow_in_lanes, LaneFollower, LaneJobs, LaneSettings};
use crate::runtime::poison::{self, handle_or_skip, FailureKind, PoisonPolicy};
use crate::runtime::{Checkpoints, Process, ProcessContext, ProcessError};
use crate::store::StoredEnvelope;
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use laras_domain::aggregate::conversation::{Conversation, MediaOutcome, RecordMedia, StoredMedia};
use laras_domain::event::{DecodeError, DomainEvent, MediaUnavailableReason, SkipReason};
use laras_domain::ids::{ContactId, ConversationId, PartnerId};
use laras_domain::media::{check_file, MediaKind};
use laras_domain::sealed::Sealed;
use laras_domain::stream::StreamId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process's name (checkpoint, lease, skips, status).
pub const MEDIA_FETCH: &str = "media-fetch";
const PAGE: usize = 1_000;
const MAX_QUEUED: usize = 1_024;

#[derive(Clone, Debug)]
pub struct MediaSettings {
    /// The largest file kept, per kind (WhatsApp's own limits unless set).
    pub limits: BTreeMap<MediaKind, u64>,
    /// Tries per file for failures that may pass.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Files fetched at once (in order within a conversation).
    pub concurrency: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            limits: MediaKind::ALL.iter().map(|k| (*k, k.whatsapp_limit())).collect(),
            attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            concurrency: 4,
        }
    }
}

impl MediaSettings {
    pub fn limit(&self, kind: MediaKind) -> u64 {
        self.limits.get(&kind).copied().unwrap_or(kind.whatsapp_limit())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("the conversation of a media message is not known")]
    NoConversation,
}

impl FailureKind for MediaError {
    fn failure_kind(&self) -> &'static str {
        match self {
            Self::Command(e) => e.failure_kind(),
            Self::Vault(_) => "media_store",
            Self::NoConversation => "conversation",
        }
    }
}

/// A file the log asks for.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub partner: PartnerId,
    pub conversation: ConversationId,
    pub contact: ContactId,
    pub channel_message_id: String,
    pub kind: MediaKind,
    pub media: Sealed,
    pub mime: Option<String>,
    pub sha256: Option<Sealed>,
}

enum Seen {
    Nothing,
    Fetch(Wanted),
    Erased { partner: PartnerId, contact: ContactId },
}

/// Fetches, checks and keeps files; records the outcome.
#[derive(Clone)]
pub struct MediaFetcher {
    pub ledger: Ledger,
    pub vault: MediaVault,
    pub source: Arc<dyn MediaSource>,
    pub settings: MediaSettings,
}

impl MediaFetcher {
    fn read(&self, stored: &StoredEnvelope) -> Result<Seen, DecodeError> {
        let h = &stored.envelope.header;
        if !matches!(h.event_type.as_str(), "InboundMessageReceived" | "ContactErased") {
            return Ok(Seen::Nothing);
        }
        let id_in = |prefix: &str| h.stream_id.as_str().strip_prefix(prefix).and_then(|c| c.parse().ok());
        Ok(match stored.envelope.event()? {
            DomainEvent::InboundMessageReceived { channel_message_id, contact_id, content, .. } => {
                match (content.media(), id_in("conversation-")) {
                    (Some(file), Some(conversation)) => Seen::Fetch(Wanted {
                        partner: h.partner_id,
                        conversation: ConversationId(conversation),
                        contact: contact_id,
                        channel_message_id,
                        kind: file.kind,
                        media: file.media.clone(),
                        mime: file.mime.map(str::to_owned),
                        sha256: file.sha256.cloned(),
                    }),
                    _ => Seen::Nothing,
                }
            }
            DomainEvent::ContactErased { .. } => match id_in("contact-") {
                Some(contact) => Seen::Erased { partner: h.partner_id, contact: ContactId(contact) },
                None => Seen::Nothing,
            },
            _ => Seen::Nothing,
        })
    }

    /// Fetches one file and records how it ended, unless that is recorded already.
    pub async fn fetch(&self, wanted: &Wanted) -> Result<(), MediaError> {
        let stream = StreamId::conversation(wanted.conversation);
        let conversation = self.ledger.load::<Conversation>(&stream).await?.state;
        if conversation.media.contains(&(wanted.channel_message_id.clone(), 0)) {
            return Ok(());
        }
        let started = Instant::now();
        let outcome = self.outcome(wanted, &conversation).await?;
        let label = match &outcome {
            MediaOutcome::Stored(_) => "stored",
            MediaOutcome::Unavailable(reason) => reason.as_str(),
        };
        metrics::counter!("laras_media_fetches_total", "kind" => wanted.kind.as_str(), "outcome" => label).increment(1);
        metrics::histogram!("laras_media_fetch_seconds").record(started.elapsed().as_secs_f64());
        if let MediaOutcome::Stored(m) = &outcome {
            metrics::counter!("laras_media_stored_bytes_total").increment(m.size);
        }
        tracing::info!(process = MEDIA_FETCH, kind = wanted.kind.as_str(), outcome = label, "media fetched");
        let command = RecordMedia { channel_message_id: wanted.channel_message_id.clone(), attachment: 0, outcome };
        let meta = CommandMeta::system(MEDIA_FETCH);
        self.ledger.on_conversation(wanted.partner, wanted.conversation, &command, &meta).await?;
        Ok(())
    }

    async fn outcome(&self, wanted: &Wanted, conversation: &Conversation) -> Result<MediaOutcome, MediaError> {
        use MediaUnavailableReason as Why;
        let unavailable = |why| Ok(MediaOutcome::Unavailable(why));
        // The message's own key: gone once the contact is erased, and never re-created here.
        let Some(key) = self.vault.keys.data_key(wanted.media.key).map_err(VaultError::from)? else {
            return unavailable(Why::ContactErased);
        };
        let Ok(reference) = wanted.media.open_text(&key) else { return unavailable(Why::NoReference) };
        if reference.trim().is_empty() {
            return unavailable(Why::NoReference);
        }
        let from_webhook = match &wanted.sha256 {
            Some(s) => match self.ledger.open(s)? {
                Some(text) => Some(text),
                None => return unavailable(Why::ContactErased),
            },
            None => None,
        };
        let channel = conversation.channel.ok_or(MediaError::NoConversation)?;
        let limit = self.settings.limit(wanted.kind);
        let request = MediaRequest {
            partner: wanted.partner,
            channel,
            account_id: conversation.account_id.clone(),
            reference,
            limit,
        };
        let file = match self.download(&request).await {
            Ok(file) => file,
            Err(why) => return unavailable(why),
        };
        let expected = from_webhook.or(file.sha256.clone());
        let declared = wanted.mime.as_deref().or(file.mime.as_deref());
        let checked = match check_file(wanted.kind, declared, expected.as_deref(), limit, &file.bytes) {
            Ok(checked) => checked,
            Err(why) => return unavailable(why),
        };
        let kept = self.vault.keep(wanted.partner, wanted.contact, wanted.media.key, &file.bytes).await?;
        let Some(object) = kept else { return unavailable(Why::ContactErased) };
        let sha256 =
            Sealed::seal(wanted.media.key, &key, hex::encode(checked.sha256).as_bytes(), &mut rand::rngs::OsRng);
        Ok(MediaOutcome::Stored(StoredMedia {
            object,
            sha256,
            size: checked.size,
            mime: checked.mime,
            width: checked.probe.width,
            height: checked.probe.height,
            duration_ms: checked.probe.duration_ms,
        }))
    }

    /// The bytes, with up to `attempts` tries (exponential backoff with jitter) for
    /// failures that may pass.
    async fn download(&self, request: &MediaRequest) -> Result<super::source::FetchedFile, MediaUnavailableReason> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.settings.first_delay)
            .with_max_delay(self.settings.max_delay)
            .with_jitter()
            .without_max_times()
            .build();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.source.fetch(request).await {
                Ok(file) => return Ok(file),
                Err(SourceError::Unavailable(why)) => return Err(why),
                Err(SourceError::Retryable { if_final, .. }) if tries >= self.settings.attempts.max(1) => {
                    return Err(if_final)
                }
                Err(SourceError::Retryable { detail, .. }) => {
                    let delay = delays.next().unwrap_or(self.settings.first_delay);
                    tracing::info!(process = MEDIA_FETCH, try_ = tries, detail, "media fetch failed; trying again");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Deletes an erased contact's files (its key is already gone: they opened for no one).
    pub async fn erase(&self, partner: PartnerId, contact: ContactId) -> Result<(), MediaError> {
        let deleted = self.vault.discard_contact(partner, contact).await?;
        tracing::info!(process = MEDIA_FETCH, deleted, "an erased contact's files were deleted");
        Ok(())
    }
}

/// The fetcher under the supervisor: once-only, checkpointed below the oldest file still
/// being fetched.
pub struct MediaFetchProcess {
    pub fetcher: MediaFetcher,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub poison: PoisonPolicy,
}

#[async_trait]
impl LaneFollower for MediaFetchProcess {
    async fn take(
        &self,
        batch: &[StoredEnvelope],
        ctx: &ProcessContext,
        jobs: &mut LaneJobs,
    ) -> Result<(), ProcessError> {
        let ledger = &self.fetcher.ledger;
        for stored in batch {
            match self.fetcher.read(stored) {
                Err(_) => poison::skip(ledger, &ctx.status, stored, SkipReason::Undecodable).await?,
                Ok(Seen::Nothing) => {}
                Ok(Seen::Erased { partner, contact }) => {
                    // Files of this contact still being fetched are finished first, so none is
                    // written after its contact's files were deleted.
                    jobs.drain().await?;
                    let erase = || self.fetcher.erase(partner, contact);
                    handle_or_skip(ledger, &ctx.status, self.poison, stored, erase).await?;
                }
                Ok(Seen::Fetch(wanted)) => {
                    let (fetcher, status, policy) = (self.fetcher.clone(), ctx.status.clone(), self.poison);
                    let stored = stored.clone();
                    jobs.push(wanted.conversation, stored.position, async move {
                        let fetch = || fetcher.fetch(&wanted);
                        handle_or_skip(&fetcher.ledger, &status, policy, &stored, fetch).await
                    });
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Process for MediaFetchProcess {
    fn name(&self) -> &str {
        MEDIA_FETCH
    }

    fn once_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        let from = self.checkpoints.load(MEDIA_FETCH).await?.unwrap_or(0);
        ctx.status.started_from(from);
        let settings = LaneSettings {
            process: MEDIA_FETCH,
            page: PAGE,
            concurrency: self.fetcher.settings.concurrency,
            max_queued: MAX_QUEUED,
        };
        follow_in_lanes(self, &settings, self.fetcher.ledger.store.clone(), self.checkpoints.as_ref(), from, &ctx)
            .await?;
        // Fetches still running are not checkpointed: the next run finds those that were
        // recorded and fetches only the others.
        Ok(())
    }
}
