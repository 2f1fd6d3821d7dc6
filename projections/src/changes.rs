//! What changed in the read models, for live subscribers (GraphQL subscriptions).

/// One change, always naming its Partner so subscribers filter by tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadModelChange {
    pub partner: String,
    pub conversation: String,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Something in the conversation's inbox row or messages changed.
    Inbox,
    /// A new draft waits for approval.
    DraftAwaitingApproval { draft: String },
}

impl ReadModelChange {
    pub fn inbox(partner: &str, conversation: &str) -> Self {
        Self { partner: partner.to_owned(), conversation: conversation.to_owned(), kind: ChangeKind::Inbox }
    }
    pub fn draft_awaiting(partner: &str, conversation: &str, draft: &str) -> Self {
        Self {
            partner: partner.to_owned(),
            conversation: conversation.to_owned(),
            kind: ChangeKind::DraftAwaitingApproval { draft: draft.to_owned() },
        }
    }
}
