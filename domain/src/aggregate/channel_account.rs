//! Receiving accounts and who holds them: one account belongs to at most one Partner.
//!
//! Each account has a claim stream (`StreamId::channel_account`) whose events are
//! appended in the same atomic append as the Partner's `ChannelConnected` /
//! `ChannelDisconnected`, against the claim stream's expected version, so two Partners
//! racing for one account cannot both win.

use super::partner::Partner;
use super::Aggregate;
use crate::event::DomainEvent;
use crate::ids::PartnerId;

/// The holder of one receiving account, folded from its claim stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountClaim {
    pub holder: Option<PartnerId>,
}

impl Aggregate for AccountClaim {
    fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::ChannelAccountClaimed { partner_id, .. } => self.holder = Some(*partner_id),
            DomainEvent::ChannelAccountReleased { partner_id, .. } if self.holder == Some(*partner_id) => {
                self.holder = None
            }
            _ => {}
        }
    }
}

/// Who holds an account, as far as the command side can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the account is free.
    #[default]
    Free,
    /// A claim recorded on the account's claim stream.
    Claimed(PartnerId),
    /// No claim was ever recorded, but a connection from before claims existed routes the
    /// account to this Partner; it counts as the holder until it lets go.
    Legacy(PartnerId),
}

impl Holder {
    /// The account's holder: its claim when one was ever recorded, else the legacy route.
    pub fn of(claim: Option<AccountClaim>, legacy_route: Option<PartnerId>) -> Self {
        match (claim, legacy_route) {
            (Some(AccountClaim { holder: Some(p) }), _) => Self::Claimed(p),
            (Some(AccountClaim { holder: None }), _) => Self::Free,
            (None, Some(p)) => Self::Legacy(p),
            (None, None) => Self::Free,
        }
    }

    pub fn partner(self) -> Option<PartnerId> {
        match self {
            Self::Free => None,
            Self::Claimed(p) | Self::Legacy(p) => Some(p),
        }
    }
}

/// What a channel decision reads: the Partner and the holders of the accounts it touches.
#[derive(Clone, Debug, Default)]
pub struct ChannelClaims {
    pub partner: Partner,
    /// The holder of the account the command names (connect) or the channel's account (disconnect).
    pub account: Holder,
    /// Connect only: the holder of the account the Partner had on this channel before, when
    /// it is another account (switching accounts releases it).
    pub previous: Holder,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelKind;
    use uuid::Uuid;

    const A: PartnerId = PartnerId(Uuid::from_u128(0xa));
    const B: PartnerId = PartnerId(Uuid::from_u128(0xb));

    fn claimed(p: PartnerId) -> DomainEvent {
        DomainEvent::ChannelAccountClaimed { channel: ChannelKind::WhatsApp, account_id: "1".into(), partner_id: p }
    }
    fn released(p: PartnerId) -> DomainEvent {
        DomainEvent::ChannelAccountReleased { channel: ChannelKind::WhatsApp, account_id: "1".into(), partner_id: p }
    }

    #[test]
    fn a_release_by_someone_other_than_the_holder_changes_nothing() {
        let claim = AccountClaim::from_events(&[claimed(A), released(B)]);
        assert_eq!(claim.holder, Some(A));
        let claim = AccountClaim::from_events(&[claimed(A), released(A), claimed(B)]);
        assert_eq!(claim.holder, Some(B));
    }

    #[test]
    fn a_recorded_claim_outranks_the_legacy_route() {
        let free = AccountClaim::from_events(&[claimed(A), released(A)]);
        assert_eq!(Holder::of(Some(free), Some(B)), Holder::Free);
        assert_eq!(Holder::of(Some(AccountClaim { holder: Some(A) }), Some(B)), Holder::Claimed(A));
        assert_eq!(Holder::of(None, Some(B)), Holder::Legacy(B));
        assert_eq!(Holder::of(None, None), Holder::Free);
    }
}
