//! Signed tree heads: a Partner's Merkle log at one size, signed by the ledger key.
//!
//! Signed bytes (docs/audit-format.md §7):
//!
//! ```text
//! "LARASTH1" (8 bytes) ‖ partner id (16) ‖ tree size (u64 BE) ‖ root hash (32)
//!   ‖ timestamp ms (i64 BE) ‖ key id length (u16 BE) ‖ key id (UTF-8)
//! ```

use crate::ids::PartnerId;
use crate::merkle::NodeHash;
use crate::signing::{KeyId, LedgerSigningKey};
use crate::time::Timestamp;
use ed25519_dalek::VerifyingKey;

pub const TREE_HEAD_MAGIC: &[u8; 8] = b"LARASTH1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub partner: PartnerId,
    pub tree_size: u64,
    pub root_hash: NodeHash,
    pub timestamp: Timestamp,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

/// The bytes a tree head's signature covers.
pub fn tree_head_bytes(
    partner: PartnerId,
    tree_size: u64,
    root_hash: &NodeHash,
    timestamp: Timestamp,
    key_id: &KeyId,
) -> Vec<u8> {
    let id = key_id.as_str().as_bytes();
    let mut out = Vec::with_capacity(8 + 16 + 8 + 32 + 8 + 2 + id.len());
    out.extend_from_slice(TREE_HEAD_MAGIC);
    out.extend_from_slice(&partner.to_bytes());
    out.extend_from_slice(&tree_size.to_be_bytes());
    out.extend_from_slice(root_hash);
    out.extend_from_slice(&timestamp.0.to_be_bytes());
    // Key ids are short ASCII (`ed25519:` + 16 hex); the length always fits.
    out.extend_from_slice(&(id.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(id);
    out
}

impl TreeHead {
    /// Signs the head of `partner`'s log at `tree_size` with `root_hash`.
    pub fn sign(
        partner: PartnerId,
        tree_size: u64,
        root_hash: NodeHash,
        timestamp: Timestamp,
        key: &LedgerSigningKey,
    ) -> Self {
        let bytes = tree_head_bytes(partner, tree_size, &root_hash, timestamp, key.id());
        Self { partner, tree_size, root_hash, timestamp, key_id: key.id().clone(), signature: key.sign(&bytes) }
    }

    pub fn signed_bytes(&self) -> Vec<u8> {
        tree_head_bytes(self.partner, self.tree_size, &self.root_hash, self.timestamp, &self.key_id)
    }

    /// True when the signature is `public`'s over this head's bytes (strict verification).
    pub fn verify(&self, public: &VerifyingKey) -> bool {
        crate::signing::verify_signature(public, &self.signed_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn head() -> (TreeHead, LedgerSigningKey) {
        let key = LedgerSigningKey::from_secret([3; 32]);
        (TreeHead::sign(PartnerId(Uuid::from_u128(7)), 42, [9; 32], Timestamp(1_767_225_600_000), &key), key)
    }

    #[test]
    fn the_signed_bytes_are_laid_out_as_specified() {
        let (h, _) = head();
        let bytes = h.signed_bytes();
        assert_eq!(&bytes[..8], b"LARASTH1");
        assert_eq!(&bytes[8..24], &Uuid::from_u128(7).into_bytes());
        assert_eq!(&bytes[24..32], &42u64.to_be_bytes());
        assert_eq!(&bytes[32..64], &[9; 32]);
        assert_eq!(&bytes[64..72], &1_767_225_600_000i64.to_be_bytes());
        let id = h.key_id.as_str().as_bytes();
        assert_eq!(&bytes[72..74], &(id.len() as u16).to_be_bytes());
        assert_eq!(&bytes[74..], id);
    }

    #[test]
    fn a_head_verifies_under_its_key_only() {
        let (h, key) = head();
        assert!(h.verify(&key.public()));
        assert!(!h.verify(&LedgerSigningKey::from_secret([4; 32]).public()));
    }

    proptest! {
        #[test]
        fn any_changed_field_breaks_the_signature(size in any::<u64>(), root in any::<[u8; 32]>(), ts in any::<i64>(), bit in 0usize..256) {
            let key = LedgerSigningKey::from_secret([5; 32]);
            let h = TreeHead::sign(PartnerId(Uuid::from_u128(1)), size, root, Timestamp(ts), &key);
            prop_assert!(h.verify(&key.public()));
            let mut forged = h.clone();
            forged.root_hash[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!forged.verify(&key.public()));
            let mut forged = h.clone();
            forged.tree_size = size.wrapping_add(1);
            prop_assert!(!forged.verify(&key.public()));
            let mut forged = h;
            forged.timestamp = Timestamp(ts.wrapping_add(1));
            prop_assert!(!forged.verify(&key.public()));
        }
    }
}
