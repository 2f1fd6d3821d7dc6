//! Meta's messaging windows, as one pure function.
//!
//! - Free-form replies: only within 24 h of the customer's last inbound message
//!   (the business's own messages never extend it).
//! - Outside it: WhatsApp needs an approved template; Messenger and Instagram allow a
//!   person's reply with the `HUMAN_AGENT` tag up to 7 days; automated replies never.
//!   Threads has no tag, so it has no exception.
//! - An Instagram comment gets one private reply, within 7 days of the comment.

use crate::channel::ChannelKind;
use crate::event::{MessagingMode, RefusalReason};
use crate::time::{Span, Timestamp};

pub const SERVICE_WINDOW: Span = Span::hours(24);
pub const HUMAN_AGENT_WINDOW: Span = Span::days(7);
pub const PRIVATE_REPLY_WINDOW: Span = Span::days(7);

/// Who is behind a send: the tag exception is for people only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sender {
    Automated,
    Person,
}

/// What the conversation knows about its window.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WindowFacts {
    pub last_inbound_at: Option<Timestamp>,
    /// The platform said the window closed (WhatsApp 131047) at this time.
    pub closed_by_platform_at: Option<Timestamp>,
}

impl WindowFacts {
    /// When the free-form window closes (or closed); None when the customer never wrote.
    pub fn service_window_closes_at(&self) -> Option<Timestamp> {
        let natural = self.last_inbound_at?.plus(SERVICE_WINDOW);
        match self.closed_by_platform_at {
            // The platform's word counts only if no inbound message came after it.
            Some(closed) if closed >= self.last_inbound_at? => Some(closed.min(natural)),
            _ => Some(natural),
        }
    }
}

/// Decides how a direct-message reply may go out now, or why it may not.
pub fn direct_reply_mode(
    channel: ChannelKind,
    facts: WindowFacts,
    now: Timestamp,
    sender: Sender,
    has_template: bool,
) -> Result<MessagingMode, RefusalReason> {
    let Some(last_inbound) = facts.last_inbound_at else {
        return if channel == ChannelKind::WhatsApp && has_template {
            Ok(MessagingMode::Template)
        } else {
            Err(RefusalReason::NoCustomerMessage)
        };
    };
    let closes_at = facts.service_window_closes_at().unwrap_or(last_inbound);
    if now < closes_at {
        return Ok(MessagingMode::Response);
    }
    match (channel, sender) {
        (ChannelKind::WhatsApp, _) if has_template => Ok(MessagingMode::Template),
        (ChannelKind::WhatsApp, _) => Err(RefusalReason::TemplateRequired { closed_at: closes_at }),
        (_, Sender::Automated) => Err(RefusalReason::AutomatedOutsideWindow { closed_at: closes_at }),
        (ChannelKind::Messenger | ChannelKind::Instagram, Sender::Person) => {
            let tag_closes_at = last_inbound.plus(HUMAN_AGENT_WINDOW);
            if now < tag_closes_at {
                Ok(MessagingMode::HumanAgentTag)
            } else {
                Err(RefusalReason::HumanAgentWindowClosed { closed_at: tag_closes_at })
            }
        }
        (ChannelKind::Threads, Sender::Person) => Err(RefusalReason::WindowClosed { closed_at: closes_at }),
    }
}

/// Decides whether a comment may get its one private reply now.
pub fn private_reply_allowed(
    comment_at: Timestamp,
    already_answered: bool,
    now: Timestamp,
) -> Result<(), RefusalReason> {
    if already_answered {
        return Err(RefusalReason::CommentAlreadyAnswered);
    }
    let closes_at = comment_at.plus(PRIVATE_REPLY_WINDOW);
    if now >= closes_at {
        return Err(RefusalReason::CommentReplyWindowExpired { closed_at: closes_at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ChannelKind::*;

    const T0: Timestamp = Timestamp(1_767_225_600_000);

    fn facts(last: Timestamp) -> WindowFacts {
        WindowFacts { last_inbound_at: Some(last), closed_by_platform_at: None }
    }

    #[test]
    fn inside_the_window_every_channel_replies_free_form() {
        for channel in ChannelKind::ALL {
            for sender in [Sender::Automated, Sender::Person] {
                let mode = direct_reply_mode(channel, facts(T0), T0.plus(Span::hours(23)), sender, false);
                assert_eq!(mode, Ok(MessagingMode::Response), "{channel} {sender:?}");
            }
        }
    }

    #[test]
    fn the_window_closes_exactly_24_hours_after_the_last_inbound_message() {
        let at_close = T0.plus(SERVICE_WINDOW);
        assert_eq!(
            direct_reply_mode(WhatsApp, facts(T0), at_close, Sender::Person, false),
            Err(RefusalReason::TemplateRequired { closed_at: at_close })
        );
        assert_eq!(
            direct_reply_mode(WhatsApp, facts(T0), at_close.plus(Span::millis(-1)), Sender::Person, false),
            Ok(MessagingMode::Response)
        );
    }

    #[test]
    fn outside_the_window_whatsapp_needs_a_template() {
        let now = T0.plus(Span::hours(30));
        assert_eq!(direct_reply_mode(WhatsApp, facts(T0), now, Sender::Automated, true), Ok(MessagingMode::Template));
    }

    #[test]
    fn outside_the_window_a_person_may_use_the_human_agent_tag_for_7_days() {
        for channel in [Messenger, Instagram] {
            let day3 = T0.plus(Span::days(3));
            assert_eq!(
                direct_reply_mode(channel, facts(T0), day3, Sender::Person, false),
                Ok(MessagingMode::HumanAgentTag)
            );
            let day7 = T0.plus(HUMAN_AGENT_WINDOW);
            assert_eq!(
                direct_reply_mode(channel, facts(T0), day7, Sender::Person, false),
                Err(RefusalReason::HumanAgentWindowClosed { closed_at: day7 })
            );
        }
    }

    #[test]
    fn outside_the_window_automated_replies_are_never_allowed() {
        for channel in [Messenger, Instagram, Threads] {
            let now = T0.plus(Span::hours(25));
            assert!(matches!(
                direct_reply_mode(channel, facts(T0), now, Sender::Automated, true),
                Err(RefusalReason::AutomatedOutsideWindow { .. })
            ));
        }
    }

    #[test]
    fn the_platforms_closed_signal_shortens_the_window_until_the_customer_writes_again() {
        let closed = T0.plus(Span::hours(2));
        let f = WindowFacts { last_inbound_at: Some(T0), closed_by_platform_at: Some(closed) };
        assert!(direct_reply_mode(WhatsApp, f, T0.plus(Span::hours(3)), Sender::Person, false).is_err());
        let f = WindowFacts { last_inbound_at: Some(T0.plus(Span::hours(4))), closed_by_platform_at: Some(closed) };
        assert_eq!(
            direct_reply_mode(WhatsApp, f, T0.plus(Span::hours(5)), Sender::Person, false),
            Ok(MessagingMode::Response)
        );
    }

    #[test]
    fn a_comment_gets_one_private_reply_within_7_days() {
        assert_eq!(private_reply_allowed(T0, false, T0.plus(Span::days(6))), Ok(()));
        assert_eq!(private_reply_allowed(T0, true, T0), Err(RefusalReason::CommentAlreadyAnswered));
        assert!(matches!(
            private_reply_allowed(T0, false, T0.plus(Span::days(7))),
            Err(RefusalReason::CommentReplyWindowExpired { .. })
        ));
    }

    proptest! {
        #[test]
        fn free_form_is_allowed_iff_within_24h(offset_ms in 0i64..(10 * 86_400_000), ch in 0usize..4, person in any::<bool>()) {
            let channel = ChannelKind::ALL[ch];
            let sender = if person { Sender::Person } else { Sender::Automated };
            let mode = direct_reply_mode(channel, facts(T0), T0.plus(Span::millis(offset_ms)), sender, false);
            prop_assert_eq!(mode == Ok(MessagingMode::Response), offset_ms < SERVICE_WINDOW.0);
            // Automated senders never get anything but a free-form reply without a template.
            if !person { prop_assert!(mode.is_err() || mode == Ok(MessagingMode::Response)); }
        }
    }
}
