//! The send decision: may this reply go out now, and how? It reads three aggregates:
//! the Partner (approval mode, channel health), the Contact (opt-outs, erasure) and
//! the Conversation (drafts, windows, comments).
//!
//! A refusal is not an error: it is a `SendRefused` event with the reason, so the
//! ledger shows every time Laras held back.

use super::conversation::{Conversation, DraftStatus};
use super::partner::{ChannelStatus, Partner};
use super::{contact::Contact, Decide};
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{DraftId, SendId};
use crate::policy::window::{
    direct_reply_mode, private_reply_allowed, Sender, HUMAN_AGENT_WINDOW, PRIVATE_REPLY_WINDOW, SERVICE_WINDOW,
};
use crate::sealed::Sealed;
use crate::time::Timestamp;

mod answer;
mod follow_up;
mod in_doubt;
mod media;
pub use answer::{AiReply, AnswerMessage};
pub use follow_up::FollowUpDeal;
pub use in_doubt::{ApproveResend, MarkSent, RecordAttemptFailed, ResolveInDoubt, StartAttempt};
pub use media::{send_limit, FileSource, ReplyFile};

/// What the handler loaded for a send decision.
#[derive(Clone, Debug, Default)]
pub struct SendContext {
    pub partner: Partner,
    pub contact: Contact,
    pub conversation: Conversation,
}

#[derive(Clone, PartialEq, Debug)]
pub enum SendSource {
    /// Send a proposed draft (approved, or under autopilot).
    Draft(DraftId),
    /// A person writes and sends directly: the person is the approver.
    PersonReply { body: Sealed, target: ReplyTarget },
}

pub struct RequestSend {
    pub send_id: SendId,
    pub source: SendSource,
    pub template: Option<TemplateRef>,
    /// Follow-ups and other selling messages; blocked by marketing-only opt-outs too.
    pub marketing: bool,
    /// A file to send with the reply (person replies only).
    pub media: Option<ReplyFile>,
}

impl Decide for RequestSend {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let conv = &ctx.conversation;
        let channel = conv.channel.ok_or(DomainError::ConversationNotFound)?;
        let (draft_id, body, target, sender, approved) = match &self.source {
            SendSource::Draft(id) => {
                let draft = conv.drafts.get(id).ok_or(DomainError::DraftNotFound(*id))?;
                match draft.status {
                    DraftStatus::Sent => return Err(DomainError::DraftAlreadySent(*id)),
                    DraftStatus::Rejected => return Err(DomainError::DraftAlreadyDecided(*id)),
                    DraftStatus::Pending | DraftStatus::Approved => {}
                }
                // An AI draft stays automated even when a person approved it: Meta's
                // human-agent exception is for replies a person wrote.
                let sender = if draft.automated { Sender::Automated } else { Sender::Person };
                (Some(*id), draft.body.clone(), draft.target.clone(), sender, draft.status == DraftStatus::Approved)
            }
            SendSource::PersonReply { body, target } => (None, body.clone(), target.clone(), Sender::Person, true),
        };
        let media = match &self.media {
            None => None,
            Some(file) => Some(media::admit(file, conv, channel, &target, self.template.is_some())?),
        };
        let mode =
            match send_policy(ctx, channel, &target, sender, approved, self.template.is_some(), self.marketing, now) {
                Ok(mode) => mode,
                Err(reason) => return Ok(vec![DomainEvent::SendRefused { draft_id, send_id: None, reason }]),
            };
        Ok(vec![DomainEvent::ReplySendRequested {
            send_id: self.send_id,
            draft_id,
            body,
            target,
            mode,
            template: if mode == MessagingMode::Template { self.template.clone() } else { None },
            media,
        }])
    }
}

/// Whether a person's own reply to `target` would go out now: the rules [`RequestSend`]
/// applies, asked before anything is written (the console's reply box says it before
/// the person presses send). `Ok(Err(reason))` is a refusal; `Err` means no such
/// conversation.
pub fn person_reply_check(
    ctx: &SendContext,
    target: &ReplyTarget,
    now: Timestamp,
) -> Result<Result<MessagingMode, RefusalReason>, DomainError> {
    let channel = ctx.conversation.channel.ok_or(DomainError::ConversationNotFound)?;
    Ok(send_policy(ctx, channel, target, Sender::Person, true, false, false, now))
}

/// The one send policy: approval, reachability, then the channel's windows.
#[allow(clippy::too_many_arguments)]
fn send_policy(
    ctx: &SendContext,
    channel: crate::channel::ChannelKind,
    target: &ReplyTarget,
    sender: Sender,
    approved: bool,
    has_template: bool,
    marketing: bool,
    now: Timestamp,
) -> Result<MessagingMode, RefusalReason> {
    let conv = &ctx.conversation;
    if !approved && ctx.partner.approval_mode(channel) != ApprovalMode::Autopilot {
        return Err(RefusalReason::ApprovalRequired);
    }
    reachable(ctx, channel, marketing)?;
    match target {
        ReplyTarget::Conversation { .. } => direct_reply_mode(channel, conv.window, now, sender, has_template),
        ReplyTarget::CommentPrivateReply { comment_id } => match conv.comments.get(comment_id) {
            None => Err(RefusalReason::UnknownComment),
            Some(c) => {
                private_reply_allowed(c.at, conv.comment_answered(comment_id), now).map(|_| MessagingMode::PrivateReply)
            }
        },
        ReplyTarget::ThreadsReply { reply_to_id } => match conv.comments.get(reply_to_id) {
            None => Err(RefusalReason::UnknownComment),
            Some(c) if now < c.at.plus(SERVICE_WINDOW) => Ok(MessagingMode::PublicReply),
            Some(c) => Err(RefusalReason::WindowClosed { closed_at: c.at.plus(SERVICE_WINDOW) }),
        },
    }
}

/// The outbox's check just before delivery: the world may have moved since the request
/// (an opt-out arrived, the window closed, the token expired). Allowed: no events.
/// Refused: `SendRefused` with the send id, which settles the request.
pub struct CheckDelivery {
    pub send_id: SendId,
}

impl Decide for CheckDelivery {
    type State = SendContext;
    fn decide(&self, ctx: &SendContext, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let conv = &ctx.conversation;
        let channel = conv.channel.ok_or(DomainError::ConversationNotFound)?;
        let send = conv.sends.get(&self.send_id).ok_or(DomainError::SendNotFound(self.send_id))?;
        if send.outcome.is_some() {
            return Err(DomainError::SendAlreadySettled(self.send_id));
        }
        let refuse =
            |reason| Ok(vec![DomainEvent::SendRefused { draft_id: send.draft, send_id: Some(self.send_id), reason }]);
        // Marketing-only opt-outs were checked at request time; a full one stops it now.
        if let Err(reason) = reachable(ctx, channel, false) {
            return refuse(reason);
        }
        let Some(mode) = conv.requested_mode(self.send_id) else {
            return Err(DomainError::SendNotFound(self.send_id));
        };
        let window = match (&send.target, mode) {
            (_, MessagingMode::Template) => Ok(()),
            (ReplyTarget::CommentPrivateReply { comment_id }, _) => match conv.comments.get(comment_id) {
                Some(c) if now < c.at.plus(PRIVATE_REPLY_WINDOW) => Ok(()),
                Some(c) => Err(RefusalReason::CommentReplyWindowExpired { closed_at: c.at.plus(PRIVATE_REPLY_WINDOW) }),
                None => Err(RefusalReason::UnknownComment),
            },
            (ReplyTarget::ThreadsReply { reply_to_id }, _) => match conv.comments.get(reply_to_id) {
                Some(c) if now < c.at.plus(SERVICE_WINDOW) => Ok(()),
                Some(c) => Err(RefusalReason::WindowClosed { closed_at: c.at.plus(SERVICE_WINDOW) }),
                None => Err(RefusalReason::UnknownComment),
            },
            (ReplyTarget::Conversation { .. }, MessagingMode::HumanAgentTag) => match conv.window.last_inbound_at {
                Some(last) if now < last.plus(HUMAN_AGENT_WINDOW) => Ok(()),
                Some(last) => Err(RefusalReason::HumanAgentWindowClosed { closed_at: last.plus(HUMAN_AGENT_WINDOW) }),
                None => Err(RefusalReason::NoCustomerMessage),
            },
            (ReplyTarget::Conversation { .. }, _) => match conv.window.service_window_closes_at() {
                Some(closes) if now < closes => Ok(()),
                Some(closes) => Err(RefusalReason::WindowClosed { closed_at: closes }),
                None => Err(RefusalReason::NoCustomerMessage),
            },
        };
        match window {
            Ok(()) => Ok(vec![]),
            Err(reason) => refuse(reason),
        }
    }
}

/// Whether anything may go to this contact on this channel at all: the channel is
/// healthy, the contact exists and has not opted out.
fn reachable(ctx: &SendContext, channel: crate::channel::ChannelKind, marketing: bool) -> Result<(), RefusalReason> {
    match ctx.partner.channel_status(channel) {
        Some(ChannelStatus::Connected) => {}
        Some(ChannelStatus::NeedsReauthorisation) => return Err(RefusalReason::ChannelNeedsReauthorisation),
        Some(ChannelStatus::Disconnected) | None => return Err(RefusalReason::ChannelDisconnected),
    }
    if ctx.contact.erased {
        return Err(RefusalReason::ContactErased);
    }
    if ctx.contact.is_opted_out(channel, marketing) {
        return Err(RefusalReason::OptedOut);
    }
    Ok(())
}

/// The refusal in a decision's events, if the decision was a refusal.
pub fn refusal_in(events: &[DomainEvent]) -> Option<&RefusalReason> {
    events.iter().find_map(|e| match e {
        DomainEvent::SendRefused { reason, .. } => Some(reason),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
