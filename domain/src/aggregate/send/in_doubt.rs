//! Attempts and sends in doubt (ADR 010): every call to the platform is recorded as an
//! attempt before it is made, so an attempt with no outcome after a crash is known to be
//! in doubt. It is resolved by the platform's echo of the send id, or after its bound by
//! the Partner's policy: re-sent (as a re-send of that attempt) or held for a person.

use super::{CheckDelivery, SendContext};
use crate::aggregate::conversation::{Conversation, SendState};
use crate::aggregate::Decide;
use crate::error::DomainError;
use crate::event::{DomainEvent, InDoubtPolicy, SendEvidence};
use crate::ids::SendId;
use crate::time::{Span, Timestamp};

fn send_of(conversation: &Conversation, send_id: SendId) -> Result<&SendState, DomainError> {
    let send = conversation.sends.get(&send_id).ok_or(DomainError::SendNotFound(send_id))?;
    if send.outcome.is_some() {
        return Err(DomainError::SendAlreadySettled(send_id));
    }
    Ok(send)
}

/// The outbox is about to call the platform: the policy is checked again (a refusal
/// settles the send), then the attempt is recorded. Refused while an earlier attempt is
/// in doubt, unless a person approved its re-send.
pub struct StartAttempt {
    pub send_id: SendId,
}

impl Decide for StartAttempt {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = send_of(&ctx.conversation, self.send_id)?;
        let resends_in_doubt = match send.open_attempt {
            None => None,
            Some(open) if send.resend_approved => Some(open.attempt),
            Some(open) => return Err(DomainError::SendInDoubt { send_id: self.send_id, attempt: open.attempt }),
        };
        attempt(ctx, self.send_id, send, resends_in_doubt, now)
    }
}

fn attempt(
    ctx: &SendContext,
    send_id: SendId,
    send: &SendState,
    resends_in_doubt: Option<u32>,
    now: Timestamp,
) -> Result<Vec<DomainEvent>, DomainError> {
    let refusal = CheckDelivery { send_id }.decide(ctx, now)?;
    if !refusal.is_empty() {
        return Ok(refusal);
    }
    Ok(vec![DomainEvent::SendAttemptStarted { send_id, attempt: send.attempts + 1, at: now, resends_in_doubt }])
}

/// What the outbox does with an attempt in doubt: nothing before `bound` has passed since
/// it started (the echo usually comes in seconds), then the Partner's policy for the
/// channel. A held send waits for a person; an approved one goes out again.
pub struct ResolveInDoubt {
    pub send_id: SendId,
    pub bound: Span,
}

impl ResolveInDoubt {
    /// When the bound of this send's attempt in doubt runs out, if it is in doubt.
    pub fn due_at(&self, conversation: &Conversation) -> Option<Timestamp> {
        let send = conversation.sends.get(&self.send_id)?;
        send.unresolved_attempt().map(|open| open.at.plus(self.bound))
    }
}

impl Decide for ResolveInDoubt {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = send_of(&ctx.conversation, self.send_id)?;
        let open = send.open_attempt.ok_or(DomainError::SendNotInDoubt(self.send_id))?;
        if send.resend_approved {
            return attempt(ctx, self.send_id, send, Some(open.attempt), now);
        }
        if send.held || now < open.at.plus(self.bound) {
            return Ok(vec![]);
        }
        let channel = ctx.conversation.channel.ok_or(DomainError::ConversationNotFound)?;
        match ctx.partner.in_doubt_policy(channel) {
            InDoubtPolicy::HoldForPerson => {
                Ok(vec![DomainEvent::SendHeldInDoubt { send_id: self.send_id, attempt: open.attempt }])
            }
            InDoubtPolicy::ResendAfterBound => attempt(ctx, self.send_id, send, Some(open.attempt), now),
        }
    }
}

/// An attempt failed in a way that may pass (rate limit, 5xx): it is closed, and the
/// next one may start. A late report of an attempt already closed records nothing.
pub struct RecordAttemptFailed {
    pub send_id: SendId,
    pub attempt: u32,
    pub code: i64,
    pub title: String,
    pub retry_after: Option<Timestamp>,
}

impl Decide for RecordAttemptFailed {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = send_of(state, self.send_id)?;
        if send.open_attempt.map(|open| open.attempt) != Some(self.attempt) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::SendAttemptFailed {
            send_id: self.send_id,
            attempt: self.attempt,
            code: self.code,
            title: self.title.chars().take(300).collect(),
            retry_after: self.retry_after,
        }])
    }
}

/// A person checked the customer's thread and wants the held reply sent again.
pub struct ApproveResend {
    pub send_id: SendId,
}

impl Decide for ApproveResend {
    type State = Conversation;
    fn decide(&self, state: &Conversation, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = send_of(state, self.send_id)?;
        match send.open_attempt {
            Some(open) if send.held && !send.resend_approved => {
                Ok(vec![DomainEvent::InDoubtResendApproved { send_id: self.send_id, attempt: open.attempt }])
            }
            Some(_) if send.resend_approved => Ok(vec![]),
            _ => Err(DomainError::SendNotHeld(self.send_id)),
        }
    }
}

/// A person checked the customer's thread and saw the reply there: it is settled as sent.
pub struct MarkSent {
    pub send_id: SendId,
    /// The platform's message id when the person has it; otherwise one naming the send.
    pub platform_message_id: Option<String>,
}

impl MarkSent {
    fn message_id(&self) -> String {
        self.platform_message_id.clone().unwrap_or_else(|| format!("marked-sent:{}", self.send_id.0))
    }
}

impl Decide for MarkSent {
    type State = Conversation;
    fn decide(&self, state: &Conversation, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let send = send_of(state, self.send_id)?;
        if send.open_attempt.is_none() {
            return Err(DomainError::SendNotInDoubt(self.send_id));
        }
        let id = self.message_id();
        crate::error::require_text("platform_message_id", &id, 300)?;
        Ok(vec![DomainEvent::ReplySent {
            send_id: self.send_id,
            platform_message_id: id,
            at: now,
            evidence: SendEvidence::PersonConfirmed,
        }])
    }
}

#[cfg(test)]
mod tests;
