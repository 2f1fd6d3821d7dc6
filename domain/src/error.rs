//! Why a command is refused. Policy refusals of sends are not errors: they are
//! recorded as `SendRefused` events (see `event::RefusalReason`).

use crate::channel::ChannelKind;
use crate::ids::*;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DomainError {
    #[error("bad input: {field} {reason}")]
    BadInput { field: &'static str, reason: String },
    #[error("the partner is not onboarded")]
    PartnerNotOnboarded,
    #[error("the partner is already onboarded")]
    PartnerAlreadyOnboarded,
    #[error("no {channel} channel is connected")]
    ChannelNotConnected { channel: ChannelKind },
    #[error("the conversation does not exist")]
    ConversationNotFound,
    #[error("the contact does not exist")]
    ContactNotFound,
    #[error("the contact was erased")]
    ContactErased,
    #[error("draft {0:?} does not exist on this conversation")]
    DraftNotFound(DraftId),
    #[error("draft {0:?} was already approved or rejected")]
    DraftAlreadyDecided(DraftId),
    #[error("draft {0:?} was already sent")]
    DraftAlreadySent(DraftId),
    #[error("send {0:?} does not exist on this conversation")]
    SendNotFound(SendId),
    #[error("send {0:?} already has its outcome")]
    SendAlreadySettled(SendId),
    /// Its latest attempt may have reached the customer; only its resolution may follow.
    #[error("send {send_id:?} is in doubt: attempt {attempt} may have gone out")]
    SendInDoubt { send_id: SendId, attempt: u32 },
    #[error("send {0:?} has no attempt in doubt")]
    SendNotInDoubt(SendId),
    #[error("send {0:?} is not held for a person")]
    SendNotHeld(SendId),
    #[error("the opportunity does not exist")]
    OpportunityNotFound,
    #[error("the opportunity already exists")]
    OpportunityAlreadyOpen,
    #[error("the opportunity is closed (won or lost); closed is final")]
    OpportunityClosed,
    #[error("stage {0:?} is not in the partner's pipeline")]
    UnknownStage(String),
    #[error("the opportunity is already in stage {0:?}")]
    AlreadyInStage(String),
    #[error("the article does not exist")]
    ArticleNotFound,
    #[error("the article is retired")]
    ArticleRetired,
    #[error("a contact cannot be merged with itself")]
    MergeWithSelf,
    #[error("the key is already active")]
    KeyAlreadyActive,
    #[error("a witness with this name or key is already registered")]
    WitnessAlreadyRegistered,
}

impl DomainError {
    pub fn bad_input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::BadInput { field, reason: reason.into() }
    }
}

/// Rejects empty, oversized or control-bearing free text (notes, article bodies, replies,
/// drafts). Line breaks and tabs are text; NUL and every other control character are not:
/// they corrupt terminals, logs and exports, and no person types them.
pub fn require_text(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    require_present(field, value, max_len)?;
    require_clean_text(field, value, max_len)
}

/// Rejects an empty, oversized or multi-line name, title, stage or label: one line with
/// no control characters and no bidirectional overrides (which make a name read as
/// another's).
pub fn require_line(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    require_present(field, value, max_len)?;
    require_clean_line(field, value, max_len)
}

/// Like [`require_text`], for text that may be empty (a rejection reason).
pub fn require_clean_text(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    require_short(field, value, max_len)?;
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(DomainError::bad_input(field, "must not contain NUL or control characters"));
    }
    Ok(())
}

/// Like [`require_line`], for a line that may be empty (a display name, a label).
pub fn require_clean_line(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    require_short(field, value, max_len)?;
    if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(DomainError::bad_input(field, "must be one line without control characters"));
    }
    Ok(())
}

fn require_present(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::bad_input(field, "must not be empty"));
    }
    require_short(field, value, max_len)
}

fn require_short(field: &'static str, value: &str, max_len: usize) -> Result<(), DomainError> {
    if value.len() > max_len {
        return Err(DomainError::bad_input(field, format!("must be at most {max_len} bytes")));
    }
    Ok(())
}

/// Unicode's explicit embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nul_and_control_characters_are_refused_in_text_but_line_breaks_are_not() {
        assert!(require_text("note", "first line\nsecond\tcolumn\r\n", 100).is_ok());
        for bad in ["a\0b", "bell\u{7}", "esc\u{1b}[31m", "del\u{7f}", "c1\u{85}"] {
            assert!(
                matches!(require_text("note", bad, 100), Err(DomainError::BadInput { field: "note", .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_line_refuses_breaks_and_bidirectional_overrides() {
        assert!(require_line("name", "Toko Batik Sari", 100).is_ok());
        for bad in ["two\nlines", "tab\there", "evil\u{202E}txt.exe", "iso\u{2066}late"] {
            assert!(require_line("name", bad, 100).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_and_oversized_text_is_refused_but_may_be_allowed_empty() {
        assert!(require_text("note", "  ", 10).is_err());
        assert!(require_text("note", "12345678901", 10).is_err());
        assert!(require_clean_text("reason", "", 10).is_ok());
        assert!(require_clean_line("label", "", 10).is_ok());
    }

    proptest! {
        #[test]
        fn any_control_character_anywhere_is_refused(
            before in "[a-zA-Z ]{0,20}",
            after in "[a-zA-Z ]{0,20}",
            c in prop::sample::select((0u32..0x20).chain(0x7f..0xa0).filter(|c| ![9, 10, 13].contains(c)).collect::<Vec<_>>()),
        ) {
            let c = char::from_u32(c).unwrap_or('\0');
            let value = format!("x{before}{c}{after}");
            prop_assert!(require_text("note", &value, 1000).is_err());
            prop_assert!(require_line("name", &value, 1000).is_err());
        }

        #[test]
        fn printable_text_within_the_limit_is_accepted(value in "\\PC{1,100}") {
            prop_assume!(!value.trim().is_empty());
            prop_assume!(!value.chars().any(is_bidi_control));
            prop_assert!(require_text("note", &value, 1000).is_ok());
            prop_assert!(require_line("name", &value, 1000).is_ok());
        }
    }
}
