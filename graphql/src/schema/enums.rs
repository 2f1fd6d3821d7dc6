//! The closed sets the read models store as text, as GraphQL enums. The read models keep
//! their snake_case words (rebuilding them is not needed for a rename in the API); each
//! enum here maps those words both ways, so a filter argument reaches the same rows.

use crate::error::{ApiError, Code};

/// A word the read models hold that the API does not know: a bug between the projection
/// and this module, so the caller gets INTERNAL and the log names the word.
pub(crate) fn unknown(set: &str, word: &str) -> ApiError {
    tracing::error!(set, word, "the read models hold a value the API does not know");
    ApiError::new(Code::Internal, format!("the read models hold an unknown {set}; see the server log"))
}

/// An enum of the API with the word the read models store for each value.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The word the read models store.
            #[allow(dead_code)]
            pub const fn as_stored(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }

            pub fn from_stored(word: &str) -> Result<Self, $crate::error::ApiError> {
                match word {
                    $($word => Ok(Self::$variant),)+
                    other => Err($crate::schema::enums::unknown(stringify!($name), other)),
                }
            }
        }
    };
}

stored_enum! {
    /// Where a conversation stands in the inbox.
    ConversationStatus {
        /// Waiting for an answer from the Partner.
        Open = "open",
        /// Open, and a draft of the AI worker waits for a person's approval (derived: not
        /// settable with `setConversationStatus`).
        AwaitingApproval = "awaiting_approval",
        /// Waiting for the customer or for something outside the conversation.
        Pending = "pending",
        /// Out of the way until `snoozedUntil`.
        Snoozed = "snoozed",
        /// Done; a new customer message opens it again.
        Resolved = "resolved",
    }
}

stored_enum! {
    /// Who wrote a message.
    Direction {
        /// The customer.
        In = "in",
        /// The Partner (a person, the AI worker, or the Page outside Laras).
        Out = "out",
    }
}

stored_enum! {
    /// What an entry of a contact's timeline records.
    TimelineKind {
        /// The contact was first seen on a channel.
        Identified = "identified",
        /// A message from the contact.
        MessageIn = "message_in",
        /// A message to the contact (a reply, or an echo of one sent outside Laras).
        MessageOut = "message_out",
        /// A public comment of the contact on one of the Partner's posts.
        Comment = "comment",
        /// A note a person added.
        Note = "note",
        /// A message's sentiment score (`summary` holds it, -1 … 1).
        Sentiment = "sentiment",
        /// The contact opted out (`summary` says of what, on which channel, and the signal).
        OptedOut = "opted_out",
        /// The contact opted back in.
        OptedIn = "opted_in",
        OpportunityOpened = "opportunity_opened",
        /// An opportunity moved to another stage.
        OpportunityStage = "opportunity_stage",
        /// An opportunity's value changed.
        OpportunityValue = "opportunity_value",
        OpportunityWon = "opportunity_won",
        OpportunityLost = "opportunity_lost",
        /// Another contact was merged into this one.
        Merged = "merged",
        /// The contact was erased.
        Erased = "erased",
        /// The contact reacted to a message (`summary` holds the emoji, or "removed").
        Reaction = "reaction",
        /// The ad or link the customer came from.
        Referral = "referral",
        /// The platform said the contact's identifier changed (WhatsApp "user changed number").
        IdentityChanged = "identity_changed",
        /// The conversation's thread passed to or from another app (Messenger handover).
        ThreadControl = "thread_control",
    }
}

stored_enum! {
    /// How an opportunity ended, if it did.
    OpportunityOutcome {
        /// Still in the pipeline.
        Open = "open",
        /// Won: final.
        Won = "won",
        /// Lost: final.
        Lost = "lost",
    }
}

stored_enum! {
    /// The RFM segment of a contact (recency, and frequency with monetary value).
    RfmSegment {
        Champions = "Champions",
        Loyal = "Loyal",
        PotentialLoyalist = "Potential Loyalist",
        New = "New",
        Promising = "Promising",
        NeedAttention = "Need Attention",
        AboutToSleep = "About to Sleep",
        AtRisk = "At Risk",
        CantLose = "Can't Lose",
        Hibernating = "Hibernating",
        Lost = "Lost",
    }
}

stored_enum! {
    /// What a search hit is.
    SearchHitKind {
        /// A customer's message.
        Inbound = "inbound",
        /// A customer's public comment.
        Comment = "comment",
        /// A message the Page sent outside Laras.
        Echo = "echo",
        /// A reply sent through Laras.
        Reply = "reply",
        /// A note on the contact.
        Note = "note",
    }
}

stored_enum! {
    /// What a file is.
    AttachmentKind {
        Image = "image",
        Audio = "audio",
        Video = "video",
        Document = "document",
        Sticker = "sticker",
    }
}

stored_enum! {
    /// How far the media fetcher got with a file.
    AttachmentState {
        /// Not fetched yet.
        Pending = "pending",
        /// Kept (sealed); `url` reads it.
        Stored = "stored",
        /// Could not be kept; `reason` says why.
        Unavailable = "unavailable",
        /// Destroyed with the contact's data.
        Erased = "erased",
    }
}

stored_enum! {
    /// Why a file could not be kept.
    AttachmentUnavailable {
        /// The platform's link expired before it was fetched.
        Expired = "expired",
        /// Larger than the channel's limit for its kind.
        TooLarge = "too_large",
        /// The platform refused to hand it out.
        Forbidden = "forbidden",
        /// The platform no longer has it.
        NotFound = "not_found",
        /// The bytes did not match the hash the platform gave.
        HashMismatch = "hash_mismatch",
        /// The bytes were not of the type declared.
        TypeMismatch = "type_mismatch",
        /// Fewer bytes arrived than announced.
        Truncated = "truncated",
        /// The platform could not be reached.
        Unreachable = "unreachable",
        /// The contact was erased before it was fetched.
        ContactErased = "contact_erased",
        /// The message named no file to fetch.
        NoReference = "no_reference",
    }
}

stored_enum! {
    /// What a contact opted out of.
    OptOutScope {
        /// Every message.
        All = "all",
        /// Marketing only; service replies still go out.
        Marketing = "marketing",
    }
}

/// The state of a connected channel.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ChannelStatus {
    /// Replies go out.
    Connected,
    /// Nothing goes out; its token is forgotten.
    Disconnected,
    /// The platform refused the token: connect it again with a fresh one.
    NeedsReauthorisation,
}

impl From<laras_domain::aggregate::partner::ChannelStatus> for ChannelStatus {
    fn from(s: laras_domain::aggregate::partner::ChannelStatus) -> Self {
        use laras_domain::aggregate::partner::ChannelStatus as S;
        match s {
            S::Connected => Self::Connected,
            S::Disconnected => Self::Disconnected,
            S::NeedsReauthorisation => Self::NeedsReauthorisation,
        }
    }
}

/// Why a reply would not go out (`replyCheck`).
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReplyRefusal {
    /// The contact opted out.
    OptedOut,
    /// The contact was erased.
    ContactErased,
    /// The customer never wrote: there is nothing to answer.
    NoCustomerMessage,
    /// WhatsApp's 24-hour window is closed: only an approved template may go out.
    TemplateRequired,
    /// The customer-service window is closed, and automated replies are not allowed outside it.
    AutomatedOutsideWindow,
    /// The human-agent window (Messenger and Instagram) is closed too.
    HumanAgentWindowClosed,
    /// The customer-service window is closed.
    WindowClosed,
    /// Instagram allows one private reply to a comment, and it was sent.
    CommentAlreadyAnswered,
    /// A comment can be answered privately for 7 days, and they are over.
    CommentReplyWindowExpired,
    /// The comment named is not in this conversation.
    UnknownComment,
    /// The Partner requires approval and the text is not an approved draft.
    ApprovalRequired,
    /// The channel is disconnected.
    ChannelDisconnected,
    /// The channel's token was refused: re-authorise it.
    ChannelNeedsReauthorisation,
    /// The text is empty or too long.
    InvalidText,
}

impl From<&laras_domain::event::RefusalReason> for ReplyRefusal {
    fn from(reason: &laras_domain::event::RefusalReason) -> Self {
        use laras_domain::event::RefusalReason as R;
        match reason {
            R::OptedOut => Self::OptedOut,
            R::ContactErased => Self::ContactErased,
            R::NoCustomerMessage => Self::NoCustomerMessage,
            R::TemplateRequired { .. } => Self::TemplateRequired,
            R::AutomatedOutsideWindow { .. } => Self::AutomatedOutsideWindow,
            R::HumanAgentWindowClosed { .. } => Self::HumanAgentWindowClosed,
            R::WindowClosed { .. } => Self::WindowClosed,
            R::CommentAlreadyAnswered => Self::CommentAlreadyAnswered,
            R::CommentReplyWindowExpired { .. } => Self::CommentReplyWindowExpired,
            R::UnknownComment => Self::UnknownComment,
            R::ApprovalRequired => Self::ApprovalRequired,
            R::ChannelDisconnected => Self::ChannelDisconnected,
            R::ChannelNeedsReauthorisation => Self::ChannelNeedsReauthorisation,
        }
    }
}

/// Who acted, in the audit trail.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ActorKind {
    /// The contact (`actorId` is the contact id).
    Customer,
    /// The AI worker (`actorId` names its generator).
    AiWorker,
    /// A person of the Partner (`actorId` is their user id).
    PartnerUser,
    /// A component of Laras (`actorId` names it).
    System,
}

impl From<&laras_domain::actor::Actor> for ActorKind {
    fn from(actor: &laras_domain::actor::Actor) -> Self {
        use laras_domain::actor::Actor;
        match actor {
            Actor::Customer { .. } => Self::Customer,
            Actor::AiWorker { .. } => Self::AiWorker,
            Actor::PartnerUser { .. } => Self::PartnerUser,
            Actor::System { .. } => Self::System,
        }
    }
}

/// A channel as the read models store it ("whatsapp", …).
pub fn stored_channel(word: &str) -> Result<super::types::Channel, ApiError> {
    word.parse::<laras_domain::channel::ChannelKind>().map(Into::into).map_err(|_| unknown("Channel", word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_round_trip_and_unknown_ones_are_internal() {
        for s in [ConversationStatus::Open, ConversationStatus::AwaitingApproval, ConversationStatus::Resolved] {
            assert_eq!(ConversationStatus::from_stored(s.as_stored()).ok(), Some(s));
        }
        assert_eq!(RfmSegment::from_stored("Can't Lose").ok(), Some(RfmSegment::CantLose));
        assert!(matches!(TimelineKind::from_stored("nope"), Err(e) if e.code == Code::Internal));
        assert!(stored_channel("threads").is_ok() && stored_channel("telegram").is_err());
    }

    #[test]
    fn every_rfm_segment_of_the_read_models_is_a_value() {
        for name in laras_projections::segments::SEGMENTS {
            assert!(RfmSegment::from_stored(name).is_ok(), "{name}");
        }
    }
}
