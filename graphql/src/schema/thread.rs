//! A conversation's thread as typed items: what the customer wrote, what the Partner sent
//! and how it went, and the drafts waiting for a person, each with the fields it has.

use super::enums::*;
use super::node::{global_id, NodeType};
use super::read::{Attachment, InboxItem};
use super::types::time;
use super::types::InDoubtPolicy;
use crate::error::ApiError;
use async_graphql::{Interface, SimpleObject, ID};
use laras_domain::event::{DraftAuthor as DomainAuthor, ThreadRef};
use laras_domain::ids::{ConversationId, PartnerId};
use laras_domain::media::MediaLink;
use laras_domain::time::Timestamp;
use laras_projections as rm;

stored_enum! {
    /// What a thread item is; each kind is its own type.
    ThreadItemKind {
        /// A customer's message (`InboundMessage`).
        Inbound = "inbound",
        /// A customer's public comment (`Comment`).
        Comment = "comment",
        /// A message the Page sent outside Laras (`Echo`).
        Echo = "echo",
        /// A draft of the AI worker or a person (`Draft`).
        Draft = "draft",
        /// The AI worker proposed no answer (`DraftDeclined`).
        DraftDeclined = "draft_declined",
        /// A reply sent through Laras (`Reply`).
        Reply = "reply",
        /// The send policy refused a reply or a draft (`SendRefusal`).
        Refused = "refused",
    }
}

stored_enum! {
    /// Where a draft stands.
    DraftState {
        /// Waits for a person: approve, edit or reject it.
        Proposed = "proposed",
        /// A person approved it; its reply follows.
        Approved = "approved",
        /// A person rejected it.
        Rejected = "rejected",
        /// It went out as a reply (approved, or sent by autopilot).
        Sent = "sent",
    }
}

stored_enum! {
    /// How far a reply got.
    DeliveryState {
        /// Waiting in the outbox (also after a resend was approved).
        Requested = "requested",
        /// Its attempt was in doubt and it waits for a person (`approveResend` or `markSent`).
        Held = "held",
        /// Meta accepted it.
        Sent = "sent",
        /// It reached the customer's device.
        Delivered = "delivered",
        /// The customer read it.
        Read = "read",
        /// Meta did not deliver it: `error` says why.
        Failed = "failed",
        /// The send policy refused it before it went out: `error` says why.
        Refused = "refused",
    }
}

stored_enum! {
    /// How a reply whose attempt was in doubt (the server stopped after calling Meta,
    /// before its answer was recorded) was settled (ADR 010).
    InDoubtState {
        /// Waits for a person (`approveResend` or `markSent`).
        Held = "held",
        /// A person approved sending it again.
        ResendApproved = "resend_approved",
        /// Sent again by the channel's policy.
        Resent = "resent",
        /// Sent again after a person approved it.
        ResentByPerson = "resent_by_person",
        /// An echo, a status or a person showed it had gone out.
        Resolved = "resolved",
    }
}

stored_enum! {
    /// What showed a reply went out.
    SendEvidence {
        /// Meta's answer to the send.
        GraphApiAnswer = "graph_api_answer",
        /// A delivery status webhook.
        StatusWebhook = "status_webhook",
        /// The channel echoed the message back.
        EchoWebhook = "echo_webhook",
        /// A person confirmed it (`markSent`).
        PersonConfirmed = "person_confirmed",
    }
}

stored_enum! {
    /// Why the AI worker proposed no answer.
    DeclineReason {
        /// Outside the Partner's business.
        OffTopic = "off_topic",
        /// The knowledge did not support an answer with enough confidence.
        LowConfidence = "low_confidence",
        /// The generator failed (timeout, error); a person takes over.
        GeneratorUnavailable = "generator_unavailable",
    }
}

/// What a conversation is about.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ThreadKind {
    /// Direct messages (WhatsApp chat, Messenger, Instagram DM).
    Direct,
    /// Public comments on one of the Partner's posts (Instagram or Facebook): `mediaId`.
    Comments,
    /// Replies under one of the Partner's Threads posts: `rootPostId`.
    ThreadsPost,
}

/// What a conversation is about: a direct chat, or the comments under one post.
#[derive(SimpleObject)]
pub struct Thread {
    pub kind: ThreadKind,
    /// The Instagram or Facebook media whose comments these are.
    pub media_id: Option<String>,
    /// The Threads post the replies are under.
    pub root_post_id: Option<String>,
}

impl From<&ThreadRef> for Thread {
    fn from(t: &ThreadRef) -> Self {
        match t {
            ThreadRef::Direct => Self { kind: ThreadKind::Direct, media_id: None, root_post_id: None },
            ThreadRef::Comments { media_id } => {
                Self { kind: ThreadKind::Comments, media_id: Some(media_id.clone()), root_post_id: None }
            }
            ThreadRef::ThreadsPost { root_post_id } => {
                Self { kind: ThreadKind::ThreadsPost, media_id: None, root_post_id: Some(root_post_id.clone()) }
            }
        }
    }
}

/// One conversation: its inbox row, what it is about, and its thread.
#[derive(SimpleObject)]
pub struct Conversation {
    /// The global id (`node(id:)`); `summary.conversationId` is the id the other fields take.
    pub id: ID,
    pub summary: InboxItem,
    /// What the conversation is about.
    pub thread: Thread,
    /// Messages, comments, drafts, replies and refusals, in the order the ledger recorded them.
    pub items: Vec<ThreadItem>,
    /// What happens to this conversation's replies left in doubt: RESEND_AFTER_BOUND (the
    /// channel echoes sends back) or HOLD_FOR_PERSON (Threads, or the Partner's choice).
    pub in_doubt_policy: InDoubtPolicy,
}

/// An entry of a conversation's thread. `kind` names its type, so a client that asks only
/// these fields can still tell them apart.
// Clippy reads each field's `ty = "&String"` as the same attribute repeated.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    field(name = "position", ty = "&u64", desc = "The ledger position that recorded it: the thread's order."),
    field(name = "kind", ty = "&ThreadItemKind"),
    field(
        name = "reference",
        ty = "&String",
        desc = "The channel's message or comment id, the draft id, or the send id (empty for a signal without one)."
    ),
    field(name = "text", ty = "&Option<String>", desc = "The words, or what kind of thing it is (\"[image]\")."),
    field(name = "at", ty = "&String"),
    field(
        name = "actor",
        ty = "&String",
        desc = "Who recorded it: customer, ai_worker:<generator>, partner_user:<user id> or system:<component>."
    )
)]
pub enum ThreadItem {
    InboundMessage(InboundMessage),
    Comment(Comment),
    Echo(Echo),
    Reply(Reply),
    Draft(Draft),
    DraftDeclined(DraftDeclined),
    SendRefusal(SendRefusal),
}

/// A customer's message.
#[derive(SimpleObject)]
pub struct InboundMessage {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// Another app held the thread when it came (Messenger handover): Laras only listened.
    pub standby: bool,
    /// The customer's current reaction on this message (an emoji), if any.
    pub reaction: Option<String>,
    /// The files the message carries (a photo, a voice note, a document), in order.
    pub attachments: Vec<Attachment>,
}

/// A customer's public comment under one of the Partner's posts.
#[derive(SimpleObject)]
pub struct Comment {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// The post it is under: the Instagram or Facebook media, or the Threads post.
    pub media_id: Option<String>,
}

/// A message the Page sent outside Laras (from Meta's own apps), seen as an echo.
#[derive(SimpleObject)]
pub struct Echo {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// The customer's current reaction on it, if any.
    pub reaction: Option<String>,
}

/// Why a reply did not go out, in Meta's words and in plain ones.
#[derive(SimpleObject)]
pub struct SendError {
    /// Meta's error code; null when Laras refused it itself.
    pub code: Option<i64>,
    /// Meta's title of the error, or Laras's refusal.
    pub title: Option<String>,
    /// What it means for the Partner, in English words.
    pub explanation: String,
}

/// A reply sent through Laras (a person's, or an approved or autopilot draft).
#[derive(SimpleObject)]
pub struct Reply {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// How far it got (named apart from `Draft.state`, so one query can ask both).
    pub delivery: DeliveryState,
    /// Meta's id of the sent message.
    pub platform_message_id: Option<String>,
    /// Why it failed or was refused; for a reply that went out in the end, the last
    /// attempt's error, if one failed.
    pub error: Option<SendError>,
    /// The draft it came from.
    pub from_draft_id: Option<ID>,
    /// Attempts made to send it.
    pub attempts: i64,
    /// Set when an attempt was in doubt.
    pub in_doubt: Option<InDoubtState>,
    /// What showed it went out.
    pub evidence: Option<SendEvidence>,
    /// The customer's current reaction on it, if any.
    pub reaction: Option<String>,
    /// The file it carries, if any.
    pub attachments: Vec<Attachment>,
}

/// Who proposed a draft.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DraftAuthorKind {
    /// The AI worker: `generator`, `model`, `articleIds` and `confidence` say how.
    AiWorker,
    /// A person of the Partner: `userId`.
    Person,
}

/// Who proposed a draft and, for the AI worker, what it stood on.
#[derive(SimpleObject)]
pub struct DraftAuthor {
    pub kind: DraftAuthorKind,
    /// The person's user id.
    pub user_id: Option<ID>,
    /// The AI worker's generator.
    pub generator: Option<String>,
    /// The language model that wrote it.
    pub model: Option<String>,
    /// The knowledge articles it was grounded in.
    pub article_ids: Vec<ID>,
    /// How sure the AI worker was, 0 … 1.
    pub confidence: Option<f64>,
}

impl From<DomainAuthor> for DraftAuthor {
    fn from(a: DomainAuthor) -> Self {
        match a {
            DomainAuthor::AiWorker { generator, model, article_ids, confidence, .. } => Self {
                kind: DraftAuthorKind::AiWorker,
                user_id: None,
                generator: Some(generator),
                model: Some(model),
                article_ids: article_ids.into_iter().map(|a| ID(a.to_string())).collect(),
                confidence: Some(confidence),
            },
            DomainAuthor::Person { user } => Self {
                kind: DraftAuthorKind::Person,
                user_id: Some(ID(user.to_string())),
                generator: None,
                model: None,
                article_ids: Vec::new(),
                confidence: None,
            },
        }
    }
}

/// A draft of a reply: waiting for a person (`PROPOSED`), or decided.
#[derive(SimpleObject)]
pub struct Draft {
    /// The global id (`node(id:)`).
    pub id: ID,
    pub position: u64,
    pub kind: ThreadItemKind,
    /// The draft id (as `draftId`).
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// The id `approveDraft`, `editDraft` and `rejectDraft` take.
    pub draft_id: ID,
    pub conversation_id: ID,
    pub state: DraftState,
    /// Who proposed it; null only if the read models could not tell.
    pub proposed_by: Option<DraftAuthor>,
}

/// The AI worker proposed no answer: the conversation goes to a person.
#[derive(SimpleObject)]
pub struct DraftDeclined {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    pub reason: Option<DeclineReason>,
    /// The AI worker's generator that declined.
    pub generator: Option<String>,
}

/// The send policy refused a reply or a draft; `text` says why in words.
#[derive(SimpleObject)]
pub struct SendRefusal {
    pub position: u64,
    pub kind: ThreadItemKind,
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// The draft whose send was refused, when it was one.
    pub from_draft_id: Option<ID>,
}

/// What a Meta error code means, for the codes a Partner meets (WhatsApp Cloud API,
/// Messenger and Instagram); others are named with Meta's own title.
pub fn explain(code: Option<i64>, title: Option<&str>, state: DeliveryState) -> String {
    let known = code.and_then(|c| {
        Some(match c {
            190 => "The channel's access token was refused: re-authorise the channel.",
            4 | 80007 | 130429 => "Meta's rate limit for the account was reached: too many messages in a short time.",
            10 | 200..=299 => "The app lacks Meta's permission to send this message.",
            368 => "Meta has temporarily blocked the account from sending, for a policy violation.",
            551 => "The customer cannot be reached on Messenger right now.",
            131026 => "The message could not be delivered: the number may not use WhatsApp, or its app is too old or has not accepted WhatsApp's terms.",
            131047 => "More than 24 hours passed since the customer's last message: only an approved template can be sent.",
            131048 => "Too many of the account's messages were reported as spam: sending is limited.",
            131049 => "Meta chose not to deliver this marketing message, to keep the customer's engagement healthy.",
            131050 => "The customer stopped marketing messages from the business.",
            131051 => "WhatsApp does not support this type of message.",
            131053 => "The file could not be uploaded to WhatsApp.",
            131056 => "Too many messages went to this customer in a short time: wait before sending again.",
            131031 => "The WhatsApp Business account is locked.",
            131042 => "The WhatsApp Business account has a payment problem.",
            132000 => "The template's parameters do not match its placeholders.",
            132001 => "The template does not exist in that language, or is not approved.",
            132015 | 132016 => "The template is paused or disabled for low quality.",
            133010 => "The business phone number is not registered with WhatsApp.",
            2018278 => "The message was sent outside the window Messenger allows.",
            _ => return None,
        })
    });
    match (known, code, title) {
        (Some(words), ..) => words.to_owned(),
        (None, Some(code), Some(title)) => format!("Meta refused or failed the message (error {code}: {title})."),
        (None, Some(code), None) => format!("Meta refused or failed the message (error {code})."),
        (None, None, Some(title)) if state == DeliveryState::Refused => format!("Laras did not send it: {title}."),
        (None, None, Some(title)) => format!("The send failed: {title}."),
        (None, None, None) => "The send failed for a reason Meta did not give.".to_owned(),
    }
}

/// The files of one message as GraphQL values, each stored one with its link.
fn files(
    owner: Option<(PartnerId, ConversationId)>,
    message: &str,
    files: Vec<rm::Attachment>,
) -> Result<Vec<Attachment>, ApiError> {
    files
        .into_iter()
        .map(|a| {
            let state = AttachmentState::from_stored(&a.state)?;
            Ok(Attachment {
                link: owner.filter(|_| state == AttachmentState::Stored).map(|(partner, conversation)| MediaLink {
                    partner,
                    conversation,
                    message: message.to_owned(),
                    attachment: a.index,
                    expires: Timestamp(0),
                }),
                kind: AttachmentKind::from_stored(&a.kind)?,
                mime: a.mime,
                size: a.size,
                width: a.width,
                height: a.height,
                duration_ms: a.duration_ms,
                state,
                reason: a.reason.as_deref().map(AttachmentUnavailable::from_stored).transpose()?,
            })
        })
        .collect()
}

fn t(ms: i64) -> String {
    time(Timestamp(ms))
}

impl ThreadItem {
    fn of(
        owner: Option<(PartnerId, ConversationId)>,
        conversation: &str,
        thread: &Thread,
        i: rm::ConversationItem,
    ) -> Result<Self, ApiError> {
        let kind = ThreadItemKind::from_stored(&i.kind)?;
        let (position, at) = (i.position, t(i.at));
        Ok(match kind {
            ThreadItemKind::Inbound => Self::InboundMessage(InboundMessage {
                standby: i.state.as_deref() == Some("standby"),
                reaction: i.reaction,
                attachments: files(owner, &i.reference, i.attachments)?,
                position,
                kind,
                reference: i.reference,
                text: i.text,
                at,
                actor: i.actor,
            }),
            ThreadItemKind::Comment => Self::Comment(Comment {
                media_id: thread.media_id.clone().or_else(|| thread.root_post_id.clone()),
                position,
                kind,
                reference: i.reference,
                text: i.text,
                at,
                actor: i.actor,
            }),
            ThreadItemKind::Echo => Self::Echo(Echo {
                reaction: i.reaction,
                position,
                kind,
                reference: i.reference,
                text: i.text,
                at,
                actor: i.actor,
            }),
            ThreadItemKind::Reply => {
                let delivery = DeliveryState::from_stored(i.state.as_deref().unwrap_or("requested"))?;
                let error = (i.error_code.is_some() || i.error_title.is_some()).then(|| SendError {
                    explanation: explain(i.error_code, i.error_title.as_deref(), delivery),
                    code: i.error_code,
                    title: i.error_title,
                });
                Self::Reply(Reply {
                    delivery,
                    platform_message_id: i.platform_message_id,
                    error,
                    from_draft_id: i.draft_id.map(ID),
                    attempts: i.attempts.unwrap_or(0),
                    in_doubt: i.in_doubt.as_deref().map(InDoubtState::from_stored).transpose()?,
                    evidence: i.evidence.as_deref().map(SendEvidence::from_stored).transpose()?,
                    reaction: i.reaction,
                    attachments: files(owner, &i.reference, i.attachments)?,
                    position,
                    kind,
                    reference: i.reference,
                    text: i.text,
                    at,
                    actor: i.actor,
                })
            }
            ThreadItemKind::Draft => Self::Draft(Draft {
                id: global_id(NodeType::Draft, &format!("{conversation}/{}", i.reference)),
                draft_id: ID(i.reference.clone()),
                conversation_id: ID(conversation.to_owned()),
                state: DraftState::from_stored(i.state.as_deref().unwrap_or("proposed"))?,
                proposed_by: i.author.map(Into::into),
                position,
                kind,
                reference: i.reference,
                text: i.text,
                at,
                actor: i.actor,
            }),
            ThreadItemKind::DraftDeclined => {
                // The read models keep `<generator>: <reason as JSON>`.
                let (generator, reason) = match i.text.as_deref().and_then(|w| w.rsplit_once(": ")) {
                    Some((generator, reason)) => {
                        (Some(generator.to_owned()), DeclineReason::from_stored(reason.trim_matches('"')).ok())
                    }
                    None => (None, None),
                };
                Self::DraftDeclined(DraftDeclined {
                    reason,
                    generator,
                    position,
                    kind,
                    reference: i.reference,
                    text: i.text,
                    at,
                    actor: i.actor,
                })
            }
            ThreadItemKind::Refused => Self::SendRefusal(SendRefusal {
                from_draft_id: Some(i.reference.as_str()).filter(|r| !r.is_empty()).map(|r| ID(r.to_owned())),
                position,
                kind,
                reference: i.reference,
                text: i.text,
                at,
                actor: i.actor,
            }),
        })
    }
}

impl Conversation {
    /// The view of `partner`'s conversation.
    pub fn of(partner: PartnerId, v: rm::ConversationView) -> Result<Self, ApiError> {
        let id = v.summary.conversation_id.clone();
        let owner = id.parse().ok().map(|c| (partner, ConversationId(c)));
        let thread = serde_json::from_str::<ThreadRef>(&v.thread)
            .map_err(|_| ApiError::new(crate::error::Code::Internal, "the read models hold an unreadable thread"))?;
        let thread = Thread::from(&thread);
        let items =
            v.items.into_iter().map(|i| ThreadItem::of(owner, &id, &thread, i)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: global_id(NodeType::Conversation, &id),
            summary: v.summary.try_into()?,
            thread,
            items,
            in_doubt_policy: stored_policy(&v.in_doubt_policy)?,
        })
    }

    /// The draft `draft` of this conversation, if it has one.
    pub fn into_draft(self, draft: &str) -> Option<Draft> {
        self.items.into_iter().find_map(|i| match i {
            ThreadItem::Draft(d) if d.reference == draft => Some(d),
            _ => None,
        })
    }
}

fn stored_policy(word: &str) -> Result<InDoubtPolicy, ApiError> {
    match word {
        "resend_after_bound" => Ok(InDoubtPolicy::ResendAfterBound),
        "hold_for_person" => Ok(InDoubtPolicy::HoldForPerson),
        other => {
            tracing::error!(word = other, "the read models hold an unknown in-doubt policy");
            Err(ApiError::new(crate::error::Code::Internal, "the read models hold an unknown in-doubt policy"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_meta_errors_are_explained_and_others_keep_metas_words() {
        let closed = explain(Some(131047), Some("Re-engagement message"), DeliveryState::Failed);
        assert!(closed.contains("24 hours"), "{closed}");
        let other = explain(Some(999_999), Some("Odd"), DeliveryState::Failed);
        assert!(other.contains("999999") && other.contains("Odd"), "{other}");
        let refused = explain(None, Some("the contact has opted out"), DeliveryState::Refused);
        assert_eq!(refused, "Laras did not send it: the contact has opted out.");
    }
}
