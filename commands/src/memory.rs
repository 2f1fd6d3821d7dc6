//! In-memory implementations of the ports, for tests and as a reference for the contract.

use crate::keys::{ContactKeys, KeyError};
use crate::store::*;
use async_trait::async_trait;
use laras_domain::envelope::ZERO_HASH;
use laras_domain::ids::{ContactId, DataKeyId, EventId, PartnerId};
use laras_domain::sealed::SecretKey;
use laras_domain::stream::StreamId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

/// A log in memory with the same checks as the durable stores.
pub struct MemoryStore {
    inner: Mutex<Log>,
    head: watch::Sender<Position>,
}

#[derive(Default)]
struct Log {
    events: Vec<StoredEnvelope>,
    by_id: HashMap<EventId, Position>,
    streams: HashMap<StreamId, Vec<Position>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self { inner: Mutex::new(Log::default()), head: watch::channel(0).0 }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Log {
    fn head_of(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        let Some(&pos) = self.streams.get(stream).and_then(|p| p.last()) else { return Ok(None) };
        let env = &self.events[(pos - 1) as usize].envelope;
        let hash = env.hash().map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
        Ok(Some(StreamHead { version: env.header.stream_version, hash }))
    }

    fn check(&self, request: &AppendRequest) -> Result<Option<Vec<Position>>, StoreError> {
        let ids: Vec<EventId> =
            request.writes.iter().flat_map(|w| w.envelopes.iter().map(|e| e.header.event_id)).collect();
        if ids.is_empty() {
            return Err(StoreError::InvalidAppend("an append needs at least one event".into()));
        }
        let known: Vec<Position> = ids.iter().filter_map(|id| self.by_id.get(id).copied()).collect();
        if !known.is_empty() {
            return if known.len() == ids.len() { Ok(Some(known)) } else { Err(StoreError::PartialDuplicate) };
        }
        let distinct: BTreeSet<_> = ids.iter().collect();
        if distinct.len() != ids.len() {
            return Err(StoreError::InvalidAppend("an event id appears twice".into()));
        }
        for w in &request.writes {
            let head = self.head_of(&w.stream)?;
            let actual = head.map(|h| h.version);
            let ok = match w.expected {
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !ok {
                return Err(StoreError::VersionConflict { stream: w.stream.clone(), expected: w.expected, actual });
            }
            let mut prev = head.map_or(ZERO_HASH, |h| h.hash);
            for (i, e) in w.envelopes.iter().enumerate() {
                let h = &e.header;
                if h.stream_id != w.stream
                    || h.partner_id != w.partner
                    || h.stream_version != w.expected.next_version() + i as u64
                    || h.prev_hash != prev
                {
                    return Err(StoreError::InvalidAppend(format!(
                        "envelope {i} of {} does not continue the stream",
                        w.stream
                    )));
                }
                prev = e.hash().map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let mut log = lock(&self.inner);
        if let Some(positions) = log.check(&request)? {
            return Ok(AppendOutcome::Duplicate { positions });
        }
        let mut positions = Vec::new();
        for w in request.writes {
            for envelope in w.envelopes {
                let position = log.events.len() as Position + 1;
                log.by_id.insert(envelope.header.event_id, position);
                log.streams.entry(w.stream.clone()).or_default().push(position);
                log.events.push(StoredEnvelope { position, envelope });
                positions.push(position);
            }
        }
        let head = log.events.len() as Position;
        drop(log);
        self.head.send_replace(head);
        Ok(AppendOutcome::Appended { positions })
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<StoredEnvelope>, StoreError> {
        let log = lock(&self.inner);
        Ok(log
            .streams
            .get(stream)
            .map(|ps| ps.iter().skip(from_version as usize).map(|p| log.events[(*p - 1) as usize].clone()).collect())
            .unwrap_or_default())
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        lock(&self.inner).head_of(stream)
    }

    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError> {
        let log = lock(&self.inner);
        Ok(log.events.iter().skip(after as usize).take(limit).cloned().collect())
    }

    fn head(&self) -> watch::Receiver<Position> {
        self.head.subscribe()
    }
}

/// Contact keys in memory (nothing is wrapped: there is no disk to protect).
pub struct MemoryKeys {
    master: SecretKey,
    inner: Mutex<KeyTable>,
}

#[derive(Default)]
struct KeyTable {
    live: BTreeMap<ContactId, DataKeyId>,
    keys: HashMap<DataKeyId, (ContactId, Option<SecretKey>)>,
    intents: BTreeSet<ContactId>,
}

impl Default for MemoryKeys {
    fn default() -> Self {
        Self { master: SecretKey::from_bytes([0x11; 32]), inner: Mutex::new(KeyTable::default()) }
    }
}

impl ContactKeys for MemoryKeys {
    fn blind_index_key(&self, partner: PartnerId) -> SecretKey {
        let mut bytes = *self.master.as_bytes();
        for (b, p) in bytes.iter_mut().zip(partner.0.as_bytes().iter().cycle()) {
            *b ^= p;
        }
        SecretKey::from_bytes(bytes)
    }

    fn data_key_for(&self, _partner: PartnerId, contact: ContactId) -> Result<(DataKeyId, SecretKey), KeyError> {
        let mut t = lock(&self.inner);
        if let Some(id) = t.live.get(&contact).copied() {
            if let Some((_, Some(key))) = t.keys.get(&id) {
                return Ok((id, key.clone()));
            }
        }
        let id = DataKeyId(Uuid::new_v4());
        let key = SecretKey::generate(&mut rand::rngs::OsRng);
        t.live.insert(contact, id);
        t.keys.insert(id, (contact, Some(key.clone())));
        Ok((id, key))
    }

    fn data_key(&self, id: DataKeyId) -> Result<Option<SecretKey>, KeyError> {
        Ok(lock(&self.inner).keys.get(&id).and_then(|(_, k)| k.clone()))
    }

    fn begin_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        lock(&self.inner).intents.insert(contact);
        Ok(())
    }

    fn destroy_contact_keys(&self, contact: ContactId) -> Result<usize, KeyError> {
        let mut t = lock(&self.inner);
        t.live.remove(&contact);
        t.intents.remove(&contact);
        let mut n = 0;
        for (owner, key) in t.keys.values_mut() {
            if *owner == contact && key.take().is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    fn pending_erasures(&self) -> Result<Vec<ContactId>, KeyError> {
        Ok(lock(&self.inner).intents.iter().copied().collect())
    }

    fn abandon_erasure(&self, contact: ContactId) -> Result<(), KeyError> {
        lock(&self.inner).intents.remove(&contact);
        Ok(())
    }
}

/// A ledger on in-memory ports: a fixed signing key and a clock that moves only when told.
pub fn ledger_at(now: laras_domain::time::Timestamp) -> crate::Ledger {
    crate::Ledger::new(
        std::sync::Arc::new(MemoryStore::default()),
        std::sync::Arc::new(MemoryKeys::default()),
        std::sync::Arc::new(crate::signer::LedgerSigner::new(laras_domain::signing::LedgerSigningKey::from_secret(
            [7; 32],
        ))),
        std::sync::Arc::new(laras_domain::time::ManualClock::at(now)),
    )
}

/// Onboards `partner` (approval mode, default pipeline) and connects one channel account.
pub async fn onboard_with_channel(
    ledger: &crate::Ledger,
    partner: PartnerId,
    channel: laras_domain::channel::ChannelKind,
    account: &str,
) -> Result<(), crate::CommandError> {
    use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
    let meta = crate::CommandMeta::system("test");
    let onboard = OnboardPartner {
        partner_id: partner,
        name: "Toko Laras".into(),
        approval: laras_domain::event::ApprovalMode::Approval,
        pipeline: default_pipeline(),
    };
    ledger.onboard_partner(onboard, &meta).await?;
    // Operator-seeded: no token, so no proof.
    let connect = ConnectChannel { channel, account_id: account.to_owned(), display_name: "Toko".into(), proof: None };
    let directory = crate::directory::ChannelDirectory::new(ledger.store.clone());
    directory.catch_up().await?;
    ledger.connect_channel(partner, connect, &directory, &meta).await?;
    Ok(())
}

/// A platform in memory that vouches for the tokens it was told about: `token` controls
/// `(channel, account)`. Any other token for a known account does not control it; a token
/// it never heard of is invalid (as Graph API error 190 says).
#[derive(Default)]
pub struct MemoryProver {
    grants: Mutex<Vec<(String, laras_domain::channel::ChannelKind, String)>>,
}

impl MemoryProver {
    pub fn grant(&self, token: &str, channel: laras_domain::channel::ChannelKind, account: &str) {
        lock(&self.grants).push((token.to_owned(), channel, account.to_owned()));
    }
}

#[async_trait::async_trait]
impl crate::account_proof::AccountProver for MemoryProver {
    async fn prove(
        &self,
        channel: laras_domain::channel::ChannelKind,
        account_id: &str,
        token: &crate::credentials::AccessToken,
    ) -> Result<laras_domain::event::AccountProof, crate::account_proof::ProofError> {
        let grants = lock(&self.grants);
        if grants.iter().any(|(t, c, a)| t == token.expose() && *c == channel && a == account_id) {
            Ok(laras_domain::event::AccountProof {
                account_id: account_id.to_owned(),
                name: Some(format!("account {account_id}")),
                phone_number: None,
            })
        } else if grants.iter().any(|(t, ..)| t == token.expose()) {
            Err(crate::account_proof::ProofError::NotControlled)
        } else {
            Err(crate::account_proof::ProofError::TokenInvalid { code: 190 })
        }
    }
}

/// API keys in memory: keys are `lrs_<n>_<secret>` with a counter, for tests only.
#[derive(Default)]
pub struct MemoryApiKeys {
    keys: Mutex<Vec<(crate::access::ApiKey, String, bool)>>,
}

impl crate::access::ApiKeys for MemoryApiKeys {
    fn create(
        &self,
        partner: PartnerId,
        role: crate::access::Role,
        label: &str,
    ) -> Result<(crate::access::ApiKey, crate::access::ApiKeySecret), crate::access::AccessError> {
        let mut keys = lock(&self.keys);
        let id = format!("lrs_{:016x}", keys.len());
        let secret = format!("{id}_{}", Uuid::new_v4().simple());
        let key = crate::access::ApiKey { id, partner, role, label: label.to_owned() };
        keys.push((key.clone(), secret.clone(), false));
        Ok((key, crate::access::ApiKeySecret::new(secret)))
    }

    fn authenticate(&self, presented: &str) -> Result<Option<crate::access::ApiKey>, crate::access::AccessError> {
        Ok(lock(&self.keys).iter().find(|(_, s, revoked)| s == presented && !revoked).map(|(k, ..)| k.clone()))
    }

    fn list(&self, partner: PartnerId) -> Result<Vec<crate::access::ApiKey>, crate::access::AccessError> {
        Ok(lock(&self.keys).iter().filter(|(k, _, r)| k.partner == partner && !r).map(|(k, ..)| k.clone()).collect())
    }

    fn revoke(&self, partner: PartnerId, id: &str) -> Result<bool, crate::access::AccessError> {
        let mut keys = lock(&self.keys);
        match keys.iter_mut().find(|(k, _, r)| k.partner == partner && k.id == id && !r) {
            Some(entry) => {
                entry.2 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Channel tokens in memory, for tests.
#[derive(Default)]
pub struct MemoryCredentials {
    tokens: Mutex<HashMap<(PartnerId, laras_domain::channel::ChannelKind), crate::credentials::AccessToken>>,
}

impl crate::credentials::ChannelCredentials for MemoryCredentials {
    fn store(
        &self,
        partner: PartnerId,
        channel: laras_domain::channel::ChannelKind,
        token: &crate::credentials::AccessToken,
    ) -> Result<(), crate::credentials::CredentialError> {
        crate::credentials::validate_token(token.expose())?;
        lock(&self.tokens).insert((partner, channel), token.clone());
        Ok(())
    }

    fn token(
        &self,
        partner: PartnerId,
        channel: laras_domain::channel::ChannelKind,
    ) -> Result<Option<crate::credentials::AccessToken>, crate::credentials::CredentialError> {
        Ok(lock(&self.tokens).get(&(partner, channel)).cloned())
    }

    fn remove(
        &self,
        partner: PartnerId,
        channel: laras_domain::channel::ChannelKind,
    ) -> Result<(), crate::credentials::CredentialError> {
        lock(&self.tokens).remove(&(partner, channel));
        Ok(())
    }
}

/// Merkle logs in memory, for tests.
#[derive(Default)]
pub struct MemoryTreeStore {
    inner: Mutex<MemoryTrees>,
}

#[derive(Default)]
struct MemoryTrees {
    checkpoint: u64,
    nodes: HashMap<(PartnerId, u32, u64), laras_domain::merkle::NodeHash>,
    leaves: BTreeMap<(PartnerId, u64), crate::audit::Leaf>,
    sizes: HashMap<PartnerId, u64>,
    heads: Vec<laras_domain::tree_head::TreeHead>,
    cosignatures: Vec<crate::cosignatures::NamedCosignature>,
}

impl crate::audit::TreeStore for MemoryTreeStore {
    fn checkpoint(&self) -> Result<u64, crate::audit::AuditError> {
        Ok(lock(&self.inner).checkpoint)
    }

    fn trees(&self) -> Result<HashMap<PartnerId, crate::audit::TreeState>, crate::audit::AuditError> {
        let t = lock(&self.inner);
        Ok(t.sizes
            .iter()
            .map(|(p, size)| {
                let head = t.heads.iter().rev().find(|h| h.partner == *p);
                let state = crate::audit::TreeState {
                    size: *size,
                    head_size: head.map_or(0, |h| h.tree_size),
                    head_at: head.map(|h| h.timestamp),
                };
                (*p, state)
            })
            .collect())
    }

    fn node(
        &self,
        partner: PartnerId,
        level: u32,
        index: u64,
    ) -> Result<Option<laras_domain::merkle::NodeHash>, crate::audit::AuditError> {
        Ok(lock(&self.inner).nodes.get(&(partner, level, index)).copied())
    }

    fn write(&self, batch: crate::audit::TreeBatch) -> Result<(), crate::audit::AuditError> {
        let mut t = lock(&self.inner);
        for (p, n) in batch.nodes {
            t.nodes.insert((p, n.level, n.index), n.hash);
        }
        for leaf in batch.leaves {
            t.sizes.insert(leaf.partner, leaf.index + 1);
            t.leaves.insert((leaf.partner, leaf.index), leaf);
        }
        t.heads.extend(batch.heads);
        t.checkpoint = batch.up_to;
        Ok(())
    }

    // One process holds this store: there is no other holder to fence out.
    fn store_head(
        &self,
        head: &laras_domain::tree_head::TreeHead,
        _fence: crate::runtime::Fence,
    ) -> Result<(), crate::audit::AuditError> {
        lock(&self.inner).heads.push(head.clone());
        Ok(())
    }

    fn heads(&self, partner: PartnerId) -> Result<Vec<laras_domain::tree_head::TreeHead>, crate::audit::AuditError> {
        Ok(lock(&self.inner).heads.iter().filter(|h| h.partner == partner).cloned().collect())
    }

    fn leaf_of_event(&self, partner: PartnerId, event: EventId) -> Result<Option<u64>, crate::audit::AuditError> {
        let t = lock(&self.inner);
        Ok(t.leaves.values().find(|l| l.partner == partner && l.event_id == event).map(|l| l.index))
    }

    fn leaves(
        &self,
        partner: PartnerId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<crate::audit::Leaf>, crate::audit::AuditError> {
        let t = lock(&self.inner);
        Ok(t.leaves.range((partner, from)..=(partner, u64::MAX)).take(limit).map(|(_, l)| l.clone()).collect())
    }

    fn store_cosignature(&self, named: &crate::cosignatures::NamedCosignature) -> Result<(), crate::audit::AuditError> {
        let mut t = lock(&self.inner);
        let c = &named.cosignature;
        let same = |o: &crate::cosignatures::NamedCosignature| {
            let o = &o.cosignature;
            (o.partner, o.tree_size, o.root_hash, o.witness) == (c.partner, c.tree_size, c.root_hash, c.witness)
        };
        match t.cosignatures.iter_mut().find(|o| same(o)) {
            Some(old) if old.cosignature.timestamp >= c.timestamp => {}
            Some(old) => *old = named.clone(),
            None => t.cosignatures.push(named.clone()),
        }
        Ok(())
    }

    fn cosignatures(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<crate::cosignatures::NamedCosignature>, crate::audit::AuditError> {
        let mut out: Vec<_> =
            lock(&self.inner).cosignatures.iter().filter(|c| c.cosignature.partner == partner).cloned().collect();
        out.sort_by_key(|c| (c.cosignature.tree_size, *c.cosignature.witness.as_bytes()));
        Ok(out)
    }
}

/// Appends to `stream` one event of `event_type` whose payload no version of Laras can
/// decode (a poison event, for the processes' tests), sealed and chained as the ledger
/// would. Answers its position.
pub async fn append_undecodable(
    ledger: &crate::Ledger,
    partner: PartnerId,
    stream: StreamId,
    event_type: &str,
) -> Result<Position, crate::CommandError> {
    use laras_domain::envelope::{canonical_bytes, Envelope, EnvelopeHeader};
    let head = ledger.store.stream_head(&stream).await?;
    let key = ledger.signer.active();
    let header = EnvelopeHeader {
        event_id: EventId(Uuid::now_v7()),
        partner_id: partner,
        stream_id: stream.clone(),
        stream_version: head.map_or(0, |h| h.version + 1),
        recorded_at: ledger.clock.now(),
        actor: laras_domain::actor::Actor::system("test"),
        causation_id: Uuid::nil(),
        correlation_id: Uuid::nil(),
        event_type: event_type.to_owned(),
        event_version: 1,
        key_id: key.id().clone(),
        prev_hash: head.map_or(ZERO_HASH, |h| h.hash),
    };
    let payload = b"{\"not\": [\"what this event type holds\"".to_vec();
    let bytes = canonical_bytes(&header, &payload).map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
    let signature = key.sign(&bytes);
    let expected = head.map_or(ExpectedVersion::NoStream, |h| ExpectedVersion::Exact(h.version));
    let write = StreamWrite { stream, partner, expected, envelopes: vec![Envelope { header, payload, signature }] };
    let outcome = ledger.store.append(AppendRequest { writes: vec![write] }).await?;
    outcome.last_position().ok_or_else(|| StoreError::InvalidAppend("nothing appended".into()).into())
}

#[cfg(test)]
mod contract {
    use super::MemoryStore;
    use crate::store::contract::StoreFixture;
    use crate::store::EventStore;
    use std::sync::Arc;

    struct Fixture(Arc<MemoryStore>);

    #[async_trait::async_trait]
    impl StoreFixture for Fixture {
        fn store(&self) -> Arc<dyn EventStore> {
            self.0.clone()
        }
        async fn reopen(&self) -> Option<Arc<dyn EventStore>> {
            None
        }
    }

    async fn open() -> Option<Fixture> {
        Some(Fixture(Arc::new(MemoryStore::default())))
    }

    crate::event_store_contract!(open);
}
