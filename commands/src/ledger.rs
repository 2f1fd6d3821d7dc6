//! The command side's wiring: store, keys, signer and clock, and the load–decide–append loop.

use crate::aggregate_cache::{AggregateCache, Cached};
use crate::error::CommandError;
use crate::keys::ContactKeys;
use crate::meta::CommandMeta;
use crate::signer::LedgerSigner;
use crate::store::{AppendOutcome, AppendRequest, EventStore, ExpectedVersion, Position, StreamHead, StreamWrite};
use laras_domain::aggregate::Aggregate;
use laras_domain::envelope::{Envelope, PendingEvent, ZERO_HASH};
use laras_domain::event::DomainEvent;
use laras_domain::ids::{derived_uuid, EventId, PartnerId};
use laras_domain::stream::StreamId;
use laras_domain::time::Clock;
use std::sync::Arc;
use uuid::Uuid;

/// How often a command reloads and decides again after a version conflict.
pub const MAX_ATTEMPTS: u32 = 8;

/// Everything a handler needs.
#[derive(Clone)]
pub struct Ledger {
    pub store: Arc<dyn EventStore>,
    pub keys: Arc<dyn ContactKeys>,
    pub signer: Arc<LedgerSigner>,
    pub clock: Arc<dyn Clock>,
    /// Folded aggregates by stream and version, shared by this ledger's clones.
    pub cache: Arc<AggregateCache>,
}

/// A stream's state and head, as loaded.
pub struct Loaded<A> {
    pub state: A,
    pub head: Option<StreamHead>,
    /// The partner whose stream this is (None when the stream does not exist).
    pub owner: Option<PartnerId>,
}

impl<A> Loaded<A> {
    pub fn expected(&self) -> ExpectedVersion {
        match self.head {
            None => ExpectedVersion::NoStream,
            Some(h) => ExpectedVersion::Exact(h.version),
        }
    }
}

/// What a command stored.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Committed {
    /// Positions of the events this command stored (or of the first copy, for a duplicate).
    pub positions: Vec<Position>,
    /// True when the same events were already stored by an earlier delivery.
    pub duplicate: bool,
}

impl Committed {
    pub fn last_position(&self) -> Option<Position> {
        self.positions.iter().copied().max()
    }
    pub fn is_noop(&self) -> bool {
        self.positions.is_empty()
    }
}

/// How event ids are chosen for a decision's events.
#[derive(Clone, Debug)]
pub enum EventIds {
    /// Fresh UUIDv7s.
    Fresh,
    /// Derived from an outside id (a channel message id), so a redelivery yields the same ids.
    DerivedFrom(String),
}

impl EventIds {
    fn id_for(&self, stream: &StreamId, index: usize) -> EventId {
        match self {
            Self::Fresh => EventId(Uuid::now_v7()),
            Self::DerivedFrom(seed) => EventId(derived_uuid(
                "laras.event",
                &[seed.as_bytes(), stream.as_str().as_bytes(), &(index as u64).to_be_bytes()],
            )),
        }
    }
}

/// Events decided for one stream, before sealing.
pub struct Decided {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub prev_hash: [u8; 32],
    pub events: Vec<DomainEvent>,
    /// The partner the stream's envelopes carry, when it is not the commit's (a system
    /// stream, such as an account's claims, in one append with a Partner's stream).
    pub partner: Option<PartnerId>,
}

impl Decided {
    pub fn new<A>(stream: StreamId, loaded: &Loaded<A>, events: Vec<DomainEvent>) -> Self {
        Self {
            stream,
            expected: loaded.expected(),
            prev_hash: loaded.head.map_or(ZERO_HASH, |h| h.hash),
            events,
            partner: None,
        }
    }

    /// The stream's envelopes carry `partner` instead of the commit's.
    pub fn owned_by(mut self, partner: PartnerId) -> Self {
        self.partner = Some(partner);
        self
    }
}

impl Ledger {
    /// A ledger with an empty aggregate cache.
    pub fn new(
        store: Arc<dyn EventStore>,
        keys: Arc<dyn ContactKeys>,
        signer: Arc<LedgerSigner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, keys, signer, clock, cache: Arc::new(AggregateCache::default()) }
    }

    /// Reads a stream and folds it into `A`: from the cached fold when there is one, reading
    /// and decoding only the events stored after it, and hashing only the new head.
    pub async fn load<A: Aggregate + Clone + Send + Sync + 'static>(
        &self,
        stream: &StreamId,
    ) -> Result<Loaded<A>, CommandError> {
        let cached = self.cache.get::<A>(stream);
        let from = cached.as_ref().map_or(0, |c| c.head.version + 1);
        let stored = self.store.read_stream(stream, from).await?;
        if stored.first().is_some_and(|s| s.envelope.header.stream_version != from) {
            // Not the tail the cache expects (a store that lost events?): fold from 0 instead.
            self.cache.forget(stream);
            return self.fold(stream, A::default(), None, None, self.store.read_stream(stream, 0).await?);
        }
        let (state, head, owner) = match cached {
            Some(c) => (c.state, Some(c.head), Some(c.owner)),
            None => (A::default(), None, None),
        };
        self.fold(stream, state, head, owner, stored)
    }

    fn fold<A: Aggregate + Clone + Send + Sync + 'static>(
        &self,
        stream: &StreamId,
        mut state: A,
        mut head: Option<StreamHead>,
        owner: Option<PartnerId>,
        stored: Vec<crate::store::StoredEnvelope>,
    ) -> Result<Loaded<A>, CommandError> {
        let owner = owner.or_else(|| stored.first().map(|s| s.envelope.header.partner_id));
        for s in &stored {
            let event = s.envelope.event().map_err(|source| CommandError::Decode { position: s.position, source })?;
            state.apply(&event);
        }
        if let (Some(last), Some(owner)) = (stored.last(), owner) {
            let h = StreamHead { version: last.envelope.header.stream_version, hash: last.envelope.hash()? };
            head = Some(h);
            self.cache.put(stream, Cached { state: state.clone(), head: h, owner });
        }
        Ok(Loaded { state, head, owner })
    }

    /// Loads a stream for `partner`; another partner's stream reads as if it did not exist.
    pub async fn load_owned<A: Aggregate + Clone + Send + Sync + 'static>(
        &self,
        partner: PartnerId,
        stream: &StreamId,
    ) -> Result<Loaded<A>, CommandError> {
        let loaded = self.load::<A>(stream).await?;
        match loaded.owner {
            Some(owner) if owner != partner => Err(CommandError::ForeignStream),
            _ => Ok(loaded),
        }
    }

    /// Seals the decided events of each stream and appends them in one atomic append. The
    /// envelopes carry `partner`, except on streams decided for another (`Decided::owned_by`).
    pub async fn commit(
        &self,
        partner: PartnerId,
        decided: Vec<Decided>,
        meta: &CommandMeta,
        ids: &EventIds,
    ) -> Result<Committed, CommandError> {
        let key = self.signer.active();
        let now = self.clock.now();
        let mut writes = Vec::new();
        for d in decided.into_iter().filter(|d| !d.events.is_empty()) {
            let partner = d.partner.unwrap_or(partner);
            let mut prev = d.prev_hash;
            let mut envelopes = Vec::with_capacity(d.events.len());
            for (index, event) in d.events.into_iter().enumerate() {
                let version = d.expected.next_version() + index as u64;
                let pending = PendingEvent {
                    event_id: ids.id_for(&d.stream, index),
                    actor: meta.actor.clone(),
                    causation_id: meta.causation_id,
                    correlation_id: meta.correlation_id,
                    event,
                };
                let (envelope, hash) =
                    Envelope::seal_hashed(&pending, partner, d.stream.clone(), version, prev, now, &key)?;
                prev = hash;
                envelopes.push(envelope);
            }
            writes.push(StreamWrite { stream: d.stream, partner, expected: d.expected, envelopes });
        }
        if writes.is_empty() {
            return Ok(Committed::default());
        }
        let started = std::time::Instant::now();
        let outcome = crate::together::append(&self.store, AppendRequest { writes }).await;
        metrics::histogram!("laras_append_seconds").record(started.elapsed().as_secs_f64());
        let outcome = outcome?;
        Ok(match outcome {
            AppendOutcome::Appended { positions } => Committed { positions, duplicate: false },
            AppendOutcome::Duplicate { positions } => Committed { positions, duplicate: true },
        })
    }

    /// Runs `attempt` (load, decide, commit) again while it hits version conflicts.
    pub async fn with_retry<T, F, Fut>(&self, mut attempt: F) -> Result<T, CommandError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CommandError>>,
    {
        for n in 1..=MAX_ATTEMPTS {
            match attempt().await {
                Err(CommandError::Store(e)) if e.is_retryable_conflict() => {
                    tracing::debug!(attempt = n, "version conflict; deciding again");
                    // Back off a little so concurrent writers on one stream interleave.
                    tokio::time::sleep(std::time::Duration::from_micros(200 * u64::from(n))).await;
                }
                other => return other,
            }
        }
        Err(CommandError::Contention { attempts: MAX_ATTEMPTS })
    }
}

impl Ledger {
    /// Load one stream, decide, commit; retried on conflicts. For commands on a single aggregate.
    /// A stream owned by another partner reads as empty: ids cannot be guessed across tenants.
    pub async fn execute<A, C>(
        &self,
        partner: PartnerId,
        stream: StreamId,
        command: &C,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError>
    where
        A: Aggregate + Clone + Send + Sync + 'static,
        C: laras_domain::aggregate::Decide<State = A> + Sync,
    {
        self.with_retry(|| async {
            let loaded = self.load_owned::<A>(partner, &stream).await?;
            let events = command.decide(&loaded.state, self.clock.now())?;
            let decided = Decided::new(stream.clone(), &loaded, events);
            self.commit(partner, vec![decided], meta, &EventIds::Fresh).await
        })
        .await
    }

    /// Seals personal data under the contact's data key.
    pub fn seal(
        &self,
        partner: PartnerId,
        contact: laras_domain::ids::ContactId,
        plaintext: &str,
    ) -> Result<laras_domain::sealed::Sealed, CommandError> {
        let (key_id, key) = self.keys.data_key_for(partner, contact)?;
        Ok(laras_domain::sealed::Sealed::seal(key_id, &key, plaintext.as_bytes(), &mut rand::rngs::OsRng))
    }

    /// Opens a sealed field; None when its key was destroyed (the contact was erased).
    pub fn open(&self, sealed: &laras_domain::sealed::Sealed) -> Result<Option<String>, CommandError> {
        match self.keys.data_key(sealed.key)? {
            None => Ok(None),
            Some(key) => Ok(sealed.open_text(&key).ok()),
        }
    }
}
