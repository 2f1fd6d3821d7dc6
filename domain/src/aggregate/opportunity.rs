//! The Opportunity: a deal moving through the Partner's pipeline. Won and lost are final.

use super::partner::Partner;
use super::{Aggregate, Decide};
use crate::error::{require_clean_text, require_line, DomainError};
use crate::event::{DomainEvent, Money};
use crate::ids::{ContactId, ConversationId, OpportunityId};
use crate::time::Timestamp;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpportunityOutcome {
    Open,
    Won,
    Lost,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Opportunity {
    pub id: Option<OpportunityId>,
    pub contact: Option<ContactId>,
    pub conversation: Option<ConversationId>,
    pub stage: String,
    pub value: Option<Money>,
    pub outcome: OpportunityOutcome,
}

impl Default for Opportunity {
    fn default() -> Self {
        Self {
            id: None,
            contact: None,
            conversation: None,
            stage: String::new(),
            value: None,
            outcome: OpportunityOutcome::Open,
        }
    }
}

impl Aggregate for Opportunity {
    fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::OpportunityOpened { opportunity_id, contact_id, conversation_id, stage, value, .. } => {
                self.id = Some(*opportunity_id);
                self.contact = Some(*contact_id);
                self.conversation = *conversation_id;
                self.stage = stage.clone();
                self.value = Some(value.clone());
            }
            DomainEvent::OpportunityStageChanged { to, .. } => self.stage = to.clone(),
            DomainEvent::OpportunityValueChanged { value } => self.value = Some(value.clone()),
            DomainEvent::OpportunityWon { value } => {
                self.value = Some(value.clone());
                self.outcome = OpportunityOutcome::Won;
            }
            DomainEvent::OpportunityLost { .. } => self.outcome = OpportunityOutcome::Lost,
            _ => {}
        }
    }
}

/// An opportunity decision also reads the Partner, for its pipeline.
#[derive(Clone, Debug, Default)]
pub struct OpportunityContext {
    pub partner: Partner,
    pub opportunity: Opportunity,
}

fn require_money(value: &Money) -> Result<(), DomainError> {
    if value.minor_units < 0 {
        return Err(DomainError::bad_input("value", "must not be negative"));
    }
    if !crate::currency::is_iso4217(&value.currency) {
        return Err(DomainError::bad_input("currency", "must be an ISO 4217 code in capitals, like IDR or USD"));
    }
    Ok(())
}

fn require_open(o: &Opportunity) -> Result<(), DomainError> {
    match (o.id, o.outcome) {
        (None, _) => Err(DomainError::OpportunityNotFound),
        (Some(_), OpportunityOutcome::Open) => Ok(()),
        _ => Err(DomainError::OpportunityClosed),
    }
}

pub struct OpenOpportunity {
    pub opportunity_id: OpportunityId,
    pub contact_id: ContactId,
    pub conversation_id: Option<ConversationId>,
    pub title: String,
    pub stage: Option<String>,
    pub value: Money,
}

impl Decide for OpenOpportunity {
    type State = OpportunityContext;
    fn decide(&self, ctx: &OpportunityContext, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        super::partner::require_onboarded(&ctx.partner)?;
        if ctx.opportunity.id.is_some() {
            return Err(DomainError::OpportunityAlreadyOpen);
        }
        require_line("title", &self.title, 200)?;
        require_money(&self.value)?;
        let stage = match &self.stage {
            Some(s) => ctx.partner.stage(s).ok_or_else(|| DomainError::UnknownStage(s.clone()))?.name.clone(),
            None => ctx.partner.pipeline.first().map(|s| s.name.clone()).ok_or(DomainError::PartnerNotOnboarded)?,
        };
        Ok(vec![DomainEvent::OpportunityOpened {
            opportunity_id: self.opportunity_id,
            contact_id: self.contact_id,
            conversation_id: self.conversation_id,
            title: self.title.trim().to_owned(),
            stage,
            value: self.value.clone(),
        }])
    }
}

pub struct MoveOpportunity {
    pub to: String,
}

impl Decide for MoveOpportunity {
    type State = OpportunityContext;
    fn decide(&self, ctx: &OpportunityContext, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_open(&ctx.opportunity)?;
        if ctx.partner.stage(&self.to).is_none() {
            return Err(DomainError::UnknownStage(self.to.clone()));
        }
        if ctx.opportunity.stage == self.to {
            return Err(DomainError::AlreadyInStage(self.to.clone()));
        }
        Ok(vec![DomainEvent::OpportunityStageChanged { from: ctx.opportunity.stage.clone(), to: self.to.clone() }])
    }
}

pub struct ChangeOpportunityValue {
    pub value: Money,
}

impl Decide for ChangeOpportunityValue {
    type State = OpportunityContext;
    fn decide(&self, ctx: &OpportunityContext, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_open(&ctx.opportunity)?;
        require_money(&self.value)?;
        if ctx.opportunity.value.as_ref() == Some(&self.value) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::OpportunityValueChanged { value: self.value.clone() }])
    }
}

pub struct WinOpportunity {
    /// The final value; None keeps the current one.
    pub value: Option<Money>,
}

impl Decide for WinOpportunity {
    type State = OpportunityContext;
    fn decide(&self, ctx: &OpportunityContext, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_open(&ctx.opportunity)?;
        let value = match &self.value {
            Some(v) => {
                require_money(v)?;
                v.clone()
            }
            None => ctx.opportunity.value.clone().ok_or(DomainError::OpportunityNotFound)?,
        };
        Ok(vec![DomainEvent::OpportunityWon { value }])
    }
}

pub struct LoseOpportunity {
    pub reason: String,
}

impl Decide for LoseOpportunity {
    type State = OpportunityContext;
    fn decide(&self, ctx: &OpportunityContext, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_open(&ctx.opportunity)?;
        require_clean_text("reason", &self.reason, 1000)?;
        Ok(vec![DomainEvent::OpportunityLost { reason: self.reason.trim().to_owned() }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::partner::default_pipeline;
    use crate::event::ApprovalMode;
    use crate::ids::PartnerId;
    use crate::testing::{given_state, TEST_NOW};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn partner() -> Partner {
        Partner::from_events(&[DomainEvent::PartnerOnboarded {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "Toko".into(),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        }])
    }

    fn idr(v: i64) -> Money {
        Money { minor_units: v, currency: "IDR".into() }
    }

    fn opened() -> OpportunityContext {
        let open = OpenOpportunity {
            opportunity_id: OpportunityId(Uuid::from_u128(5)),
            contact_id: ContactId(Uuid::from_u128(6)),
            conversation_id: None,
            title: "Batik order".into(),
            stage: None,
            value: idr(15_000_000),
        };
        let mut ctx = OpportunityContext { partner: partner(), opportunity: Opportunity::default() };
        for e in open.decide(&ctx, TEST_NOW).unwrap() {
            ctx.opportunity.apply(&e);
        }
        ctx
    }

    #[test]
    fn a_new_opportunity_starts_in_the_first_stage() {
        assert_eq!(opened().opportunity.stage, "lead");
    }

    #[test]
    fn moving_to_a_stage_outside_the_pipeline_is_refused() {
        given_state(opened())
            .when(&MoveOpportunity { to: "shipped".into() })
            .then_err(DomainError::UnknownStage("shipped".into()));
    }

    #[test]
    fn a_won_opportunity_cannot_be_lost_or_moved() {
        let mut ctx = opened();
        ctx.opportunity.apply(&DomainEvent::OpportunityWon { value: idr(1) });
        given_state(ctx.clone()).when(&LoseOpportunity { reason: "x".into() }).then_err(DomainError::OpportunityClosed);
        given_state(ctx).when(&MoveOpportunity { to: "proposal".into() }).then_err(DomainError::OpportunityClosed);
    }

    #[test]
    fn a_bad_currency_is_bad_input() {
        let r = given_state(opened())
            .when(&ChangeOpportunityValue { value: Money { minor_units: 1, currency: "rupiah".into() } })
            .result();
        assert!(matches!(r, Err(DomainError::BadInput { field: "currency", .. })));
    }

    proptest! {
        /// Random command sequences: once won or lost, nothing more is ever recorded,
        /// and the stage is always one of the pipeline's.
        #[test]
        fn terminal_states_are_final(ops in proptest::collection::vec(0u8..5, 0..40), stages in proptest::collection::vec(0usize..5, 40)) {
            let mut ctx = opened();
            let names = ["lead", "qualified", "proposal", "negotiation", "bogus"];
            for (i, op) in ops.into_iter().enumerate() {
                let before = ctx.opportunity.outcome;
                let result = match op {
                    0 => MoveOpportunity { to: names[stages[i]].into() }.decide(&ctx, TEST_NOW),
                    1 => ChangeOpportunityValue { value: idr(i as i64) }.decide(&ctx, TEST_NOW),
                    2 => WinOpportunity { value: None }.decide(&ctx, TEST_NOW),
                    3 => LoseOpportunity { reason: "price".into() }.decide(&ctx, TEST_NOW),
                    _ => OpenOpportunity { opportunity_id: OpportunityId(Uuid::nil()), contact_id: ContactId(Uuid::nil()), conversation_id: None, title: "t".into(), stage: None, value: idr(1) }.decide(&ctx, TEST_NOW),
                };
                if before != OpportunityOutcome::Open {
                    prop_assert!(result.is_err());
                }
                for e in result.unwrap_or_default() { ctx.opportunity.apply(&e); }
                prop_assert!(ctx.partner.stage(&ctx.opportunity.stage).is_some());
            }
        }
    }
}
