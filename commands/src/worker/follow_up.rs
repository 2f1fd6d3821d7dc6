//! Sales follow-ups: a process that watches open opportunities. When the business
//! wrote last and the customer has been quiet for the Partner's follow-up delay, it
//! follows up once per silence. Inside the customer-service window that is a draft
//! (sent under autopilot); outside it, WhatsApp sends the Partner's approved template,
//! and Messenger, Instagram and Threads record a skipped follow-up with the reason. An
//! opted-out contact is never followed up. The send policy still checks every send.

use crate::error::CommandError;
use crate::meta::CommandMeta;
use crate::store::StoredEnvelope;
use crate::Ledger;
use laras_domain::actor::Actor;
use laras_domain::aggregate::contact::Contact;
use laras_domain::aggregate::conversation::ProposeDraft;
use laras_domain::aggregate::send::{FollowUpDeal, RequestSend, SendSource};
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, DecodeError, DomainEvent, DraftAuthor, RefusalReason, ReplyTarget};
use laras_domain::ids::{ContactId, ConversationId, DraftId, OpportunityId, PartnerId, SendId};
use laras_domain::stream::StreamId;
use laras_domain::time::{Span, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use uuid::Uuid;

/// The generator name on follow-up drafts (and what marks a conversation followed up).
pub const FOLLOW_UP: &str = "follow-up";

#[derive(serde::Serialize, serde::Deserialize)]
struct OpenDeal {
    partner: PartnerId,
    conversation: ConversationId,
    contact: ContactId,
    title: String,
}

/// What the process knows from the log.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct FollowUpBook {
    deals: HashMap<OpportunityId, OpenDeal>,
    last_inbound: HashMap<ConversationId, Timestamp>,
    last_outbound: HashMap<ConversationId, Timestamp>,
    followed: HashMap<ConversationId, Timestamp>,
}

fn conversation_of(stored: &StoredEnvelope) -> Option<ConversationId> {
    stored.envelope.header.stream_id.as_str().strip_prefix("conversation-")?.parse().ok().map(ConversationId)
}

impl FollowUpBook {
    /// The book as a snapshot's bytes (JSON: the book is small, one entry per open deal
    /// and conversation).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A book from a snapshot; None when the bytes are not a book of this version.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Learns what `stored` says about deals and silences. Only the event types the book
    /// needs are decoded (a message or a send request counts by its header alone); an
    /// event of those types that cannot be decoded is answered as an error and learns nothing.
    pub fn learn(&mut self, stored: &StoredEnvelope) -> Result<(), DecodeError> {
        let h = &stored.envelope.header;
        let at = h.recorded_at;
        match h.event_type.as_str() {
            "InboundMessageReceived" => {
                if let Some(c) = conversation_of(stored) {
                    self.last_inbound.insert(c, at);
                }
                return Ok(());
            }
            "ReplySendRequested" => {
                if let Some(c) = conversation_of(stored) {
                    self.last_outbound.insert(c, at);
                }
                return Ok(());
            }
            "OpportunityOpened" | "OpportunityWon" | "OpportunityLost" | "FollowUpSkipped" | "DraftProposed" => {}
            _ => return Ok(()),
        }
        match stored.envelope.event()? {
            DomainEvent::OpportunityOpened { opportunity_id, contact_id, conversation_id: Some(c), title, .. } => {
                let deal = OpenDeal { partner: h.partner_id, conversation: c, contact: contact_id, title };
                self.deals.insert(opportunity_id, deal);
            }
            // Won and lost are terminal, and come after the opening in the log.
            DomainEvent::OpportunityWon { .. } | DomainEvent::OpportunityLost { .. } => {
                if let Some(id) = h.stream_id.as_str().strip_prefix("opportunity-").and_then(|s| s.parse().ok()) {
                    self.deals.remove(&OpportunityId(id));
                }
            }
            DomainEvent::FollowUpSkipped { .. } => {
                if let Some(c) = conversation_of(stored) {
                    self.followed.insert(c, at);
                }
            }
            DomainEvent::DraftProposed { author: DraftAuthor::AiWorker { generator, .. }, .. }
                if generator == FOLLOW_UP =>
            {
                if let Some(c) = conversation_of(stored) {
                    self.followed.insert(c, at);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Open deals whose conversation has waited on the customer since before `since`
    /// and was not followed up since the customer last wrote.
    fn quiet_since(&self, since: impl Fn(PartnerId) -> Option<Timestamp>) -> Vec<(OpportunityId, &OpenDeal)> {
        self.deals
            .iter()
            .filter(|(_, d)| {
                let (Some(out), Some(cutoff)) = (self.last_outbound.get(&d.conversation), since(d.partner)) else {
                    return false;
                };
                let inbound = self.last_inbound.get(&d.conversation).copied().unwrap_or(Timestamp(i64::MIN));
                // The follow-up's own send moves `out`; only the customer's next message
                // opens a new silence.
                let followed = self.followed.get(&d.conversation).copied();
                *out > inbound && *out <= cutoff && followed.is_none_or(|f| f < inbound)
            })
            .map(|(id, d)| (*id, d))
            .collect()
    }
}

#[derive(Clone)]
pub struct FollowUps {
    pub ledger: Ledger,
    /// How often the process looks for quiet customers.
    pub every: std::time::Duration,
}

impl FollowUps {
    /// Reads the whole log, then follows up what is due now (tests and CLI commands).
    pub async fn check_now(&self) -> Result<(), CommandError> {
        let mut book = FollowUpBook::default();
        let mut after = 0;
        loop {
            let batch = self.ledger.store.read_all(after, 2_000).await?;
            let Some(last) = batch.last().map(|s| s.position) else { break };
            for stored in &batch {
                if book.learn(stored).is_err() {
                    tracing::warn!(position = stored.position, "an event follow-ups need cannot be read; passed over");
                }
            }
            after = last;
        }
        self.follow_up_due(&book).await
    }

    pub(crate) async fn follow_up_due(&self, book: &FollowUpBook) -> Result<(), CommandError> {
        let now = self.ledger.clock.now();
        let mut delays = HashMap::new();
        for deal in book.deals.values() {
            if let std::collections::hash_map::Entry::Vacant(v) = delays.entry(deal.partner) {
                v.insert(self.ledger.partner(deal.partner).await?.follow_up_delay_hours);
            }
        }
        let since =
            |p: PartnerId| delays.get(&p).copied().flatten().map(|h| Timestamp(now.0 - Span::hours(i64::from(h)).0));
        for (opportunity, deal) in book.quiet_since(since) {
            if let Err(e) = self.follow_up(opportunity, deal, now).await {
                tracing::warn!(error = %e, partner = %deal.partner, "a follow-up failed");
            }
        }
        Ok(())
    }

    async fn follow_up(&self, opportunity: OpportunityId, deal: &OpenDeal, now: Timestamp) -> Result<(), CommandError> {
        let (partner, conversation) = (deal.partner, deal.conversation);
        let meta = CommandMeta::new(Actor::AiWorker { generator: FOLLOW_UP.into() }).caused_by(opportunity.0);
        let skip = |reason| self.ledger.skip_follow_up(partner, conversation, opportunity, reason, &meta);
        let contact = self.ledger.load::<Contact>(&StreamId::contact(deal.contact)).await?.state;
        if contact.erased || !contact.opt_outs.is_empty() {
            skip(RefusalReason::OptedOut).await?;
            return Ok(());
        }
        let conv = self.ledger.conversation(partner, conversation).await?;
        let channel = conv.channel.ok_or(laras_domain::error::DomainError::ConversationNotFound)?;
        let settings = self.ledger.partner(partner).await?;
        let closes = conv.window.service_window_closes_at();
        let template = match closes {
            Some(closed_at) if now >= closed_at => match (channel, &settings.follow_up_template) {
                (ChannelKind::WhatsApp, Some((name, language))) => {
                    Some((name.clone(), language.clone(), vec![deal.title.clone()]))
                }
                (ChannelKind::WhatsApp, None) => {
                    return skip(RefusalReason::TemplateRequired { closed_at }).await.map(|_| ())
                }
                _ => return skip(RefusalReason::AutomatedOutsideWindow { closed_at }).await.map(|_| ()),
            },
            Some(_) => None,
            None => return skip(RefusalReason::NoCustomerMessage).await.map(|_| ()),
        };
        let text =
            format!("Halo kak, apakah masih tertarik dengan {}? Kami siap bantu kalau ada pertanyaan.", deal.title);
        let author = DraftAuthor::AiWorker {
            generator: FOLLOW_UP.into(),
            model: if template.is_some() { "whatsapp-template".into() } else { "follow-up-text-v1".into() },
            prompt_hash: hex::encode(Sha256::digest(text.as_bytes())),
            article_ids: vec![],
            confidence: 1.0,
            latency_ms: 0,
        };
        let draft_id = DraftId(Uuid::now_v7());
        let propose = ProposeDraft {
            draft_id,
            author,
            body: self.ledger.seal(partner, deal.contact, &text)?,
            target: ReplyTarget::Conversation { quote: None },
        };
        let send = match settings.approval_mode(channel) {
            ApprovalMode::Autopilot => Some(RequestSend {
                send_id: SendId(Uuid::now_v7()),
                source: SendSource::Draft(draft_id),
                template: template.map(|t| self.ledger.seal_template(partner, deal.contact, &t)).transpose()?,
                marketing: true,
                media: None,
            }),
            _ => None,
        };
        // One append: a takeover finds the silence either followed up with its send, or not at all.
        self.ledger.follow_up_deal(partner, conversation, &FollowUpDeal { propose, send }, &meta).await?;
        Ok(())
    }
}
