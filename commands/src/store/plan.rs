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

/// Checks that `envelope` is the write's next event: same stream and partner, version
/// `version`, linked to `prev`; answers its hash. Every backend checks appends with it.
pub fn continues(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::store::contract::{chain, one, stream};
    use crate::store::{AppendOutcome, EventStore};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        /// Continue a stream from its head with `n` events.
        Next(u8, usize),
        /// Write to a stream as if it did not exist.
        Stale(u8),
        /// Send an earlier request again.
        Repeat(usize),
        /// An earlier request plus a new write.
        Partial(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..4, 1usize..4).prop_map(|(s, n)| Step::Next(s, n)),
            1 => (0u8..4).prop_map(Step::Stale),
            2 => any::<usize>().prop_map(Step::Repeat),
            1 => any::<usize>().prop_map(Step::Partial),
        ]
    }

    fn as_outcome(planned: Result<PlannedAppend, StoreError>) -> Result<AppendOutcome, StoreError> {
        planned.map(|p| match p {
            PlannedAppend::Duplicate(positions) => AppendOutcome::Duplicate { positions },
            PlannedAppend::Rows(rows) => {
                AppendOutcome::Appended { positions: rows.iter().map(|r| r.position).collect() }
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// One planner deciding a whole run of appends as one group answers exactly as the
        /// reference store answers them one by one.
        #[test]
        fn a_planned_group_answers_as_the_reference_store_does(steps in proptest::collection::vec(step(), 1..24)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let reference = MemoryStore::default();
                let mut planner = AppendPlanner::new(0, HashMap::new(), HashMap::new());
                let mut sent: Vec<AppendRequest> = Vec::new();
                for (i, step) in steps.into_iter().enumerate() {
                    let request = match step {
                        Step::Next(s, n) => {
                            let head = reference.stream_head(&stream(s.into())).await.unwrap();
                            one(chain(&stream(s.into()), head, n))
                        }
                        Step::Stale(s) => one(chain(&stream(s.into()), None, 1)),
                        Step::Repeat(k) if !sent.is_empty() => sent[k % sent.len()].clone(),
                        Step::Partial(k) if !sent.is_empty() => {
                            let mut r = sent[k % sent.len()].clone();
                            r.writes.push(chain(&stream(1_000 + i as u128), None, 1));
                            r
                        }
                        Step::Repeat(_) | Step::Partial(_) => one(chain(&stream(2_000 + i as u128), None, 1)),
                    };
                    let expected = reference.append(request.clone()).await;
                    let planned = as_outcome(planner.plan(&request));
                    prop_assert_eq!(&planned, &expected);
                    prop_assert_eq!(planner.last_position(), *reference.head().borrow());
                    sent.push(request);
                }
                Ok(())
            })?;
        }
    }

    #[test]
    fn what_was_planned_earlier_in_the_group_counts_as_stored() {
        let mut planner = AppendPlanner::new(10, HashMap::new(), HashMap::new());
        let first = one(chain(&stream(1), None, 2));
        let Ok(PlannedAppend::Rows(rows)) = planner.plan(&first) else { panic!("the first append is planned") };
        assert_eq!(rows.iter().map(|r| r.position).collect::<Vec<_>>(), vec![11, 12]);
        assert_eq!(planner.plan(&first), Ok(PlannedAppend::Duplicate(vec![11, 12])));
        let racing = one(chain(&stream(1), None, 1));
        assert!(matches!(planner.plan(&racing), Err(StoreError::VersionConflict { actual: Some(1), .. })));
        let head = StreamHead { version: 1, hash: rows[1].hash };
        let next = one(chain(&stream(1), Some(head), 1));
        assert!(matches!(planner.plan(&next), Ok(PlannedAppend::Rows(r)) if r[0].position == 13));
        assert_eq!(planner.last_position(), 13);
    }

    #[test]
    fn a_refused_append_moves_nothing() {
        let mut planner = AppendPlanner::new(0, HashMap::new(), HashMap::new());
        let mut bad = chain(&stream(1), None, 2);
        bad.envelopes.swap(0, 1);
        assert!(matches!(planner.plan(&one(bad.clone())), Err(StoreError::InvalidAppend(_))));
        assert_eq!(planner.last_position(), 0);
        bad.envelopes.swap(0, 1);
        assert!(matches!(planner.plan(&one(bad)), Ok(PlannedAppend::Rows(_))), "nothing of the refused try was kept");
    }
}
