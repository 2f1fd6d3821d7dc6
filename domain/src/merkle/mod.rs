//! The per-Partner Merkle log, with RFC 9162 (Certificate Transparency v2) hashing.
//!
//! - Leaves are the 32-byte envelope hashes of a Partner's events in commit order.
//! - `leaf_hash(d) = SHA-256(0x00 ‖ d)`, `node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)`,
//!   the empty tree's root is `SHA-256("")`.
//! - A tree of n > 1 leaves splits at k, the largest power of two smaller than n.
//! - Inclusion proofs are RFC 9162 §2.1.3 (PATH), consistency proofs §2.1.4 (SUBPROOF),
//!   verified with the algorithms of §2.1.3.2 and §2.1.4.2.
//!
//! [`Frontier`] appends in O(log n) and knows the root at every size; proofs are made
//! from stored perfect-subtree hashes through [`NodeSource`] in O(log² n) look-ups.

mod frontier;
mod proof;
mod verify;

pub use frontier::{CompletedNode, Frontier};
pub use proof::{consistency_proof, inclusion_proof, root_at, LevelNodes, MemoryNodes, NodeSource};
pub use verify::{verify_consistency, verify_inclusion};

use sha2::{Digest, Sha256};

pub type NodeHash = [u8; 32];

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum MerkleError {
    #[error("leaf {index} is not in a tree of {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < first <= second (got {first}, {second})")]
    BadSizes { first: u64, second: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongProofLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("node at level {level}, index {index} is not stored")]
    MissingNode { level: u32, index: u64 },
}

pub fn leaf_hash(data: &[u8]) -> NodeHash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &NodeHash, right: &NodeHash) -> NodeHash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

pub fn empty_root() -> NodeHash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (n > 1).
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests;
