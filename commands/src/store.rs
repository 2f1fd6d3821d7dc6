//! The event-store port: what the command side needs from a log of signed envelopes.
//!
//! Backends: the in-memory store (`memory::MemoryStore`, the reference), the embedded
//! SQLite store (`adapters::sqlite_log`) and PostgreSQL (`adapters::postgres_log`). The
//! port never asks a store to sign or to choose versions: envelopes arrive already sealed
//! for the versions the handler expects, and the store only checks and keeps them. A
//! KurrentDB backend fits the same contract (its append takes an expected revision per
//! stream; multi-stream atomicity there needs one transaction stream per append).
//!
//! # The contract every backend honours
//!
//! 1. **Atomic multi-stream append.** An [`AppendRequest`] holds writes to one or more
//!    streams, each with an [`ExpectedVersion`]. Either every envelope of every write is
//!    stored, or none is. A write whose stream is not at its expected version fails the
//!    whole append with [`StoreError::VersionConflict`]; envelopes that do not continue
//!    their stream (version, `prev_hash`, stream or partner) fail it with
//!    [`StoreError::InvalidAppend`], as does an empty append or an event id given twice.
//! 2. **Idempotency by event id.** When every event id of an append is already stored,
//!    nothing is written and the answer is [`AppendOutcome::Duplicate`] with the first
//!    copy's positions, in request order, however many copies race. When only some are,
//!    the answer is [`StoreError::PartialDuplicate`] and nothing is written. This check
//!    comes before the version check, so a retried append is answered, not refused.
//! 3. **Durability.** When `append` returns `Ok`, the events survive a crash of the
//!    process (and, for a server engine, of the client machine): a fresh handle on the
//!    same log reads them back.
//! 4. **Gap-free global order, seen in order.** Positions start at 1 and increase by one
//!    per stored event, in commit order; an append's events take consecutive positions in
//!    request order. A reader never sees position `n + 1` without `n`: no event can
//!    commit later with a lower position than one already visible. So a follower that has
//!    read up to `n` has missed nothing below `n`, ever.
//! 5. **Reads.** [`EventStore::read_stream`] by stream from a version,
//!    [`EventStore::read_all`] from a position, [`EventStore::stream_head`] for the next
//!    link, and [`EventStore::head`], which moves after each durable commit (including
//!    commits made by other processes on a shared server).
//! 6. **Subscribe.** `subscription::Subscription::new(store, after, page)` catches up
//!    from `after` through `read_all` and then follows by waiting on `head`; given 4 it
//!    hands out every event exactly once, in position order.
//!
//! The shared test suite in [`contract`] (feature `contract`) checks each of these
//! against every backend.

use async_trait::async_trait;
use laras_domain::envelope::{Envelope, Hash32};
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;
use tokio::sync::watch;

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod plan;

pub use plan::{continues, AppendPlanner, PlannedAppend, PlannedRow};

/// A global position in the log: 1 for the first stored event, increasing in commit order.
pub type Position = u64;

/// An envelope as stored, with its global position.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEnvelope {
    pub position: Position,
    pub envelope: Envelope,
}

/// What the writer expects a stream to look like before the append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// The version the first appended envelope must carry.
    pub fn next_version(self) -> u64 {
        match self {
            Self::NoStream => 0,
            Self::Exact(v) => v + 1,
        }
    }
}

/// Envelopes for one stream, sealed for versions `expected.next_version()..`.
#[derive(Clone, Debug)]
pub struct StreamWrite {
    pub stream: StreamId,
    pub partner: PartnerId,
    pub expected: ExpectedVersion,
    pub envelopes: Vec<Envelope>,
}

/// One atomic append: every write lands, or none does.
#[derive(Clone, Debug, Default)]
pub struct AppendRequest {
    pub writes: Vec<StreamWrite>,
}

impl AppendRequest {
    pub fn event_count(&self) -> usize {
        self.writes.iter().map(|w| w.envelopes.len()).sum()
    }
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored now, at these positions (in request order).
    Appended { positions: Vec<Position> },
    /// Every event id was already stored: nothing written; the first copy's positions.
    Duplicate { positions: Vec<Position> },
}

impl AppendOutcome {
    pub fn positions(&self) -> &[Position] {
        match self {
            Self::Appended { positions } | Self::Duplicate { positions } => positions,
        }
    }
    /// The highest position this append stands on (for read-your-writes).
    pub fn last_position(&self) -> Option<Position> {
        self.positions().iter().copied().max()
    }
}

/// The last event of a stream: what the next envelope must link to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHead {
    pub version: u64,
    pub hash: Hash32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum StoreError {
    #[error("stream {stream} is at {actual:?}, the append expected {expected:?}")]
    VersionConflict { stream: StreamId, expected: ExpectedVersion, actual: Option<u64> },
    #[error("some events of this append are already stored and some are not")]
    PartialDuplicate,
    #[error("the append is malformed: {0}")]
    InvalidAppend(String),
    #[error("the store failed: {0}")]
    Storage(String),
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    /// Conflicts resolve by reloading and deciding again.
    pub fn is_retryable_conflict(&self) -> bool {
        matches!(self, Self::VersionConflict { .. } | Self::PartialDuplicate)
    }
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically and durably: when this returns Ok, the events survive a crash.
    ///
    /// Checks, in order: event ids already stored (all: `Duplicate`; some:
    /// `PartialDuplicate`); each write's expected version and that its envelopes carry
    /// consecutive versions from `expected.next_version()`, the write's stream and
    /// partner, and link by `prev_hash` to the stream's head (or zero).
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// Appends each request as [`EventStore::append`] would, each atomic and checked on its
    /// own (one refused never refuses another), in the order given, so a later request sees
    /// the earlier ones stored. A store that can commits them together (one fsync); this
    /// default commits them one after another.
    async fn append_each(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            out.push(self.append(request).await);
        }
        out
    }

    /// The events of one stream with version >= `from_version`, in version order.
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<StoredEnvelope>, StoreError>;

    /// The stream's last event, or None when the stream does not exist.
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError>;

    /// Up to `limit` events with position > `after`, in position order.
    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError>;

    /// The highest stored position (0 when empty); it moves after each durable commit.
    fn head(&self) -> watch::Receiver<Position>;
}
