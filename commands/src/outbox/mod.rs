//! The outbox: turns `ReplySendRequested` events into Graph API calls, and their
//! outcomes into events.
//!
//! Nothing is kept apart from the log: the pending sends are the requests without an
//! outcome (`ReplySent`, `ReplySendFailed`, or `SendRefused` with the send's id), so a
//! crash never loses a request. Just before each delivery the policy is checked again
//! (an opt-out or an expired token may have arrived since the request).
//!
//! Exactly-once delivery is not possible (Meta's send APIs take no idempotency key):
//! a crash after Meta accepted a message and before `ReplySent` is durable makes the
//! restarted outbox send it again. That window is one Graph API response plus one
//! group commit; nothing else can make a customer receive a reply twice.

mod port;

pub use port::*;

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use crate::store::StoredEnvelope;
use crate::subscription::Subscription;
use laras_domain::actor::Actor;
use laras_domain::aggregate::contact::Contact;
use laras_domain::aggregate::conversation::Conversation;
use laras_domain::aggregate::partner::{MarkChannelNeedsReauthorisation, Partner};
use laras_domain::aggregate::send::{CheckDelivery, SendContext};
use laras_domain::aggregate::Decide;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DomainEvent, OptScope, OptSignal, RefusalReason, ReplyTarget, TemplateRef};
use laras_domain::ids::{ConversationId, PartnerId, SendId};
use laras_domain::sealed::Sealed;
use laras_domain::stream::StreamId;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// WhatsApp: the customer has not written in 24 h ("re-engagement message").
pub const WA_WINDOW_CLOSED: i64 = 131_047;
/// WhatsApp: the user stopped receiving marketing messages.
pub const WA_MARKETING_OPT_OUT: i64 = 131_050;

/// A send request read from the log, waiting for its outcome.
#[derive(Clone, Debug)]
pub struct PendingSend {
    pub partner: PartnerId,
    pub conversation: ConversationId,
    pub send_id: SendId,
    pub body: Sealed,
    pub target: ReplyTarget,
    pub template: Option<TemplateRef>,
    /// The request event: causation of what the outbox records.
    pub request_event: Uuid,
    pub correlation: Uuid,
}

/// Follows the log and keeps the set of requests that have no outcome yet.
#[derive(Default)]
pub struct PendingSends(BTreeMap<SendId, PendingSend>);

impl PendingSends {
    pub fn observe(&mut self, stored: &StoredEnvelope) -> Result<(), CommandError> {
        let h = &stored.envelope.header;
        if h.stream_id.kind() != "conversation" {
            return Ok(());
        }
        let event =
            stored.envelope.event().map_err(|source| CommandError::Decode { position: stored.position, source })?;
        match event {
            DomainEvent::ReplySendRequested { send_id, body, target, template, .. } => {
                let conversation = h.stream_id.as_str().trim_start_matches("conversation-").parse().map(ConversationId);
                if let Ok(conversation) = conversation {
                    self.0.insert(
                        send_id,
                        PendingSend {
                            partner: h.partner_id,
                            conversation,
                            send_id,
                            body,
                            target,
                            template,
                            request_event: h.event_id.0,
                            correlation: h.correlation_id,
                        },
                    );
                }
            }
            DomainEvent::ReplySent { send_id, .. }
            | DomainEvent::ReplySendFailed { send_id, .. }
            | DomainEvent::SendRefused { send_id: Some(send_id), .. } => {
                self.0.remove(&send_id);
            }
            _ => {}
        }
        Ok(())
    }

    pub fn take_all(&mut self) -> Vec<PendingSend> {
        std::mem::take(&mut self.0).into_values().collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one delivery attempt ended in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        platform_message_id: String,
    },
    Refused(RefusalReason),
    Failed(DeliveryError),
    /// Already settled by someone else (another outbox run); nothing done.
    AlreadySettled,
}

pub struct Outbox {
    ledger: Ledger,
    sender: Arc<dyn ChannelSender>,
}

impl Outbox {
    pub fn new(ledger: Ledger, sender: Arc<dyn ChannelSender>) -> Self {
        Self { ledger, sender }
    }

    /// Catches up from the start of the log, then delivers each new request as it
    /// is committed, until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), CommandError> {
        let mut subscription = Subscription::new(self.ledger.store.clone(), 0, 1024);
        let mut pending = PendingSends::default();
        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                batch = subscription.next_batch() => batch?,
            };
            for stored in &batch {
                pending.observe(stored)?;
            }
            // Deliver only once caught up to the head, so outcomes already in the log count.
            if subscription.position() < *self.ledger.store.head().borrow() {
                continue;
            }
            for send in pending.take_all() {
                match self.deliver(&send).await {
                    Ok(outcome) => {
                        tracing::info!(send = ?send.send_id, outcome = outcome_name(&outcome), "delivery settled")
                    }
                    Err(e) => {
                        tracing::warn!(send = ?send.send_id, error = %e, "delivery could not be recorded; retried on next start")
                    }
                }
            }
        }
    }

    /// Delivers one pending send and records its outcome.
    pub async fn deliver(&self, send: &PendingSend) -> Result<DeliveryOutcome, CommandError> {
        let ledger = &self.ledger;
        let meta = CommandMeta {
            actor: Actor::system("outbox"),
            correlation_id: send.correlation,
            causation_id: send.request_event,
        };
        let conv_stream = StreamId::conversation(send.conversation);
        let conversation = ledger.load_owned::<Conversation>(send.partner, &conv_stream).await?;
        let contact_id = conversation.state.contact.ok_or(laras_domain::error::DomainError::ConversationNotFound)?;
        let ctx = SendContext {
            partner: ledger.load::<Partner>(&StreamId::partner(send.partner)).await?.state,
            contact: ledger.load::<Contact>(&StreamId::contact(contact_id)).await?.state,
            conversation: conversation.state.clone(),
        };
        let check = match (CheckDelivery { send_id: send.send_id }).decide(&ctx, ledger.clock.now()) {
            Ok(events) => events,
            Err(laras_domain::error::DomainError::SendAlreadySettled(_)) => return Ok(DeliveryOutcome::AlreadySettled),
            Err(e) => return Err(e.into()),
        };
        if let Some(reason) = laras_domain::aggregate::send::refusal_in(&check).cloned() {
            ledger
                .commit(send.partner, vec![Decided::new(conv_stream, &conversation, check)], &meta, &EventIds::Fresh)
                .await?;
            return Ok(DeliveryOutcome::Refused(reason));
        }
        let channel = ctx.conversation.channel.ok_or(laras_domain::error::DomainError::ConversationNotFound)?;
        let message = match self.address(send, &ctx, channel)? {
            Some(message) => message,
            None => {
                let refusal = DomainEvent::SendRefused {
                    draft_id: None,
                    send_id: Some(send.send_id),
                    reason: RefusalReason::ContactErased,
                };
                ledger
                    .commit(
                        send.partner,
                        vec![Decided::new(conv_stream, &conversation, vec![refusal])],
                        &meta,
                        &EventIds::Fresh,
                    )
                    .await?;
                return Ok(DeliveryOutcome::Refused(RefusalReason::ContactErased));
            }
        };
        let result = self.sender.deliver(&message).await;
        self.record(send, channel, contact_id, result, &meta).await
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
        let mode = ctx
            .conversation
            .requested_mode(send.send_id)
            .ok_or(laras_domain::error::DomainError::SendNotFound(send.send_id))?;
        Ok(Some(OutboundMessage {
            partner: send.partner,
            channel,
            account_id: ctx.conversation.account_id.clone(),
            recipient,
            text,
            mode,
            template,
            quote,
        }))
    }

    async fn record(
        &self,
        send: &PendingSend,
        channel: ChannelKind,
        contact: laras_domain::ids::ContactId,
        result: Result<String, DeliveryError>,
        meta: &CommandMeta,
    ) -> Result<DeliveryOutcome, CommandError> {
        let ledger = &self.ledger;
        let now = ledger.clock.now();
        match result {
            Ok(platform_message_id) => {
                ledger
                    .record_sent(send.partner, send.conversation, send.send_id, &platform_message_id, now, meta)
                    .await?;
                Ok(DeliveryOutcome::Sent { platform_message_id })
            }
            Err(error) => {
                let (code, title) = match &error {
                    DeliveryError::TokenExpired { code } => (*code, "access token expired".to_owned()),
                    DeliveryError::Rejected { code, title } => (*code, title.clone()),
                    DeliveryError::Unavailable { status, .. } => {
                        (status.map_or(-1, i64::from), "Meta unavailable after retries".to_owned())
                    }
                    DeliveryError::NoCredentials => (-2, "no access token for the channel".to_owned()),
                };
                ledger.record_send_failed(send.partner, send.conversation, send.send_id, code, &title, meta).await?;
                self.react_to_failure(send, channel, contact, &error, meta).await?;
                Ok(DeliveryOutcome::Failed(error))
            }
        }
    }

    /// Failures that say something about the world change it: an expired token stops the
    /// channel, a closed window is remembered, a marketing opt-out is recorded.
    async fn react_to_failure(
        &self,
        send: &PendingSend,
        channel: ChannelKind,
        contact: laras_domain::ids::ContactId,
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

fn outcome_name(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Sent { .. } => "sent",
        DeliveryOutcome::Refused(_) => "refused",
        DeliveryOutcome::Failed(_) => "failed",
        DeliveryOutcome::AlreadySettled => "already settled",
    }
}
