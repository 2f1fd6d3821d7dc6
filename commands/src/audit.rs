//! The per-Partner Merkle log and its signed tree heads.
//!
//! A process follows the log and appends each envelope's hash, as an RFC 9162 leaf, to
//! its Partner's tree in commit (position) order. The perfect subtrees each append
//! completes are stored with the process's checkpoint in one write, so after a restart
//! the tree continues from the stored nodes, never recomputed. Tree heads are signed
//! every `every_events` events or `every` time, and on demand.

use crate::cosignatures::NamedCosignature;
use crate::runtime::Fence;
use crate::signer::LedgerSigner;
use crate::store::{EventStore, Position, StoreError, StoredEnvelope};
use crate::subscription::Subscription;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root_at, CompletedNode, Frontier, MerkleError, NodeHash, NodeSource,
};
use laras_domain::time::{Clock, Span, Timestamp};
use laras_domain::tree_head::TreeHead;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the tree store failed: {0}")]
    Storage(String),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event at position {0} has no hash: {1}")]
    Envelope(Position, String),
    #[error("the Partner's log has no event {0}")]
    UnknownEvent(EventId),
    #[error("the Partner's log has {size} events; asked about {asked}")]
    BeyondTree { size: u64, asked: u64 },
    #[error("cosignature refused: {0}")]
    Cosignature(#[from] crate::cosignatures::CosignatureRefused),
    /// Another node holds the Merkle log's lease now: this node's write is refused, so a
    /// head is never signed twice for the same growth.
    #[error("the merkle log's lease has passed to another node; the write is refused")]
    Fenced,
}

/// The Merkle log's process name: its lease, status and metrics.
pub const PROCESS: &str = "merkle-log";

/// One leaf: which envelope it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub partner: PartnerId,
    pub index: u64,
    pub position: Position,
    pub event_id: EventId,
}

/// What one batch adds, written atomically with the checkpoint.
#[derive(Default)]
pub struct TreeBatch {
    pub up_to: Position,
    pub leaves: Vec<Leaf>,
    pub nodes: Vec<(PartnerId, CompletedNode)>,
    pub heads: Vec<TreeHead>,
    /// The lease token the write is made under ([`Fence::UNLEASED`] when no lease is
    /// held: a CLI catch-up, the server's on-demand heads).
    pub fence: Fence,
}

/// Storage of the Merkle logs (an adapter implements it).
pub trait TreeStore: Send + Sync + 'static {
    fn checkpoint(&self) -> Result<Position, AuditError>;
    /// Every Partner's tree size and the size and time of its latest signed head.
    fn trees(&self) -> Result<HashMap<PartnerId, TreeState>, AuditError>;
    fn node(&self, partner: PartnerId, level: u32, index: u64) -> Result<Option<NodeHash>, AuditError>;
    /// Writes the batch with its checkpoint in one transaction. A store that several
    /// nodes share refuses a batch whose fence is no longer the lease's
    /// ([`AuditError::Fenced`]); a store only one process can open has nothing to fence.
    fn write(&self, batch: TreeBatch) -> Result<(), AuditError>;
    /// Stores a signed head, fenced as [`TreeStore::write`] is.
    fn store_head(&self, head: &TreeHead, fence: Fence) -> Result<(), AuditError>;
    /// Heads of a Partner, oldest first.
    fn heads(&self, partner: PartnerId) -> Result<Vec<TreeHead>, AuditError>;
    fn leaf_of_event(&self, partner: PartnerId, event: EventId) -> Result<Option<u64>, AuditError>;
    /// Leaves `[from, from + limit)` of a Partner's tree.
    fn leaves(&self, partner: PartnerId, from: u64, limit: usize) -> Result<Vec<Leaf>, AuditError>;
    /// Keeps a witness's cosignature: one per witness and tree state, the latest kept.
    fn store_cosignature(&self, cosignature: &NamedCosignature) -> Result<(), AuditError>;
    /// A Partner's cosignatures, by tree size, then witness key.
    fn cosignatures(&self, partner: PartnerId) -> Result<Vec<NamedCosignature>, AuditError>;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeState {
    pub size: u64,
    pub head_size: u64,
    pub head_at: Option<Timestamp>,
}

/// Nodes of one Partner's tree, read from the store.
struct PartnerNodes<'a> {
    store: &'a dyn TreeStore,
    partner: PartnerId,
}

impl NodeSource for PartnerNodes<'_> {
    fn node(&self, level: u32, index: u64) -> Result<NodeHash, MerkleError> {
        match self.store.node(self.partner, level, index) {
            Ok(Some(hash)) => Ok(hash),
            _ => Err(MerkleError::MissingNode { level, index }),
        }
    }
}

/// When tree heads are signed without being asked.
#[derive(Clone, Copy, Debug)]
pub struct HeadPolicy {
    pub every_events: u64,
    pub every: Span,
}

impl Default for HeadPolicy {
    fn default() -> Self {
        Self { every_events: 1_000, every: Span(60_000) }
    }
}

/// An inclusion proof of one event in a tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: NodeHash,
    pub path: Vec<NodeHash>,
}

#[derive(Clone)]
pub struct MerkleLog {
    pub store: Arc<dyn EventStore>,
    pub trees: Arc<dyn TreeStore>,
    pub signer: Arc<LedgerSigner>,
    pub clock: Arc<dyn Clock>,
    pub policy: HeadPolicy,
}

impl MerkleLog {
    fn nodes(&self, partner: PartnerId) -> PartnerNodes<'_> {
        PartnerNodes { store: self.trees.as_ref(), partner }
    }

    fn sign(&self, partner: PartnerId, size: u64) -> Result<TreeHead, AuditError> {
        let root = root_at(&self.nodes(partner), size)?;
        Ok(TreeHead::sign(partner, size, root, self.clock.now(), &self.signer.active()))
    }

    /// Signs and stores a head for the Partner's tree as it is now.
    pub fn issue_head(&self, partner: PartnerId) -> Result<TreeHead, AuditError> {
        let size = self.trees.trees()?.get(&partner).map_or(0, |t| t.size);
        let head = self.sign(partner, size)?;
        // Asked for by a caller on any node: a head of the tree as it is, not the lease's.
        self.trees.store_head(&head, Fence::UNLEASED)?;
        Ok(head)
    }

    /// The root of the Partner's tree at `size` leaves, from the stored nodes.
    pub fn root(&self, partner: PartnerId, size: u64) -> Result<NodeHash, AuditError> {
        Ok(root_at(&self.nodes(partner), size)?)
    }

    pub fn latest_head(&self, partner: PartnerId) -> Result<Option<TreeHead>, AuditError> {
        Ok(self.trees.heads(partner)?.pop())
    }

    pub fn inclusion(&self, partner: PartnerId, event: EventId, tree_size: u64) -> Result<InclusionProof, AuditError> {
        let index = self.trees.leaf_of_event(partner, event)?.ok_or(AuditError::UnknownEvent(event))?;
        let size = self.trees.trees()?.get(&partner).map_or(0, |t| t.size);
        if tree_size > size {
            return Err(AuditError::BeyondTree { size, asked: tree_size });
        }
        let nodes = self.nodes(partner);
        let path = inclusion_proof(&nodes, index, tree_size)?;
        Ok(InclusionProof { leaf_index: index, tree_size, leaf_hash: nodes.node(0, index)?, path })
    }

    pub fn consistency(&self, partner: PartnerId, first: u64, second: u64) -> Result<Vec<NodeHash>, AuditError> {
        let size = self.trees.trees()?.get(&partner).map_or(0, |t| t.size);
        if second > size {
            return Err(AuditError::BeyondTree { size, asked: second });
        }
        Ok(consistency_proof(&self.nodes(partner), first, second)?)
    }

    /// Adds a batch of the log to the trees; signs heads the policy asks for.
    fn apply(
        &self,
        batch: &[StoredEnvelope],
        frontiers: &mut HashMap<PartnerId, Frontier>,
        trees: &mut HashMap<PartnerId, TreeState>,
        fence: Fence,
    ) -> Result<(), AuditError> {
        let Some(up_to) = batch.last().map(|s| s.position) else { return Ok(()) };
        let mut out = TreeBatch { up_to, fence, ..TreeBatch::default() };
        for stored in batch {
            let partner = stored.envelope.header.partner_id;
            let hash = stored.envelope.hash().map_err(|e| AuditError::Envelope(stored.position, e.to_string()))?;
            let frontier = match frontiers.entry(partner) {
                std::collections::hash_map::Entry::Occupied(f) => f.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let size = trees.get(&partner).map_or(0, |t| t.size);
                    v.insert(Frontier::restore(size, &self.nodes(partner))?)
                }
            };
            out.leaves.push(Leaf {
                partner,
                index: frontier.size(),
                position: stored.position,
                event_id: stored.envelope.header.event_id,
            });
            out.nodes.extend(frontier.push(leaf_hash(&hash)).into_iter().map(|n| (partner, n)));
            let state = trees.entry(partner).or_default();
            state.size = frontier.size();
            // Heads are signed over the frontier's root, which equals the stored tree's.
            let now = self.clock.now();
            if self.due(state, now) {
                let head = TreeHead::sign(partner, frontier.size(), frontier.root(), now, &self.signer.active());
                (state.head_size, state.head_at) = (head.tree_size, Some(now));
                out.heads.push(head);
            }
        }
        self.trees.write(out)
    }

    fn due(&self, state: &TreeState, now: Timestamp) -> bool {
        let grown = state.size - state.head_size.min(state.size);
        grown >= self.policy.every_events
            || (grown > 0 && state.head_at.is_none_or(|at| now.0 - at.0 >= self.policy.every.0))
    }

    /// Follows the log until `stop` resolves, writing under the lease's `fence`.
    pub async fn run(self, fence: Fence, stop: impl Future<Output = ()>) -> Result<(), AuditError> {
        tokio::pin!(stop);
        let mut trees = self.trees.trees()?;
        let mut frontiers = HashMap::new();
        let mut subscription = Subscription::new(self.store.clone(), self.trees.checkpoint()?, 2_000);
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis(self.policy.every.0.clamp(100, 60_000) as u64));
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                batch = subscription.next_batch() => self.apply(&batch?, &mut frontiers, &mut trees, fence)?,
                _ = tick.tick() => {
                    // Time-based heads for trees that grew but got no head by count.
                    let now = self.clock.now();
                    for (partner, state) in trees.iter_mut() {
                        if self.due(state, now) {
                            let head = self.sign(*partner, state.size)?;
                            self.trees.store_head(&head, fence)?;
                            (state.head_size, state.head_at) = (head.tree_size, Some(now));
                        }
                    }
                }
            }
        }
    }

    /// Applies everything up to the log's head (tests and CLI commands).
    pub async fn catch_up(&self) -> Result<(), AuditError> {
        let mut trees = self.trees.trees()?;
        let mut frontiers = HashMap::new();
        let mut after = self.trees.checkpoint()?;
        loop {
            let batch = self.store.read_all(after, 2_000).await?;
            let Some(last) = batch.last().map(|s| s.position) else { return Ok(()) };
            self.apply(&batch, &mut frontiers, &mut trees, Fence::UNLEASED)?;
            after = last;
        }
    }
}
