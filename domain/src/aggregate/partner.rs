//! The Partner: its settings, pipeline and connected channels.

use super::channel_account::{ChannelClaims, Holder};
use super::{Aggregate, Decide};
use crate::channel::ChannelKind;
use crate::error::{require_clean_line, require_line, require_text, DomainError};
use crate::event::{AccountProof, ApprovalMode, ConnectRefusal, DomainEvent, InDoubtPolicy, PipelineStage};
use crate::ids::PartnerId;
use crate::time::Timestamp;
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChannelStatus {
    Connected,
    Disconnected,
    NeedsReauthorisation,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChannelState {
    pub account_id: String,
    pub status: ChannelStatus,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Partner {
    pub id: Option<PartnerId>,
    pub name: String,
    pub default_mode: ApprovalMode,
    pub channel_modes: BTreeMap<ChannelKind, ApprovalMode>,
    pub pipeline: Vec<PipelineStage>,
    pub channels: BTreeMap<ChannelKind, ChannelState>,
    pub follow_up_delay_hours: Option<u32>,
    pub follow_up_template: Option<(String, String)>,
    /// Chosen in-doubt policies; a channel without one uses [`InDoubtPolicy::default_for`].
    pub in_doubt_policies: BTreeMap<ChannelKind, InDoubtPolicy>,
    /// Witnesses whose cosignatures of the Partner's tree heads are accepted, in the order named.
    pub witnesses: Vec<crate::cosignature::WitnessKey>,
}

impl Partner {
    pub fn is_onboarded(&self) -> bool {
        self.id.is_some()
    }
    pub fn approval_mode(&self, channel: ChannelKind) -> ApprovalMode {
        self.channel_modes.get(&channel).copied().unwrap_or(self.default_mode)
    }
    /// What the outbox does with a send left in doubt on `channel`.
    pub fn in_doubt_policy(&self, channel: ChannelKind) -> InDoubtPolicy {
        self.in_doubt_policies.get(&channel).copied().unwrap_or(InDoubtPolicy::default_for(channel))
    }
    pub fn channel_status(&self, channel: ChannelKind) -> Option<ChannelStatus> {
        self.channels.get(&channel).map(|c| c.status)
    }
    pub fn stage(&self, name: &str) -> Option<&PipelineStage> {
        self.pipeline.iter().find(|s| s.name == name)
    }
}

impl Aggregate for Partner {
    fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::PartnerOnboarded { partner_id, name, approval, pipeline } => {
                self.id = Some(*partner_id);
                self.name = name.clone();
                self.default_mode = *approval;
                self.pipeline = pipeline.clone();
            }
            DomainEvent::ApprovalModeSet { channel: None, mode } => self.default_mode = *mode,
            DomainEvent::ApprovalModeSet { channel: Some(c), mode } => {
                self.channel_modes.insert(*c, *mode);
            }
            DomainEvent::InDoubtPolicySet { channel, policy } => {
                self.in_doubt_policies.insert(*channel, *policy);
            }
            DomainEvent::FollowUpPolicySet { delay_hours, whatsapp_template, template_language } => {
                self.follow_up_delay_hours = Some(*delay_hours);
                self.follow_up_template = whatsapp_template.clone().zip(template_language.clone());
            }
            DomainEvent::ChannelConnected { channel, account_id, .. } => {
                self.channels.insert(
                    *channel,
                    ChannelState { account_id: account_id.clone(), status: ChannelStatus::Connected },
                );
            }
            DomainEvent::ChannelDisconnected { channel, .. } => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.status = ChannelStatus::Disconnected;
                }
            }
            DomainEvent::ChannelNeedsReauthorisation { channel, .. } => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.status = ChannelStatus::NeedsReauthorisation;
                }
            }
            DomainEvent::WitnessRegistered { name, public_key } => {
                // Decided by `RegisterWitness`, so it parses; an unreadable one names no witness.
                if let Ok(witness) = crate::cosignature::WitnessKey::from_hex(name, public_key) {
                    self.witnesses.push(witness);
                }
            }
            _ => {}
        }
    }
}

/// The default pipeline a Partner starts with.
pub fn default_pipeline() -> Vec<PipelineStage> {
    [("lead", 10), ("qualified", 30), ("proposal", 60), ("negotiation", 80)]
        .into_iter()
        .map(|(name, probability_pct)| PipelineStage { name: name.to_owned(), probability_pct })
        .collect()
}

pub struct OnboardPartner {
    pub partner_id: PartnerId,
    pub name: String,
    pub approval: ApprovalMode,
    pub pipeline: Vec<PipelineStage>,
}

impl Decide for OnboardPartner {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if state.is_onboarded() {
            return Err(DomainError::PartnerAlreadyOnboarded);
        }
        require_line("name", &self.name, 200)?;
        if self.pipeline.is_empty() {
            return Err(DomainError::bad_input("pipeline", "needs at least one stage"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for stage in &self.pipeline {
            require_line("pipeline stage", &stage.name, 80)?;
            if stage.probability_pct > 100 {
                return Err(DomainError::bad_input("probability_pct", "must be 0..=100"));
            }
            if !seen.insert(stage.name.as_str()) || matches!(stage.name.as_str(), "won" | "lost") {
                return Err(DomainError::bad_input(
                    "pipeline",
                    format!("stage {:?} is repeated or reserved", stage.name),
                ));
            }
        }
        Ok(vec![DomainEvent::PartnerOnboarded {
            partner_id: self.partner_id,
            name: self.name.trim().to_owned(),
            approval: self.approval,
            pipeline: self.pipeline.clone(),
        }])
    }
}

pub struct ConnectChannel {
    pub channel: ChannelKind,
    pub account_id: String,
    pub display_name: String,
    /// What the platform answered with the Partner's token; None only for operator-seeded
    /// channels (the demo, the bench), which record no proof.
    pub proof: Option<AccountProof>,
}

impl Decide for ConnectChannel {
    type State = ChannelClaims;
    /// Events for the Partner's stream and for the claim streams of the accounts involved;
    /// the handler routes each to its stream by its type and account.
    fn decide(&self, state: &ChannelClaims, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let partner = &state.partner;
        require_onboarded(partner)?;
        let me = partner.id.ok_or(DomainError::PartnerNotOnboarded)?;
        require_text("account_id", &self.account_id, 100)?;
        require_clean_line("display_name", &self.display_name, 200)?;
        if !self.account_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(DomainError::bad_input("account_id", "must be a Meta account id"));
        }
        if self.proof.as_ref().is_some_and(|p| p.account_id != self.account_id) {
            return Err(DomainError::bad_input("account_id", "the platform answered for another account"));
        }
        if state.account.partner().is_some_and(|holder| holder != me) {
            return Ok(vec![DomainEvent::ChannelConnectRefused {
                channel: self.channel,
                account_id: self.account_id.clone(),
                reason: ConnectRefusal::AccountHeldElsewhere,
            }]);
        }
        let current = partner.channels.get(&self.channel);
        let same = current.is_some_and(|c| c.account_id == self.account_id && c.status == ChannelStatus::Connected);
        let mut events = Vec::new();
        // A fresh proof (a new token) is worth recording even on an unchanged connection.
        if !same || self.proof.is_some() {
            events.push(DomainEvent::ChannelConnected {
                channel: self.channel,
                account_id: self.account_id.clone(),
                display_name: self.display_name.trim().chars().take(200).collect(),
                proof: self.proof.clone(),
            });
        }
        if state.account != Holder::Claimed(me) {
            events.push(DomainEvent::ChannelAccountClaimed {
                channel: self.channel,
                account_id: self.account_id.clone(),
                partner_id: me,
            });
        }
        if let Some(previous) = current.filter(|c| c.account_id != self.account_id) {
            if state.previous == Holder::Claimed(me) {
                events.push(DomainEvent::ChannelAccountReleased {
                    channel: self.channel,
                    account_id: previous.account_id.clone(),
                    partner_id: me,
                });
            }
        }
        Ok(events)
    }
}

pub struct DisconnectChannel {
    pub channel: ChannelKind,
}

impl Decide for DisconnectChannel {
    type State = ChannelClaims;
    /// `state.account` is the holder of the channel's current account.
    fn decide(&self, state: &ChannelClaims, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let partner = &state.partner;
        require_onboarded(partner)?;
        match partner.channels.get(&self.channel) {
            None => Err(DomainError::ChannelNotConnected { channel: self.channel }),
            Some(c) if c.status == ChannelStatus::Disconnected => Ok(vec![]),
            Some(c) => {
                let mut events =
                    vec![DomainEvent::ChannelDisconnected { channel: self.channel, account_id: c.account_id.clone() }];
                if let (Some(me), Holder::Claimed(holder)) = (partner.id, state.account) {
                    if holder == me {
                        events.push(DomainEvent::ChannelAccountReleased {
                            channel: self.channel,
                            account_id: c.account_id.clone(),
                            partner_id: me,
                        });
                    }
                }
                Ok(events)
            }
        }
    }
}

/// The platform rejected the channel's token (Graph API error 190).
pub struct MarkChannelNeedsReauthorisation {
    pub channel: ChannelKind,
    pub error_code: i64,
}

impl Decide for MarkChannelNeedsReauthorisation {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        match state.channels.get(&self.channel) {
            Some(c) if c.status == ChannelStatus::Connected => Ok(vec![DomainEvent::ChannelNeedsReauthorisation {
                channel: self.channel,
                account_id: c.account_id.clone(),
                error_code: self.error_code,
            }]),
            Some(_) => Ok(vec![]),
            None => Err(DomainError::ChannelNotConnected { channel: self.channel }),
        }
    }
}

pub struct SetApprovalMode {
    pub channel: Option<ChannelKind>,
    pub mode: ApprovalMode,
}

impl Decide for SetApprovalMode {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_onboarded(state)?;
        let current = match self.channel {
            Some(c) => state.channel_modes.get(&c).copied(),
            None => Some(state.default_mode),
        };
        if current == Some(self.mode) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ApprovalModeSet { channel: self.channel, mode: self.mode }])
    }
}

/// Chooses what happens to this channel's sends left in doubt (ADR 010).
pub struct SetInDoubtPolicy {
    pub channel: ChannelKind,
    pub policy: InDoubtPolicy,
}

impl Decide for SetInDoubtPolicy {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_onboarded(state)?;
        if state.in_doubt_policies.get(&self.channel) == Some(&self.policy) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::InDoubtPolicySet { channel: self.channel, policy: self.policy }])
    }
}

pub struct SetFollowUpPolicy {
    pub delay_hours: u32,
    pub whatsapp_template: Option<(String, String)>,
}

impl Decide for SetFollowUpPolicy {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_onboarded(state)?;
        if self.delay_hours == 0 || self.delay_hours > 24 * 90 {
            return Err(DomainError::bad_input("delay_hours", "must be between 1 and 2160"));
        }
        if let Some((name, language)) = &self.whatsapp_template {
            require_line("whatsapp_template", name, 512)?;
            require_line("template_language", language, 16)?;
        }
        let (name, language) = self.whatsapp_template.clone().unzip();
        Ok(vec![DomainEvent::FollowUpPolicySet {
            delay_hours: self.delay_hours,
            whatsapp_template: name,
            template_language: language,
        }])
    }
}

pub(crate) fn require_onboarded(state: &Partner) -> Result<(), DomainError> {
    if state.is_onboarded() {
        Ok(())
    } else {
        Err(DomainError::PartnerNotOnboarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, given_state};
    use uuid::Uuid;

    fn onboarded() -> Vec<DomainEvent> {
        vec![DomainEvent::PartnerOnboarded {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "Toko Laras".into(),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        }]
    }

    #[test]
    fn onboarding_twice_is_refused() {
        let cmd = OnboardPartner {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "x".into(),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        };
        given::<Partner>(onboarded()).when(&cmd).then_err(DomainError::PartnerAlreadyOnboarded);
    }

    #[test]
    fn onboarding_with_a_repeated_or_reserved_stage_is_refused() {
        let mut pipeline = default_pipeline();
        pipeline.push(PipelineStage { name: "won".into(), probability_pct: 100 });
        let cmd = OnboardPartner {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "x".into(),
            approval: ApprovalMode::Approval,
            pipeline,
        };
        assert!(matches!(given::<Partner>(vec![]).when(&cmd).result(), Err(DomainError::BadInput { .. })));
    }

    const ME: PartnerId = PartnerId(Uuid::from_u128(1));
    const OTHER: PartnerId = PartnerId(Uuid::from_u128(2));

    fn connect(account: &str, proof: Option<AccountProof>) -> ConnectChannel {
        ConnectChannel {
            channel: ChannelKind::WhatsApp,
            account_id: account.into(),
            display_name: "Toko".into(),
            proof,
        }
    }

    fn proof(account: &str) -> Option<AccountProof> {
        Some(AccountProof {
            account_id: account.into(),
            name: Some("Toko".into()),
            phone_number: Some("+62 811".into()),
        })
    }

    fn claims(history: Vec<DomainEvent>, account: Holder, previous: Holder) -> ChannelClaims {
        ChannelClaims { partner: Partner::from_events(&history), account, previous }
    }

    fn connected(account: &str, proof: Option<AccountProof>) -> DomainEvent {
        DomainEvent::ChannelConnected {
            channel: ChannelKind::WhatsApp,
            account_id: account.into(),
            display_name: "Toko".into(),
            proof,
        }
    }

    fn claimed(account: &str) -> DomainEvent {
        DomainEvent::ChannelAccountClaimed {
            channel: ChannelKind::WhatsApp,
            account_id: account.into(),
            partner_id: ME,
        }
    }

    fn released(account: &str) -> DomainEvent {
        DomainEvent::ChannelAccountReleased {
            channel: ChannelKind::WhatsApp,
            account_id: account.into(),
            partner_id: ME,
        }
    }

    fn with(mut history: Vec<DomainEvent>, more: DomainEvent) -> Vec<DomainEvent> {
        history.push(more);
        history
    }

    #[test]
    fn connecting_a_channel_before_onboarding_is_refused() {
        given_state(claims(vec![], Holder::Free, Holder::Free))
            .when(&connect("1065", proof("1065")))
            .then_err(DomainError::PartnerNotOnboarded);
    }

    #[test]
    fn connecting_a_free_account_records_the_proof_and_claims_the_account() {
        given_state(claims(onboarded(), Holder::Free, Holder::Free))
            .when(&connect("1065", proof("1065")))
            .then(vec![connected("1065", proof("1065")), claimed("1065")]);
    }

    #[test]
    fn connecting_an_account_another_partner_holds_records_only_a_refusal() {
        let refusal = DomainEvent::ChannelConnectRefused {
            channel: ChannelKind::WhatsApp,
            account_id: "1065".into(),
            reason: ConnectRefusal::AccountHeldElsewhere,
        };
        given_state(claims(onboarded(), Holder::Claimed(OTHER), Holder::Free))
            .when(&connect("1065", proof("1065")))
            .then(vec![refusal.clone()]);
        // A connection from before claims existed holds the account just the same.
        given_state(claims(onboarded(), Holder::Legacy(OTHER), Holder::Free))
            .when(&connect("1065", proof("1065")))
            .then(vec![refusal]);
    }

    #[test]
    fn reconnecting_ones_own_account_with_a_new_token_records_the_fresh_proof_and_keeps_the_claim() {
        let history = with(onboarded(), connected("1065", proof("1065")));
        let fresh =
            Some(AccountProof { account_id: "1065".into(), name: Some("Toko Baru".into()), phone_number: None });
        given_state(claims(history, Holder::Claimed(ME), Holder::Free))
            .when(&connect("1065", fresh.clone()))
            .then(vec![connected("1065", fresh)]);
    }

    #[test]
    fn connecting_the_same_account_twice_without_a_proof_records_it_once() {
        let history = with(onboarded(), connected("1065", None));
        given_state(claims(history, Holder::Claimed(ME), Holder::Free)).when(&connect("1065", None)).then(vec![]);
    }

    #[test]
    fn reconnecting_an_account_held_from_before_claims_records_its_claim() {
        let history = with(onboarded(), connected("1065", None));
        given_state(claims(history, Holder::Legacy(ME), Holder::Free))
            .when(&connect("1065", proof("1065")))
            .then(vec![connected("1065", proof("1065")), claimed("1065")]);
    }

    #[test]
    fn connecting_another_account_on_the_channel_releases_the_old_claim() {
        let history = with(onboarded(), connected("1065", proof("1065")));
        given_state(claims(history.clone(), Holder::Free, Holder::Claimed(ME)))
            .when(&connect("2077", proof("2077")))
            .then(vec![connected("2077", proof("2077")), claimed("2077"), released("1065")]);
        // An old account connected before claims existed has no claim to release.
        given_state(claims(history, Holder::Free, Holder::Legacy(ME)))
            .when(&connect("2077", proof("2077")))
            .then(vec![connected("2077", proof("2077")), claimed("2077")]);
    }

    #[test]
    fn disconnecting_releases_the_claim() {
        let history = with(onboarded(), connected("1065", proof("1065")));
        let disconnected =
            DomainEvent::ChannelDisconnected { channel: ChannelKind::WhatsApp, account_id: "1065".into() };
        let cmd = DisconnectChannel { channel: ChannelKind::WhatsApp };
        given_state(claims(history.clone(), Holder::Claimed(ME), Holder::Free))
            .when(&cmd)
            .then(vec![disconnected.clone(), released("1065")]);
        given_state(claims(history.clone(), Holder::Legacy(ME), Holder::Free))
            .when(&cmd)
            .then(vec![disconnected.clone()]);
        let history = with(history, disconnected);
        given_state(claims(history, Holder::Free, Holder::Free)).when(&cmd).then(vec![]);
    }

    #[test]
    fn a_proof_for_another_account_is_bad_input() {
        let result =
            given_state(claims(onboarded(), Holder::Free, Holder::Free)).when(&connect("1065", proof("9"))).result();
        assert!(matches!(result, Err(DomainError::BadInput { .. })));
    }

    #[test]
    fn an_account_id_that_is_not_an_id_is_bad_input() {
        let result =
            given_state(claims(onboarded(), Holder::Free, Holder::Free)).when(&connect("10 65; drop", None)).result();
        assert!(matches!(result, Err(DomainError::BadInput { .. })));
    }

    #[test]
    fn an_expired_token_marks_a_connected_channel_once() {
        let mut history = onboarded();
        history.push(DomainEvent::ChannelConnected {
            channel: ChannelKind::Messenger,
            account_id: "55".into(),
            display_name: "p".into(),
            proof: None,
        });
        let cmd = MarkChannelNeedsReauthorisation { channel: ChannelKind::Messenger, error_code: 190 };
        let events = given::<Partner>(history.clone()).when(&cmd).events();
        assert_eq!(events.len(), 1);
        history.extend(events);
        given::<Partner>(history).when(&cmd).then(vec![]);
    }
}
