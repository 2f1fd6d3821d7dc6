//! Deciding a group of appends against what is stored, in memory.
//!
//! A server-backed store that commits many appends in one transaction loads, once per
//! group, which of the group's event ids are stored and the head of each stream the group
//! touches; then the planner decides each append in order, as if the ones before it in
//! the group were already stored. It enforces the port's contract (see `store`), so each
//! backend does not restate it.

use super::{AppendRequest, ExpectedVersion, Position, StoreError, StreamHead};
use laras_domain::envelope::{Envelope, Hash32, ZERO_HASH};
use laras_domain::ids::EventId;
use laras_domain::stream::StreamId;
use std::collections::{HashMap, HashSet};

/// The stored state a group is decided against, plus what the group has taken so far.
pub struct AppendPlanner {
    known: HashMap<EventId, Position>,
    heads: HashMap<StreamId, StreamHead>,
    next: Position,
}

/// What one append of the group does.
#[derive(Debug, PartialEq)]
pub enum PlannedAppend {
    /// Every id was stored: the first copy's positions, in request order.
    Duplicate(Vec<Position>),
    /// New rows: (position, index of the write, index of the envelope, hash), consecutive.
    Rows(Vec<PlannedRow>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlannedRow {
    pub position: Position,
    pub write: usize,
    pub envelope: usize,
    pub hash: Hash32,
}

impl AppendPlanner {
    /// `head`: the highest stored position. `known`: the stored positions of (at least)
    /// every event id of the group. `heads`: the head of (at least) every stream of the
    /// group that exists; a stream missing here is taken not to exist.
    pub fn new(head: Position, known: HashMap<EventId, Position>, heads: HashMap<StreamId, StreamHead>) -> Self {
        Self { known, heads, next: head + 1 }
    }

    /// The highest position taken so far (the stored head when nothing was planned).
    pub fn last_position(&self) -> Position {
        self.next - 1
    }

    /// Decides `request`; on `Rows` the planner's state moves as if they were stored.
    /// On an error nothing moves.
    pub fn plan(&mut self, request: &AppendRequest) -> Result<PlannedAppend, StoreError> {
        let ids: Vec<EventId> = request.writes.iter().flat_map(|w| &w.envelopes).map(|e| e.header.event_id).collect();
        if ids.is_empty() {
            return Err(StoreError::InvalidAppend("an append needs at least one event".into()));
        }
        let mut distinct = HashSet::with_capacity(ids.len());
        if !ids.iter().all(|id| distinct.insert(*id)) {
            return Err(StoreError::InvalidAppend("an event id appears twice in one append".into()));
        }
        let known: Vec<Position> = ids.iter().filter_map(|id| self.known.get(id).copied()).collect();
        if !known.is_empty() {
            return if known.len() == ids.len() {
                Ok(PlannedAppend::Duplicate(known))
            } else {
                Err(StoreError::PartialDuplicate)
            };
        }
        let mut rows = Vec::with_capacity(ids.len());
        let mut moved: HashMap<&StreamId, StreamHead> = HashMap::new();
        let mut next = self.next;
        for (w, write) in request.writes.iter().enumerate() {
            let head = moved.get(&write.stream).or_else(|| self.heads.get(&write.stream)).copied();
            let actual = head.map(|h| h.version);
            let matches = match write.expected {
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !matches {
                return Err(StoreError::VersionConflict {
                    stream: write.stream.clone(),
                    expected: write.expected,
                    actual,
                });
            }
            let mut prev = head.map_or(ZERO_HASH, |h| h.hash);
            for (e, (version, envelope)) in (write.expected.next_version()..).zip(&write.envelopes).enumerate() {
                let hash = continues(envelope, write, version, prev)?;
                rows.push(PlannedRow { position: next, write: w, envelope: e, hash });
                next += 1;
                prev = hash;
                moved.insert(&write.stream, StreamHead { version, hash });
            }
        }
        let moved: Vec<(StreamId, StreamHead)> = moved.into_iter().map(|(s, h)| (s.clone(), h)).collect();
        self.heads.extend(moved);
        for (id, row) in ids.into_iter().zip(&rows) {
            self.known.insert(id, row.position);
        }
        self.next = next;
        Ok(PlannedAppend::Rows(rows))
    }
}

/// The envelope's hash when it is the `version` of the write's stream after `prev`.
fn continues(
    envelope: &Envelope,
    write: &super::StreamWrite,
    version: u64,
    prev: Hash32,
) -> Result<Hash32, StoreError> {
    let h = &envelope.header;
    if h.stream_id != write.stream || h.partner_id != write.partner {
        return Err(StoreError::InvalidAppend(format!("an envelope does not belong to {}", write.stream)));
    }
    if h.stream_version != version || h.prev_hash != prev {
        return Err(StoreError::InvalidAppend(format!(
            "envelope for version {} of {} does not continue the stream",
            h.stream_version, write.stream
        )));
    }
    envelope.hash().map_err(|e| StoreError::InvalidAppend(e.to_string()))
}
