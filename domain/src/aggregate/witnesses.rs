//! The witnesses a Partner names: whose cosignatures of its tree heads Laras accepts.
//! Naming one is an event on the Partner's stream, so an auditor reading the bundle
//! sees which witnesses the Partner chose and since when.

use super::partner::{require_onboarded, Partner};
use super::Decide;
use crate::cosignature::{WitnessKey, WitnessKeyError};
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::time::Timestamp;

/// More witnesses than this is a mistake, not a trust policy.
pub const MAX_WITNESSES: usize = 32;

pub struct RegisterWitness {
    pub name: String,
    /// 64 lowercase hex digits.
    pub public_key: String,
}

impl Decide for RegisterWitness {
    type State = Partner;
    fn decide(&self, state: &Partner, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_onboarded(state)?;
        let witness = WitnessKey::from_hex(&self.name, &self.public_key).map_err(|e| match e {
            WitnessKeyError::BadName => DomainError::bad_input("name", e.to_string()),
            _ => DomainError::bad_input("public_key", e.to_string()),
        })?;
        if state.witnesses.iter().any(|w| w.name == witness.name || w.public == witness.public) {
            return Err(DomainError::WitnessAlreadyRegistered);
        }
        if state.witnesses.len() >= MAX_WITNESSES {
            return Err(DomainError::bad_input("witnesses", format!("at most {MAX_WITNESSES} per Partner")));
        }
        Ok(vec![DomainEvent::WitnessRegistered { name: witness.name, public_key: self.public_key.clone() }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::partner::default_pipeline;
    use crate::event::ApprovalMode;
    use crate::ids::PartnerId;
    use crate::testing::given;
    use uuid::Uuid;

    fn onboarded() -> DomainEvent {
        DomainEvent::PartnerOnboarded {
            partner_id: PartnerId(Uuid::from_u128(1)),
            name: "Toko Laras".into(),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        }
    }

    fn key(seed: u8) -> String {
        hex::encode(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().as_bytes())
    }

    fn register(name: &str, public_key: String) -> RegisterWitness {
        RegisterWitness { name: name.into(), public_key }
    }

    #[test]
    fn registering_a_witness_records_its_name_and_key() {
        given::<Partner>(vec![onboarded()])
            .when(&register("w.example/1", key(1)))
            .then(vec![DomainEvent::WitnessRegistered { name: "w.example/1".into(), public_key: key(1) }]);
    }

    #[test]
    fn a_registered_witness_is_in_the_partners_state() {
        let events = vec![onboarded(), DomainEvent::WitnessRegistered { name: "w".into(), public_key: key(1) }];
        let partner = <Partner as crate::aggregate::Aggregate>::from_events(&events);
        assert_eq!(partner.witnesses.len(), 1);
        assert_eq!(partner.witnesses[0].name, "w");
    }

    #[test]
    fn registering_a_name_or_key_twice_is_refused() {
        let history = vec![onboarded(), DomainEvent::WitnessRegistered { name: "w".into(), public_key: key(1) }];
        given::<Partner>(history.clone())
            .when(&register("other", key(1)))
            .then_err(DomainError::WitnessAlreadyRegistered);
        given::<Partner>(history).when(&register("w", key(2))).then_err(DomainError::WitnessAlreadyRegistered);
    }

    #[test]
    fn a_bad_name_or_key_is_refused_and_changes_nothing() {
        let bad = |cmd: RegisterWitness| {
            assert!(matches!(
                given::<Partner>(vec![onboarded()]).when(&cmd).result(),
                Err(DomainError::BadInput { .. })
            ));
        };
        bad(register("has space", key(1)));
        bad(register("", key(1)));
        bad(register("w", "00".into()));
        bad(register("w", key(1).to_uppercase()));
        bad(register("w", format!("01{}", "00".repeat(31))));
    }

    #[test]
    fn a_partner_not_onboarded_names_no_witness() {
        given::<Partner>(vec![]).when(&register("w", key(1))).then_err(DomainError::PartnerNotOnboarded);
    }
}
