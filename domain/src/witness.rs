//! What a witness may cosign (ADR 013): a head signed by the log's key that extends,
//! by a verified consistency proof, the last head it cosigned. Pure: the `laras witness`
//! process fetches the head and the proof and keeps the state; this decides.

use crate::ids::PartnerId;
use crate::merkle::{verify_consistency, NodeHash};
use crate::signing::KeyId;
use crate::tree_head::TreeHead;
use ed25519_dalek::VerifyingKey;

/// The last tree state a witness cosigned for one Partner's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cosigned {
    pub tree_size: u64,
    pub root_hash: NodeHash,
}

/// What to do with a head that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The head extends (or equals) what was cosigned: cosign it and keep it as the new state.
    Cosign,
    /// An older state of the same log (a consistency proof shows the cosigned head extends
    /// it): nothing new to cosign.
    Stale,
}

/// Why a witness refuses a head. The `Fork` cases are evidence of a split view.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the head is signed by key {0}, which is not one of the log keys this witness was given")]
    UnknownLogKey(KeyId),
    #[error("the head's signature does not verify under the log key {0}")]
    BadHeadSignature(KeyId),
    #[error("the head is of Partner {found}, not of Partner {expected} that this witness follows")]
    OtherPartner { expected: PartnerId, found: PartnerId },
    #[error(
        "FORK: a head of size {tree_size} with root {} differs from the cosigned root {} of the same size",
        hex::encode(offered),
        hex::encode(cosigned)
    )]
    ForkSameSize { tree_size: u64, cosigned: NodeHash, offered: NodeHash },
    #[error("FORK: no valid consistency proof between the cosigned head of size {cosigned} and the offered head of size {offered}")]
    ForkNotExtension { cosigned: u64, offered: u64 },
}

impl Refusal {
    /// A refusal that proves the log showed two incompatible histories.
    pub fn is_fork(&self) -> bool {
        matches!(self, Self::ForkSameSize { .. } | Self::ForkNotExtension { .. })
    }
}

/// The consistency proof the witness must fetch before judging `head`: `(first, second)`
/// sizes, or None when the sizes alone decide.
pub fn proof_needed(last: Option<&Cosigned>, head: &TreeHead) -> Option<(u64, u64)> {
    let last = last?;
    let (small, large) = if head.tree_size >= last.tree_size {
        (last.tree_size, head.tree_size)
    } else {
        (head.tree_size, last.tree_size)
    };
    (small > 0 && small < large).then_some((small, large))
}

/// Judges `head` of `partner`'s log against the last cosigned state, given the log's
/// keys and the consistency proof [`proof_needed`] named (empty when none).
pub fn judge(
    partner: PartnerId,
    last: Option<&Cosigned>,
    head: &TreeHead,
    log_keys: &[VerifyingKey],
    proof: &[NodeHash],
) -> Result<Verdict, Refusal> {
    if head.partner != partner {
        return Err(Refusal::OtherPartner { expected: partner, found: head.partner });
    }
    let key = log_keys
        .iter()
        .find(|k| KeyId::of(k) == head.key_id)
        .ok_or_else(|| Refusal::UnknownLogKey(head.key_id.clone()))?;
    if !head.verify(key) {
        return Err(Refusal::BadHeadSignature(head.key_id.clone()));
    }
    // Trust on first use: the first head a witness sees is its starting point.
    let Some(last) = last else { return Ok(Verdict::Cosign) };
    let (size, root) = (head.tree_size, head.root_hash);
    let fork = || Refusal::ForkNotExtension { cosigned: last.tree_size, offered: size };
    if size == last.tree_size {
        return if root == last.root_hash {
            Ok(Verdict::Cosign)
        } else {
            Err(Refusal::ForkSameSize { tree_size: size, cosigned: last.root_hash, offered: root })
        };
    }
    if size > last.tree_size {
        if last.tree_size > 0 {
            verify_consistency(last.tree_size, size, &last.root_hash, &root, proof).map_err(|_| fork())?;
        }
        return Ok(Verdict::Cosign);
    }
    if size > 0 {
        verify_consistency(size, last.tree_size, &root, &last.root_hash, proof).map_err(|_| fork())?;
    } else if root != crate::merkle::empty_root() {
        return Err(fork());
    }
    Ok(Verdict::Stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, leaf_hash, Frontier, LevelNodes};
    use crate::signing::LedgerSigningKey;
    use crate::time::Timestamp;
    use proptest::prelude::*;
    use uuid::Uuid;

    const PARTNER: PartnerId = PartnerId(Uuid::from_u128(7));

    fn log_key() -> LedgerSigningKey {
        LedgerSigningKey::from_secret([5; 32])
    }

    /// A log of `leaves` leaves (leaf i is `[seed ^ i; 32]`), with its stored nodes.
    struct Log {
        nodes: LevelNodes,
        roots: Vec<NodeHash>,
    }

    fn log(leaves: u64, seed: u8) -> Log {
        let (mut frontier, mut nodes) = (Frontier::default(), LevelNodes::default());
        let mut roots = vec![crate::merkle::empty_root()];
        for i in 0..leaves {
            nodes.extend(frontier.push(leaf_hash(&[seed ^ i as u8; 32])));
            roots.push(frontier.root());
        }
        Log { nodes, roots }
    }

    impl Log {
        fn head(&self, size: u64) -> TreeHead {
            TreeHead::sign(PARTNER, size, self.roots[size as usize], Timestamp(1), &log_key())
        }
        fn proof(&self, pair: Option<(u64, u64)>) -> Vec<NodeHash> {
            pair.map(|(a, b)| consistency_proof(&self.nodes, a, b).unwrap()).unwrap_or_default()
        }
        fn judge(&self, last: Option<Cosigned>, head: &TreeHead) -> Result<Verdict, Refusal> {
            let proof = self.proof(proof_needed(last.as_ref(), head));
            judge(PARTNER, last.as_ref(), head, &[log_key().public()], &proof)
        }
    }

    fn state(log: &Log, size: u64) -> Cosigned {
        Cosigned { tree_size: size, root_hash: log.roots[size as usize] }
    }

    #[test]
    fn the_first_head_is_cosigned() {
        let l = log(3, 0);
        assert_eq!(l.judge(None, &l.head(3)), Ok(Verdict::Cosign));
    }

    #[test]
    fn a_head_extending_the_cosigned_one_is_cosigned() {
        let l = log(9, 0);
        assert_eq!(l.judge(Some(state(&l, 3)), &l.head(9)), Ok(Verdict::Cosign));
        assert_eq!(l.judge(Some(state(&l, 9)), &l.head(9)), Ok(Verdict::Cosign));
    }

    #[test]
    fn an_older_head_of_the_same_log_is_stale() {
        let l = log(9, 0);
        assert_eq!(l.judge(Some(state(&l, 9)), &l.head(4)), Ok(Verdict::Stale));
    }

    #[test]
    fn two_different_heads_of_one_size_are_a_fork() {
        let (honest, forked) = (log(5, 0), log(5, 0x80));
        let refused = honest.judge(Some(state(&honest, 5)), &forked.head(5)).unwrap_err();
        assert!(matches!(refused, Refusal::ForkSameSize { tree_size: 5, .. }));
        assert!(refused.is_fork());
    }

    #[test]
    fn a_head_not_extending_the_cosigned_one_is_a_fork_whatever_proof_the_server_sends() {
        let (honest, forked) = (log(4, 0), log(8, 0x80));
        // The forked log's own proof from its size-4 tree does not start at the cosigned root.
        let refused = forked.judge(Some(state(&honest, 4)), &forked.head(8)).unwrap_err();
        assert_eq!(refused, Refusal::ForkNotExtension { cosigned: 4, offered: 8 });
        // Nor does an empty or made-up proof.
        let refused = judge(PARTNER, Some(&state(&honest, 4)), &forked.head(8), &[log_key().public()], &[]);
        assert!(refused.unwrap_err().is_fork());
    }

    #[test]
    fn a_head_not_signed_by_a_given_log_key_is_refused() {
        let l = log(3, 0);
        let other = LedgerSigningKey::from_secret([6; 32]);
        let head = TreeHead::sign(PARTNER, 3, l.roots[3], Timestamp(1), &other);
        assert_eq!(l.judge(None, &head), Err(Refusal::UnknownLogKey(other.id().clone())));
        let mut forged = l.head(3);
        forged.signature[0] ^= 1;
        assert_eq!(l.judge(None, &forged), Err(Refusal::BadHeadSignature(log_key().id().clone())));
        let mut elsewhere = l.head(3);
        elsewhere.partner = PartnerId(Uuid::from_u128(8));
        assert!(matches!(l.judge(None, &elsewhere), Err(Refusal::OtherPartner { .. })));
    }

    proptest! {
        /// Any head of the honest log is accepted (cosign or stale) from any cosigned state of
        /// it. A server whose log differs in a leaf the cosigned state holds is refused,
        /// whatever head it serves: it cannot prove a link to the cosigned root, even from
        /// an older head (its proofs come from its own, different tree).
        #[test]
        fn only_consistent_heads_are_accepted(cosigned in 1u64..40, offered in 1u64..40, differ_at in 0u64..40) {
            let honest = log(40, 0);
            prop_assert!(honest.judge(Some(state(&honest, cosigned)), &honest.head(offered)).is_ok());
            // A log whose leaf `differ_at` differs from the honest one.
            let (mut frontier, mut nodes) = (Frontier::default(), LevelNodes::default());
            let mut roots = vec![crate::merkle::empty_root()];
            for i in 0..40u64 {
                let leaf = if i == differ_at { [0xee; 32] } else { [i as u8; 32] };
                nodes.extend(frontier.push(leaf_hash(&leaf)));
                roots.push(frontier.root());
            }
            let forked = Log { nodes, roots };
            let verdict = forked.judge(Some(state(&honest, cosigned)), &forked.head(offered));
            if differ_at < cosigned {
                prop_assert!(verdict.unwrap_err().is_fork());
            } else {
                prop_assert!(verdict.is_ok());
            }
        }
    }
}
