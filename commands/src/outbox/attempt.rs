//! One step of one send: decide (start an attempt, resolve one in doubt, or refuse),
//! record the decision durably, and only then call the platform and record what it said.

use super::port::{DeliveryError, OutboundFile, OutboundMessage, OutboundTemplate, Recipient};
use super::retry::AccountKey;
use super::{Inner, PendingSend, SendRef, WA_MARKETING_OPT_OUT, WA_WINDOW_CLOSED};
use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds};
use crate::media::{MediaObject, VaultError};
use crate::meta::CommandMeta;
use laras_domain::actor::Actor;
use laras_domain::aggregate::contact::Contact;
use laras_domain::aggregate::conversation::{Conversation, RecordSendFailed, RecordSent};
use laras_domain::aggregate::partner::{MarkChannelNeedsReauthorisation, Partner};
use laras_domain::aggregate::send::{RecordAttemptFailed, ResolveInDoubt, SendContext, StartAttempt};
use laras_domain::aggregate::Decide;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::error::DomainError;
use laras_domain::event::{DomainEvent, OptScope, OptSignal, RefusalReason, ReplyTarget, SendEvidence};
use laras_domain::ids::ContactId;
use laras_domain::stream::StreamId;
use laras_domain::time::{Span, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// What one step of a send ended in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        platform_message_id: String,
    },
    Refused(RefusalReason),
    /// Failed for good: `ReplySendFailed` is recorded.
    Failed(DeliveryError),
    /// Already settled (by an echo, a person, or another outbox run); nothing done.
    AlreadySettled,
    /// The attempt failed in a way that may pass; it is recorded, and the send is tried
    /// again after `after`.
    WillRetry {
        attempt: u32,
        after: Duration,
    },
    /// The platform gave no answer after the request went out: the attempt is in doubt.
    InDoubt {
        attempt: u32,
    },
    /// In doubt and waiting for the platform's echo until `until` (the bound).
    Waiting {
        until: Timestamp,
    },
    /// Held in doubt for a person.
    Held,
    /// The account asked to wait (`Retry-After`); nothing was attempted.
    Throttled {
        until: tokio::time::Instant,
    },
}

impl DeliveryOutcome {
    /// Whether the send needs no more work from this run.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Sent { .. } | Self::Refused(_) | Self::Failed(_) | Self::AlreadySettled | Self::Held)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
            Self::AlreadySettled => "already settled",
            Self::WillRetry { .. } => "will retry",
            Self::InDoubt { .. } => "in doubt",
            Self::Waiting { .. } => "waiting for an echo",
            Self::Held => "held for a person",
            Self::Throttled { .. } => "throttled",
        }
    }
}

/// The decision recorded before any call.
enum Prepared {
    Outcome(DeliveryOutcome),
    Call { message: Box<OutboundMessage>, attempt: u32, channel: ChannelKind, contact: ContactId },
}

impl Inner {
    pub(super) async fn step(&self, send: &PendingSend) -> Result<DeliveryOutcome, CommandError> {
        let meta = CommandMeta {
            actor: Actor::system("outbox"),
            correlation_id: send.correlation,
            causation_id: send.request_event,
        };
        let prepared = self.ledger.with_retry(|| self.prepare(send, &meta)).await?;
        let (message, attempt, channel, contact) = match prepared {
            Prepared::Outcome(outcome) => return Ok(outcome),
            Prepared::Call { message, attempt, channel, contact } => (*message, attempt, channel, contact),
        };
        let account: AccountKey = (send.partner, channel, message.account_id.clone());
        let mut message = message;
        let result = match self.attach(send, contact, &mut message).await {
            Ok(()) => self.sender.deliver(&message).await,
            Err(e) => Err(e),
        };
        self.record(send, account, contact, attempt, result, &meta).await
    }

    async fn prepare(&self, send: &PendingSend, meta: &CommandMeta) -> Result<Prepared, CommandError> {
        let ledger = &self.ledger;
        let now = ledger.clock.now();
        let conv_stream = StreamId::conversation(send.conversation);
        let conversation = ledger.load_owned::<Conversation>(send.partner, &conv_stream).await?;
        let contact_id = conversation.state.contact.ok_or(DomainError::ConversationNotFound)?;
        let ctx = SendContext {
            partner: ledger.load::<Partner>(&StreamId::partner(send.partner)).await?.state,
            contact: ledger.load::<Contact>(&StreamId::contact(contact_id)).await?.state,
            conversation: conversation.state.clone(),
        };
        let channel = ctx.conversation.channel.ok_or(DomainError::ConversationNotFound)?;
        let state = ctx.conversation.sends.get(&send.send_id).ok_or(DomainError::SendNotFound(send.send_id))?;
        if state.outcome.is_some() {
            return Ok(Prepared::Outcome(DeliveryOutcome::AlreadySettled));
        }
        let account = (send.partner, channel, ctx.conversation.account_id.clone());
        if let Some(until) = self.throttles.held_until(&account) {
            return Ok(Prepared::Outcome(DeliveryOutcome::Throttled { until }));
        }
        let in_doubt = state.unresolved_attempt().is_some();
        let decision = if in_doubt {
            let resolve = ResolveInDoubt { send_id: send.send_id, bound: self.settings.in_doubt.bound(channel) };
            let waiting = match resolve.due_at(&ctx.conversation) {
                Some(_) if state.held && !state.resend_approved => DeliveryOutcome::Held,
                Some(until) => DeliveryOutcome::Waiting { until },
                None => DeliveryOutcome::AlreadySettled,
            };
            resolve.decide(&ctx, now).map(|events| (events, waiting))
        } else {
            (StartAttempt { send_id: send.send_id })
                .decide(&ctx, now)
                .map(|events| (events, DeliveryOutcome::AlreadySettled))
        };
        let (events, waiting) = match decision {
            Ok(decided) => decided,
            Err(DomainError::SendAlreadySettled(_)) => return Ok(Prepared::Outcome(DeliveryOutcome::AlreadySettled)),
            Err(e) => return Err(e.into()),
        };
        let commit = |events: Vec<DomainEvent>| {
            ledger.commit(
                send.partner,
                vec![Decided::new(conv_stream.clone(), &conversation, events)],
                meta,
                &EventIds::Fresh,
            )
        };
        let outcome = match events.first() {
            None => return Ok(Prepared::Outcome(waiting)),
            Some(DomainEvent::SendRefused { reason, .. }) => DeliveryOutcome::Refused(reason.clone()),
            Some(DomainEvent::SendHeldInDoubt { attempt, .. }) => {
                tracing::warn!(send = ?send.send_id, attempt, ?channel, "send in doubt past its bound; held for a person");
                DeliveryOutcome::Held
            }
            Some(DomainEvent::SendAttemptStarted { attempt, resends_in_doubt, .. }) => {
                let Some(message) = self.address(send, &ctx, channel)? else {
                    let refusal = DomainEvent::SendRefused {
                        draft_id: None,
                        send_id: Some(send.send_id),
                        reason: RefusalReason::ContactErased,
                    };
                    commit(vec![refusal]).await?;
                    return Ok(Prepared::Outcome(DeliveryOutcome::Refused(RefusalReason::ContactErased)));
                };
                if let Some(previous) = resends_in_doubt {
                    tracing::warn!(send = ?send.send_id, attempt, previous, ?channel, "re-sending an attempt in doubt past its bound");
                }
                let attempt = *attempt;
                commit(events).await?;
                return Ok(Prepared::Call { message: Box::new(message), attempt, channel, contact: contact_id });
            }
            Some(_) => return Ok(Prepared::Outcome(waiting)),
        };
        commit(events).await?;
        Ok(Prepared::Outcome(outcome))
    }

    /// Opens the file the reply carries, if any. A file that no longer opens (the contact
    /// was erased after the request) fails the send: nothing else could be sent instead.
    async fn attach(
        &self,
        send: &PendingSend,
        contact: ContactId,
        message: &mut OutboundMessage,
    ) -> Result<(), DeliveryError> {
        let Some(media) = &send.media else { return Ok(()) };
        let gone = |title: &str| DeliveryError::Rejected { code: 0, title: title.to_owned() };
        let files = self.files.as_ref().ok_or_else(|| gone("this server keeps no files"))?;
        let object = MediaObject { partner: send.partner, contact, name: media.object.clone() };
        let unavailable =
            |e: VaultError| DeliveryError::Unavailable { status: None, detail: e.to_string(), retry_after: None };
        let opened =
            files.open(&object).await.map_err(unavailable)?.ok_or_else(|| gone("the file is no longer kept"))?;
        let bytes = files
            .read(&opened, 0..opened.len())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| gone("the file is no longer kept"))?;
        message.media = Some(OutboundFile { kind: media.kind, mime: media.mime.clone(), bytes: Arc::new(bytes) });
        Ok(())
    }

    /// Opens the body and addresses the recipient; None when the contact's keys are gone.
    fn address(
        &self,
        send: &PendingSend,
        ctx: &SendContext,
        channel: ChannelKind,
    ) -> Result<Option<OutboundMessage>, CommandError> {
        let Some(text) = self.ledger.open(&send.body)? else { return Ok(None) };
        let identity = |kind: IdentityKind| -> Result<Option<String>, CommandError> {
            match ctx.contact.sealed_identities.get(&kind) {
                Some(sealed) => self.ledger.open(sealed),
                None => Ok(None),
            }
        };
        let (recipient, quote) = match &send.target {
            ReplyTarget::CommentPrivateReply { comment_id } => {
                (Some(Recipient::Comment { comment_id: comment_id.clone() }), None)
            }
            ReplyTarget::ThreadsReply { reply_to_id } => {
                (Some(Recipient::ThreadsReply { reply_to_id: reply_to_id.clone() }), None)
            }
            ReplyTarget::Conversation { quote } => {
                let recipient = match channel {
                    ChannelKind::WhatsApp => identity(IdentityKind::WaId)?.map(Recipient::WaId),
                    ChannelKind::Messenger => identity(IdentityKind::Psid)?.map(Recipient::Psid),
                    ChannelKind::Instagram => identity(IdentityKind::Igsid)?.map(Recipient::Igsid),
                    ChannelKind::Threads => None,
                };
                (recipient, quote.clone())
            }
        };
        let Some(recipient) = recipient else { return Ok(None) };
        let template = match &send.template {
            None => None,
            Some(t) => {
                let mut parameters = Vec::new();
                for p in &t.parameters {
                    match self.ledger.open(p)? {
                        Some(p) => parameters.push(p),
                        None => return Ok(None),
                    }
                }
                Some(OutboundTemplate { name: t.name.clone(), language: t.language.clone(), parameters })
            }
        };
        let mode = ctx.conversation.requested_mode(send.send_id).ok_or(DomainError::SendNotFound(send.send_id))?;
        Ok(Some(OutboundMessage {
            partner: send.partner,
            channel,
            account_id: ctx.conversation.account_id.clone(),
            recipient,
            text,
            mode,
            template,
            quote,
            send_ref: SendRef { conversation: send.conversation, send: send.send_id },
            media: None,
        }))
    }

    async fn record(
        &self,
        send: &PendingSend,
        account: AccountKey,
        contact: ContactId,
        attempt: u32,
        result: Result<String, DeliveryError>,
        meta: &CommandMeta,
    ) -> Result<DeliveryOutcome, CommandError> {
        let ledger = &self.ledger;
        let now = ledger.clock.now();
        let error = match result {
            Ok(platform_message_id) => {
                let command = RecordSent {
                    send_id: send.send_id,
                    platform_message_id: platform_message_id.clone(),
                    at: now,
                    evidence: SendEvidence::GraphApiAnswer,
                };
                self.settle_once(send, &command, meta).await?;
                return Ok(DeliveryOutcome::Sent { platform_message_id });
            }
            Err(DeliveryError::Unknown { detail }) => {
                tracing::warn!(send = ?send.send_id, attempt, detail, "no answer after the request went out; in doubt");
                return Ok(DeliveryOutcome::InDoubt { attempt });
            }
            Err(error) => error,
        };
        if let DeliveryError::Unavailable { status, detail, retry_after } = &error {
            if let Some(wait) = retry_after {
                self.throttles.hold(account.clone(), tokio::time::Instant::now() + *wait);
            }
            if attempt < self.settings.retry.max_attempts {
                let after = self.settings.retry.delay(attempt, *retry_after);
                let command = RecordAttemptFailed {
                    send_id: send.send_id,
                    attempt,
                    code: status.map_or(-1, i64::from),
                    title: detail.clone(),
                    retry_after: retry_after.map(|d| now.plus(Span::millis(d.as_millis() as i64))),
                };
                ledger.on_conversation(send.partner, send.conversation, &command, meta).await?;
                tracing::info!(send = ?send.send_id, attempt, status, after_ms = after.as_millis() as u64, "send failed; will retry");
                return Ok(DeliveryOutcome::WillRetry { attempt, after });
            }
        }
        let (code, title) = match &error {
            DeliveryError::TokenExpired { code } => (*code, "access token expired".to_owned()),
            DeliveryError::Rejected { code, title } => (*code, title.clone()),
            DeliveryError::Unavailable { status, .. } => {
                (status.map_or(-1, i64::from), format!("Meta unavailable after {attempt} attempts"))
            }
            DeliveryError::Unknown { .. } => (-3, "no answer".to_owned()),
            DeliveryError::NoCredentials => (-2, "no access token for the channel".to_owned()),
        };
        let command = RecordSendFailed { send_id: send.send_id, code, title: title.chars().take(300).collect() };
        self.settle_once(send, &command, meta).await?;
        self.react_to_failure(send, account.1, contact, &error, meta).await?;
        Ok(DeliveryOutcome::Failed(error))
    }

    /// Records an outcome; one already recorded by an echo or a person while the call was
    /// out stands, and this one is dropped.
    async fn settle_once<C: Decide<State = Conversation> + Sync>(
        &self,
        send: &PendingSend,
        command: &C,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        match self.ledger.on_conversation(send.partner, send.conversation, command, meta).await {
            Err(CommandError::Domain(DomainError::SendAlreadySettled(_))) => Ok(Committed::default()),
            other => other,
        }
    }

    /// Failures that say something about the world change it: an expired token stops the
    /// channel, a closed window is remembered, a marketing opt-out is recorded.
    async fn react_to_failure(
        &self,
        send: &PendingSend,
        channel: ChannelKind,
        contact: ContactId,
        error: &DeliveryError,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let ledger = &self.ledger;
        let now = ledger.clock.now();
        match error {
            DeliveryError::TokenExpired { code } => {
                let command = MarkChannelNeedsReauthorisation { channel, error_code: *code };
                ledger.mark_channel_needs_reauthorisation(send.partner, command, meta).await
            }
            DeliveryError::Rejected { code: WA_WINDOW_CLOSED, .. } => {
                ledger.mark_window_closed(send.partner, send.conversation, WA_WINDOW_CLOSED, now, meta).await
            }
            DeliveryError::Rejected { code: WA_MARKETING_OPT_OUT, .. } => {
                let signal = OptSignal::PlatformError { code: WA_MARKETING_OPT_OUT };
                ledger.opt_out(send.partner, contact, Some(channel), OptScope::Marketing, signal, meta).await
            }
            _ => Ok(Committed::default()),
        }
    }
}
