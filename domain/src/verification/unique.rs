//! A log never holds two envelopes with one event id (docs/audit-format.md §1).

use super::FailureKind;
use crate::ids::EventId;
use std::collections::HashSet;

#[derive(Default)]
pub struct EventIds {
    seen: HashSet<EventId>,
}

impl EventIds {
    /// Takes the next envelope's id; a second envelope with a known id is refused.
    pub fn check(&mut self, id: EventId) -> Result<(), FailureKind> {
        if self.seen.insert(id) {
            Ok(())
        } else {
            Err(FailureKind::DuplicateEvent { event_id: id.to_string() })
        }
    }
}
