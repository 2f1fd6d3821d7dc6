//! Cosignatures witnesses send for a Partner's tree heads (ADR 013). Laras keeps one
//! only when a witness the Partner registered signed it, over a tree state Laras itself
//! signed a head for; it serves them with each head and puts them in export bundles.

use crate::audit::{AuditError, MerkleLog};
use laras_domain::cosignature::{Cosignature, WitnessKey};
use laras_domain::ids::PartnerId;
use laras_domain::tree_head::TreeHead;

/// A cosignature as kept: with the name its witness was registered under (the note
/// signature line and its key id need it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedCosignature {
    pub witness_name: String,
    pub cosignature: Cosignature,
}

impl NamedCosignature {
    /// Whether this cosigns the tree state `head` carries.
    pub fn covers(&self, head: &TreeHead) -> bool {
        let c = &self.cosignature;
        c.partner == head.partner && c.tree_size == head.tree_size && c.root_hash == head.root_hash
    }
}

/// Why a cosignature was not kept. Each is the sender's mistake (or a forgery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureRefused {
    #[error("the key is not a witness this Partner registered")]
    UnknownWitness,
    #[error("no tree head of size {tree_size} with that root was signed for this Partner")]
    NoSuchHead { tree_size: u64 },
    #[error("the signature does not verify under the witness key")]
    BadSignature,
    #[error("the cosignature's time is more than {0} s ahead of this server's clock")]
    FromTheFuture(u64),
}

/// How far ahead of our clock a witness's clock may be.
pub const MAX_CLOCK_SKEW_S: u64 = 600;

impl MerkleLog {
    /// Checks `cosignature` against the Partner's registered `witnesses` and its signed
    /// heads, then stores it (a later cosignature of the same state by the same witness
    /// replaces an earlier one).
    pub fn accept_cosignature(
        &self,
        witnesses: &[WitnessKey],
        cosignature: Cosignature,
    ) -> Result<NamedCosignature, AuditError> {
        let witness =
            witnesses.iter().find(|w| w.public == cosignature.witness).ok_or(CosignatureRefused::UnknownWitness)?;
        let now_s = u64::try_from(self.clock.now().0 / 1_000).unwrap_or(0);
        if cosignature.timestamp > now_s + MAX_CLOCK_SKEW_S {
            return Err(CosignatureRefused::FromTheFuture(MAX_CLOCK_SKEW_S).into());
        }
        if !cosignature.verify() {
            return Err(CosignatureRefused::BadSignature.into());
        }
        let signed = self
            .trees
            .heads(cosignature.partner)?
            .iter()
            .any(|h| h.tree_size == cosignature.tree_size && h.root_hash == cosignature.root_hash);
        if !signed {
            return Err(CosignatureRefused::NoSuchHead { tree_size: cosignature.tree_size }.into());
        }
        let named = NamedCosignature { witness_name: witness.name.clone(), cosignature };
        self.trees.store_cosignature(&named)?;
        Ok(named)
    }

    /// The cosignatures of the tree state `head` carries.
    pub fn cosignatures_of(&self, head: &TreeHead) -> Result<Vec<NamedCosignature>, AuditError> {
        Ok(self.trees.cosignatures(head.partner)?.into_iter().filter(|c| c.covers(head)).collect())
    }

    /// Every cosignature of the Partner's heads.
    pub fn all_cosignatures(&self, partner: PartnerId) -> Result<Vec<NamedCosignature>, AuditError> {
        self.trees.cosignatures(partner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryStore, MemoryTreeStore};
    use crate::signer::LedgerSigner;
    use laras_domain::signing::LedgerSigningKey;
    use laras_domain::time::{ManualClock, Timestamp};
    use std::sync::Arc;
    use uuid::Uuid;

    const PARTNER: PartnerId = PartnerId(Uuid::from_u128(1));
    const NOW_MS: i64 = 1_767_225_600_000;

    fn merkle_log() -> MerkleLog {
        let key = LedgerSigningKey::from_secret([1; 32]);
        MerkleLog {
            store: Arc::new(MemoryStore::default()),
            trees: Arc::new(MemoryTreeStore::default()),
            signer: Arc::new(LedgerSigner::new(key)),
            clock: Arc::new(ManualClock::at(Timestamp(NOW_MS))),
            policy: Default::default(),
        }
    }

    fn witness(seed: u8) -> (ed25519_dalek::SigningKey, WitnessKey) {
        let secret = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let public = WitnessKey::new(&format!("w{seed}.example"), secret.verifying_key()).unwrap();
        (secret, public)
    }

    fn head(log: &MerkleLog) -> TreeHead {
        let head = TreeHead::sign(PARTNER, 3, [7; 32], Timestamp(NOW_MS), &LedgerSigningKey::from_secret([1; 32]));
        log.trees.store_head(&head, crate::runtime::Fence::UNLEASED).unwrap();
        head
    }

    fn refused(result: Result<NamedCosignature, AuditError>) -> CosignatureRefused {
        match result {
            Err(AuditError::Cosignature(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_registered_witness_cosigning_a_signed_head_is_kept_and_served_with_it() {
        let log = merkle_log();
        let head = head(&log);
        let (secret, public) = witness(2);
        let c = Cosignature::sign(PARTNER, 3, head.root_hash, NOW_MS as u64 / 1000, &secret);
        let kept = log.accept_cosignature(std::slice::from_ref(&public), c.clone()).unwrap();
        assert_eq!(kept.witness_name, "w2.example");
        assert_eq!(log.cosignatures_of(&head).unwrap(), vec![kept]);
        // Sent twice: kept once.
        log.accept_cosignature(&[public], c).unwrap();
        assert_eq!(log.cosignatures_of(&head).unwrap().len(), 1);
    }

    #[test]
    fn cosignatures_that_prove_nothing_are_refused_and_nothing_is_kept() {
        let log = merkle_log();
        let head = head(&log);
        let (secret, public) = witness(2);
        let (stranger, _) = witness(3);
        let now = NOW_MS as u64 / 1000;
        let registered = std::slice::from_ref(&public);
        let by_stranger = Cosignature::sign(PARTNER, 3, head.root_hash, now, &stranger);
        assert_eq!(refused(log.accept_cosignature(registered, by_stranger)), CosignatureRefused::UnknownWitness);
        let other_root = Cosignature::sign(PARTNER, 3, [8; 32], now, &secret);
        assert_eq!(
            refused(log.accept_cosignature(registered, other_root)),
            CosignatureRefused::NoSuchHead { tree_size: 3 }
        );
        let mut forged = Cosignature::sign(PARTNER, 3, head.root_hash, now, &secret);
        forged.signature[40] ^= 1;
        assert_eq!(refused(log.accept_cosignature(registered, forged)), CosignatureRefused::BadSignature);
        let ahead = Cosignature::sign(PARTNER, 3, head.root_hash, now + MAX_CLOCK_SKEW_S + 1, &secret);
        assert!(matches!(refused(log.accept_cosignature(registered, ahead)), CosignatureRefused::FromTheFuture(_)));
        assert!(log.all_cosignatures(PARTNER).unwrap().is_empty());
    }
}
