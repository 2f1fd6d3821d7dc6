//! The whole-history proofs for owners and auditors: signed tree heads, inclusion and
//! consistency proofs (RFC 9162), and the Partner's envelopes in leaf order.

use super::api;
use super::types::{parse_id, time};
use crate::auth::{partner_in, AUDIT};
use crate::error::{ApiError, Code, OrApi};
use async_graphql::{Context, Object, SimpleObject, ID};
use laras_commands::audit::{AuditError, MerkleLog};
use laras_commands::cosignatures::NamedCosignature;
use laras_domain::event::DomainEvent;
use laras_domain::ids::EventId;
use laras_domain::stream::StreamId;
use laras_domain::tree_head;

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::UnknownEvent(_) => ApiError::not_found(),
            AuditError::BeyondTree { .. } | AuditError::Merkle(_) | AuditError::Cosignature(_) => {
                ApiError::bad_input(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "the Merkle log failed");
                ApiError::new(Code::Internal, "the Merkle log failed; see the server log")
            }
        }
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    ctx: &Context<'_>,
    f: impl FnOnce(&MerkleLog) -> Result<T, AuditError> + Send + 'static,
) -> async_graphql::Result<T> {
    let log = api(ctx).audit.clone();
    tokio::task::spawn_blocking(move || f(&log))
        .await
        .map_err(|_| ApiError::new(Code::Internal, "cancelled").into_graphql())?
        .api()
}

/// A signed tree head; `signedBytes` is exactly what the signature covers (docs/audit-format.md §7).
#[derive(SimpleObject)]
pub struct TreeHead {
    pub tree_size: u64,
    /// Hex.
    pub root_hash: String,
    pub timestamp: String,
    pub timestamp_ms: i64,
    pub key_id: String,
    /// Hex of the 64-byte Ed25519 signature.
    pub signature: String,
    /// Hex.
    pub signed_bytes: String,
    /// The C2SP checkpoint body a witness cosigns: origin `laras/partner/<id>`, size and
    /// base64 root, each on its own line (docs/audit-format.md §8).
    pub checkpoint: String,
    /// Cosignatures of this tree state by the witnesses the Partner registered.
    pub cosignatures: Vec<super::witnesses::CosignatureView>,
}

impl TreeHead {
    /// The head with the cosignatures among `all` that cover its tree state.
    pub fn with(h: tree_head::TreeHead, all: &[NamedCosignature]) -> Self {
        let cosignatures = all.iter().filter(|c| c.covers(&h)).map(Into::into).collect();
        Self { cosignatures, ..h.into() }
    }
}

impl From<tree_head::TreeHead> for TreeHead {
    fn from(h: tree_head::TreeHead) -> Self {
        Self {
            checkpoint: laras_domain::cosignature::checkpoint_body(h.partner, h.tree_size, &h.root_hash),
            cosignatures: Vec::new(),
            tree_size: h.tree_size,
            root_hash: hex::encode(h.root_hash),
            timestamp: time(h.timestamp),
            timestamp_ms: h.timestamp.0,
            key_id: h.key_id.as_str().to_owned(),
            signature: hex::encode(h.signature),
            signed_bytes: hex::encode(h.signed_bytes()),
        }
    }
}

#[derive(SimpleObject)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// SHA-256(0x00 ‖ envelope hash), hex.
    pub leaf_hash: String,
    /// RFC 9162 audit path, leaf to root, hex.
    pub path: Vec<String>,
}

#[derive(SimpleObject)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// RFC 9162 consistency proof, hex.
    pub path: Vec<String>,
}

#[derive(SimpleObject)]
pub struct LedgerEnvelope {
    pub leaf_index: u64,
    pub position: u64,
    pub event_id: ID,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub recorded_at: String,
    pub key_id: String,
    /// SHA-256 of the canonical bytes, hex.
    pub hash: String,
    pub prev_hash: String,
    pub signature: String,
    /// The canonical bytes (docs/audit-format.md §1.1), hex.
    pub canonical_bytes: String,
}

/// A key that signed the ledger, as the `signing-keys` stream introduced it (docs/audit-format.md §3).
#[derive(SimpleObject)]
pub struct SigningKey {
    /// `ed25519:` and the first 8 bytes of SHA-256 of the public key, hex.
    pub key_id: String,
    /// The raw 32-byte Ed25519 public key, hex.
    pub public_key: String,
    /// The key that endorsed this one; null for the first key.
    pub previous: Option<String>,
    /// When the key was introduced: it signs from then on.
    pub valid_from_ms: i64,
    /// When its successor was introduced; null for the current key.
    pub valid_until_ms: Option<i64>,
}

#[derive(Default)]
pub struct ProofQueries;

#[Object]
impl ProofQueries {
    /// The latest signed tree head, or a new one for the tree as it is now (`fresh: true`).
    async fn tree_head(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] fresh: bool,
    ) -> async_graphql::Result<Option<TreeHead>> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let found = blocking(ctx, move |log| {
            let head = if fresh { log.issue_head(partner).map(Some) } else { log.latest_head(partner) }?;
            Ok((head, log.all_cosignatures(partner)?))
        })
        .await?;
        let (head, cosignatures) = found;
        Ok(head.map(|h| TreeHead::with(h, &cosignatures)))
    }

    /// Every signed tree head of the Partner, oldest first.
    async fn tree_heads(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TreeHead>> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let (heads, cosignatures) =
            blocking(ctx, move |log| Ok((log.trees.heads(partner)?, log.all_cosignatures(partner)?))).await?;
        Ok(heads.into_iter().map(|h| TreeHead::with(h, &cosignatures)).collect())
    }

    /// Every key the ledger was signed with, oldest first. Served by the ledger itself, so
    /// checking a head with one proves integrity, not origin: an auditor compares it
    /// with the key obtained out of band (`laras keys`, the Partner).
    async fn signing_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SigningKey>> {
        partner_in(ctx, AUDIT)?;
        let stored =
            api(ctx).ledger.store.read_stream(&StreamId::signing_keys(), 0).await.map_err(AuditError::from).api()?;
        let mut keys: Vec<SigningKey> = Vec::new();
        for s in stored {
            // The stream holds only key events (§3); anything else there is not a key.
            let Ok(DomainEvent::SigningKeyRotated { key_id, public_key, previous }) = s.envelope.event() else {
                continue;
            };
            let at = s.envelope.header.recorded_at.0;
            if let Some(last) = keys.last_mut() {
                last.valid_until_ms = Some(at);
            }
            keys.push(SigningKey { key_id, public_key, previous, valid_from_ms: at, valid_until_ms: None });
        }
        Ok(keys)
    }

    /// Proof that an event is in the tree of `treeSize` leaves.
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        tree_size: u64,
    ) -> async_graphql::Result<InclusionProof> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let event = parse_id::<EventId>("eventId", &event_id).api()?;
        let p = blocking(ctx, move |log| log.inclusion(partner, event, tree_size)).await?;
        Ok(InclusionProof {
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            leaf_hash: hex::encode(p.leaf_hash),
            path: p.path.iter().map(hex::encode).collect(),
        })
    }

    /// Proof that the tree of `second` leaves extends the tree of `first` leaves.
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        first: u64,
        second: u64,
    ) -> async_graphql::Result<ConsistencyProof> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let path = blocking(ctx, move |log| log.consistency(partner, first, second)).await?;
        Ok(ConsistencyProof { first, second, path: path.iter().map(hex::encode).collect() })
    }

    /// The Partner's envelopes in leaf order, from leaf `from`.
    async fn envelopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] from: u64,
        #[graphql(default = 100)] first: i64,
    ) -> async_graphql::Result<Vec<LedgerEnvelope>> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let limit = super::types::page_size(first, api(ctx).limits.max_page).api()?;
        let leaves = blocking(ctx, move |log| log.trees.leaves(partner, from, limit)).await?;
        let store = &api(ctx).ledger.store;
        let mut out = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            let found = store.read_all(leaf.position.saturating_sub(1), 1).await.map_err(AuditError::from).api()?;
            let Some(stored) = found.into_iter().next() else { continue };
            let h = &stored.envelope.header;
            out.push(LedgerEnvelope {
                leaf_index: leaf.index,
                position: stored.position,
                event_id: ID(h.event_id.to_string()),
                stream_id: h.stream_id.to_string(),
                stream_version: h.stream_version,
                event_type: h.event_type.clone(),
                recorded_at: time(h.recorded_at),
                key_id: h.key_id.as_str().to_owned(),
                hash: stored.envelope.hash().map(hex::encode).unwrap_or_default(),
                prev_hash: hex::encode(h.prev_hash),
                signature: hex::encode(stored.envelope.signature),
                canonical_bytes: stored.envelope.canonical_bytes().map(hex::encode).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
