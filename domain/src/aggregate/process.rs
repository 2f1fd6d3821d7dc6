//! A process's record of the events it gave up on (its `process-…` stream).
//!
//! An event that keeps failing for one process is skipped by that process alone, and the
//! skip is an event, so an operator sees what was not done and why. Each event is skipped
//! at most once per process: a process that restarts and fails on it again records nothing.

use super::{Aggregate, Decide};
use crate::error::DomainError;
use crate::event::{DomainEvent, SkipReason};
use crate::ids::EventId;
use crate::time::Timestamp;
use std::collections::HashSet;

/// The events a process has skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessSkips {
    pub skipped: HashSet<EventId>,
}

impl Aggregate for ProcessSkips {
    fn apply(&mut self, event: &DomainEvent) {
        if let DomainEvent::ProcessSkippedEvent { event_id, .. } = event {
            self.skipped.insert(*event_id);
        }
    }
}

/// Process names are short, lowercase words joined by `-`: they name a stream and a
/// metric label, so nothing else may appear in them.
pub fn valid_process_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Records that `process` skipped the event at `position`.
pub struct SkipEvent {
    pub process: String,
    pub position: u64,
    pub event_id: EventId,
    pub reason: SkipReason,
}

impl Decide for SkipEvent {
    type State = ProcessSkips;
    fn decide(&self, state: &ProcessSkips, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if !valid_process_name(&self.process) {
            return Err(DomainError::bad_input("process", "lowercase letters, digits and '-', 1 to 64 bytes"));
        }
        if let SkipReason::Failed { failure, .. } = &self.reason {
            if !valid_process_name(failure) {
                return Err(DomainError::bad_input("reason", "a failure kind: lowercase letters, digits and '-'"));
            }
        }
        if state.skipped.contains(&self.event_id) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ProcessSkippedEvent {
            process: self.process.clone(),
            position: self.position,
            event_id: self.event_id,
            reason: self.reason.clone(),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use uuid::Uuid;

    fn skip(event: u128) -> SkipEvent {
        SkipEvent {
            process: "ai-worker".into(),
            position: 7,
            event_id: EventId(Uuid::from_u128(event)),
            reason: SkipReason::Failed { failure: "knowledge".into(), attempts: 3 },
        }
    }

    #[test]
    fn a_failing_event_is_recorded_as_skipped_with_its_reason() {
        given::<ProcessSkips>(vec![]).when(&skip(1)).then(vec![DomainEvent::ProcessSkippedEvent {
            process: "ai-worker".into(),
            position: 7,
            event_id: EventId(Uuid::from_u128(1)),
            reason: SkipReason::Failed { failure: "knowledge".into(), attempts: 3 },
        }]);
    }

    #[test]
    fn an_event_already_skipped_is_not_recorded_again() {
        let before = given::<ProcessSkips>(vec![]).when(&skip(1)).events();
        given::<ProcessSkips>(before.clone()).when(&skip(1)).then(vec![]);
        assert_eq!(given::<ProcessSkips>(before).when(&skip(2)).events().len(), 1);
    }

    #[test]
    fn a_reason_cannot_carry_free_text() {
        let mut command = skip(1);
        command.reason = SkipReason::Failed { failure: "timeout for +62 812 555".into(), attempts: 3 };
        assert!(matches!(
            given::<ProcessSkips>(vec![]).when(&command).result(),
            Err(DomainError::BadInput { field: "reason", .. })
        ));
    }

    #[test]
    fn process_names_are_plain_words() {
        assert!(valid_process_name("ai-worker"));
        assert!(valid_process_name("merkle-log"));
        for bad in ["", "-x", "x-", "AI", "a b", "a/b", &"a".repeat(65)] {
            assert!(!valid_process_name(bad), "{bad:?}");
        }
        let mut command = skip(1);
        command.process = "Outbox!".into();
        assert!(matches!(
            given::<ProcessSkips>(vec![]).when(&command).result(),
            Err(DomainError::BadInput { field: "process", .. })
        ));
    }
}
