//! Aggregates: state folded from a stream's events, and the decisions made on it.
//!
//! Deciding is pure and synchronous: `decide(&state, now) -> Result<Vec<DomainEvent>, _>`.
//! It never awaits, signs, encrypts, reads a clock or calls Meta; handlers do that
//! around it. One command is one small struct with its own `decide`.

pub mod article;
pub mod channel_account;
pub mod contact;
pub mod conversation;
pub mod opportunity;
pub mod partner;
pub mod process;
pub mod send;
pub mod witnesses;

use crate::error::DomainError;
use crate::event::DomainEvent;
use crate::time::Timestamp;

/// State rebuilt from a stream's events.
pub trait Aggregate: Default {
    fn apply(&mut self, event: &DomainEvent);

    fn from_events<'a>(events: impl IntoIterator<Item = &'a DomainEvent>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// A command's decision on the state it reads.
pub trait Decide {
    type State;
    fn decide(&self, state: &Self::State, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError>;
}
