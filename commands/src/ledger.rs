//! The command side's wiring: store, keys, signer and clock, and the load–decide–append loop.

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
    /// Reads a stream and folds it into `A`.
    pub async fn load<A: Aggregate>(&self, stream: &StreamId) -> Result<Loaded<A>, CommandError> {
        let stored = self.store.read_stream(stream, 0).await?;
        let mut state = A::default();
        let mut head = None;
        let owner = stored.first().map(|s| s.envelope.header.partner_id);
        for s in &stored {
            let event = s.envelope.event().map_err(|source| CommandError::Decode { position: s.position, source })?;
            state.apply(&event);
            head = Some(StreamHead { version: s.envelope.header.stream_version, hash: s.envelope.hash()? });
        }
        Ok(Loaded { state, head, owner })
    }

    /// Loads a stream for `partner`; another partner's stream reads as if it did not exist.
    pub async fn load_owned<A: Aggregate>(
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
                let envelope = Envelope::seal(&pending, partner, d.stream.clone(), version, prev, now, &key)?;
                prev = envelope.hash()?;
                envelopes.push(envelope);
            }
            writes.push(StreamWrite { stream: d.stream, partner, expected: d.expected, envelopes });
        }
        if writes.is_empty() {
            return Ok(Committed::default());
        }
        let outcome = self.store.append(AppendRequest { writes }).await?;
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
        A: Aggregate + Send,
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
