//! Given / when / then for decisions: `given(events).when(&command).then(events)`.

use crate::aggregate::{Aggregate, Decide};
use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::time::Timestamp;

/// A fixed "now" for tests: 2026-01-01T00:00:00Z.
pub const TEST_NOW: Timestamp = Timestamp(1_767_225_600_000);

pub struct Given<S> {
    state: S,
    now: Timestamp,
}

pub fn given<S: Aggregate>(events: Vec<DomainEvent>) -> Given<S> {
    Given { state: S::from_events(&events), now: TEST_NOW }
}

/// Starts from an explicit state (for decisions that read several aggregates).
pub fn given_state<S>(state: S) -> Given<S> {
    Given { state, now: TEST_NOW }
}

impl<S> Given<S> {
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    pub fn when<C: Decide<State = S>>(self, command: &C) -> Then {
        Then(command.decide(&self.state, self.now))
    }
}

pub struct Then(Result<Vec<DomainEvent>, DomainError>);

impl Then {
    #[track_caller]
    pub fn then(self, expected: Vec<DomainEvent>) {
        assert_eq!(self.0, Ok(expected));
    }
    #[track_caller]
    pub fn then_err(self, expected: DomainError) {
        assert_eq!(self.0, Err(expected));
    }
    #[track_caller]
    pub fn events(self) -> Vec<DomainEvent> {
        match self.0 {
            Ok(events) => events,
            Err(e) => panic!("expected events, got error {e}"),
        }
    }
    pub fn result(self) -> Result<Vec<DomainEvent>, DomainError> {
        self.0
    }
}
