//! The outbox's work list, read from the log: the requests without an outcome, in log
//! order per conversation, and the low-water mark the outbox resumes from.

use crate::error::CommandError;
use crate::store::{Position, StoredEnvelope};
use laras_domain::event::{DomainEvent, ReplyMedia, ReplyTarget, TemplateRef};
use laras_domain::ids::{ConversationId, PartnerId, SendId};
use laras_domain::sealed::Sealed;
use std::collections::BTreeMap;
use tokio::time::Instant;
use uuid::Uuid;

/// A send request read from the log, waiting for its outcome.
#[derive(Clone, Debug)]
pub struct PendingSend {
    pub partner: PartnerId,
    pub conversation: ConversationId,
    pub send_id: SendId,
    pub body: Sealed,
    pub target: ReplyTarget,
    pub template: Option<TemplateRef>,
    /// The file the reply carries.
    pub media: Option<ReplyMedia>,
    /// The request event: causation of what the outbox records.
    pub request_event: Uuid,
    pub correlation: Uuid,
    /// Where the request is in the log.
    pub position: Position,
}

/// Where a pending send stands in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// To be worked on.
    Active,
    /// A worker settled it; its outcome is on its way through the log.
    Settled,
    /// Held in doubt for a person: woken by the log (an approved re-send), never by a timer.
    Parked,
    /// Its worker stopped on errors of our own (the store, the keys) after its tries: worked
    /// on again from this time, without a restart.
    SetAside(Instant),
}

/// Follows the log and keeps the set of requests that have no outcome yet.
#[derive(Default)]
pub struct PendingSends {
    sends: BTreeMap<SendId, (PendingSend, Stage)>,
}

impl PendingSends {
    pub fn observe(&mut self, stored: &StoredEnvelope) -> Result<(), CommandError> {
        let h = &stored.envelope.header;
        // Only these types move a send; the rest of a conversation is not decoded.
        let moves_a_send = matches!(
            h.event_type.as_str(),
            "ReplySendRequested" | "ReplySent" | "ReplySendFailed" | "SendRefused" | "InDoubtResendApproved"
        );
        if h.stream_id.kind() != "conversation" || !moves_a_send {
            return Ok(());
        }
        let event =
            stored.envelope.event().map_err(|source| CommandError::Decode { position: stored.position, source })?;
        match event {
            DomainEvent::ReplySendRequested { send_id, body, target, template, media, .. } => {
                let conversation = h.stream_id.as_str().trim_start_matches("conversation-").parse().map(ConversationId);
                if let Ok(conversation) = conversation {
                    let send = PendingSend {
                        partner: h.partner_id,
                        conversation,
                        send_id,
                        body,
                        target,
                        template,
                        media,
                        request_event: h.event_id.0,
                        correlation: h.correlation_id,
                        position: stored.position,
                    };
                    self.sends.insert(send_id, (send, Stage::Active));
                }
            }
            DomainEvent::ReplySent { send_id, .. }
            | DomainEvent::ReplySendFailed { send_id, .. }
            | DomainEvent::SendRefused { send_id: Some(send_id), .. } => {
                self.sends.remove(&send_id);
            }
            DomainEvent::InDoubtResendApproved { send_id, .. } => self.set(send_id, Stage::Active),
            _ => {}
        }
        Ok(())
    }

    fn set(&mut self, send: SendId, stage: Stage) {
        if let Some((_, s)) = self.sends.get_mut(&send) {
            *s = stage;
        }
    }

    /// A worker is done with this send for now: settled (outcome recorded) or parked.
    pub fn settled(&mut self, send: SendId) {
        self.set(send, Stage::Settled);
    }

    pub fn park(&mut self, send: SendId) {
        self.set(send, Stage::Parked);
    }

    /// Works on `send` again from `until`.
    pub fn set_aside(&mut self, send: SendId, until: Instant) {
        self.set(send, Stage::SetAside(until));
    }

    /// Sets aside every send of `conversation` still to be worked on (its worker stopped).
    pub fn set_aside_conversation(&mut self, conversation: ConversationId, until: Instant) {
        for (send, stage) in self.sends.values_mut() {
            if send.conversation == conversation && *stage == Stage::Active {
                *stage = Stage::SetAside(until);
            }
        }
    }

    /// When the first send set aside is due, if any is.
    pub fn next_wake(&self) -> Option<Instant> {
        self.sends.values().filter_map(|(_, s)| if let Stage::SetAside(at) = s { Some(*at) } else { None }).min()
    }

    /// Makes the sends set aside until `now` or before active again.
    pub fn wake(&mut self, now: Instant) {
        for (_, stage) in self.sends.values_mut() {
            if matches!(stage, Stage::SetAside(at) if *at <= now) {
                *stage = Stage::Active;
            }
        }
    }

    /// The sends to work on, by conversation, each conversation's in log order.
    pub fn active_by_conversation(&self) -> BTreeMap<ConversationId, Vec<PendingSend>> {
        let mut out: BTreeMap<ConversationId, Vec<PendingSend>> = BTreeMap::new();
        for (send, stage) in self.sends.values() {
            if *stage == Stage::Active {
                out.entry(send.conversation).or_default().push(send.clone());
            }
        }
        for sends in out.values_mut() {
            sends.sort_by_key(|s| s.position);
        }
        out
    }

    /// The position to resume from: just before the oldest request without an outcome
    /// (so none is lost), or `read_up_to` when nothing is pending.
    pub fn low_water_mark(&self, read_up_to: Position) -> Position {
        self.sends.values().map(|(s, _)| s.position.saturating_sub(1)).min().unwrap_or(read_up_to)
    }

    /// Every pending send, each conversation's in log order (for tests and one-off runs).
    pub fn take_all(&mut self) -> Vec<PendingSend> {
        let mut all: Vec<PendingSend> = std::mem::take(&mut self.sends).into_values().map(|(s, _)| s).collect();
        all.sort_by_key(|s| s.position);
        all
    }

    pub fn len(&self) -> usize {
        self.sends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Sends held for a person or set aside for now.
    pub fn parked(&self) -> usize {
        self.sends.values().filter(|(_, s)| matches!(s, Stage::Parked | Stage::SetAside(_))).count()
    }
}
