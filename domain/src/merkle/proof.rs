//! Proofs from stored perfect subtrees.

use super::{empty_root, node_hash, split, MerkleError, NodeHash};
use std::collections::HashMap;

/// Stored hashes of perfect subtrees: (level, index) covers leaves
/// `[index · 2^level, (index + 1) · 2^level)`.
pub trait NodeSource {
    fn node(&self, level: u32, index: u64) -> Result<NodeHash, MerkleError>;
}

/// Nodes in memory (tests, exports, small trees).
#[derive(Default, Debug, Clone)]
pub struct MemoryNodes(HashMap<(u32, u64), NodeHash>);

impl MemoryNodes {
    pub fn insert(&mut self, node: super::CompletedNode) {
        self.0.insert((node.level, node.index), node.hash);
    }

    /// Builds every node of a tree from its leaf hashes.
    pub fn from_leaves(leaves: &[NodeHash]) -> Self {
        let mut nodes = Self::default();
        let mut frontier = super::Frontier::default();
        for leaf in leaves {
            for node in frontier.push(*leaf) {
                nodes.insert(node);
            }
        }
        nodes
    }
}

impl NodeSource for MemoryNodes {
    fn node(&self, level: u32, index: u64) -> Result<NodeHash, MerkleError> {
        self.0.get(&(level, index)).copied().ok_or(MerkleError::MissingNode { level, index })
    }
}

/// Every perfect-subtree node of a tree built left to right, in dense per-level
/// arrays (about 64 bytes per leaf): exports make proofs between many sizes with it.
#[derive(Default, Debug, Clone)]
pub struct LevelNodes(Vec<Vec<NodeHash>>);

impl LevelNodes {
    /// Takes the nodes a [`super::Frontier::push`] completed, in the order it returns them.
    pub fn extend(&mut self, completed: impl IntoIterator<Item = super::CompletedNode>) {
        for node in completed {
            let level = node.level as usize;
            if self.0.len() <= level {
                self.0.resize_with(level + 1, Vec::new);
            }
            // Nodes arrive in index order per level, so the index is the array position.
            if self.0[level].len() as u64 == node.index {
                self.0[level].push(node.hash);
            }
        }
    }
}

impl NodeSource for LevelNodes {
    fn node(&self, level: u32, index: u64) -> Result<NodeHash, MerkleError> {
        self.0
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

/// MTH of leaves `[start, start + n)`, where the range is one RFC 9162 recursion makes
/// (so its perfect parts are aligned).
fn range_hash(src: &impl NodeSource, start: u64, n: u64) -> Result<NodeHash, MerkleError> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.node(n.trailing_zeros(), start / n);
    }
    let k = split(n);
    Ok(node_hash(&range_hash(src, start, k)?, &range_hash(src, start + k, n - k)?))
}

/// The root of the tree of `size` leaves.
pub fn root_at(src: &impl NodeSource, size: u64) -> Result<NodeHash, MerkleError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]), leaf to root.
pub fn inclusion_proof(src: &impl NodeSource, index: u64, size: u64) -> Result<Vec<NodeHash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(src: &impl NodeSource, m: u64, start: u64, n: u64, out: &mut Vec<NodeHash>) -> Result<(), MerkleError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, k, out)?;
        out.push(range_hash(src, start + k, n - k)?);
    } else {
        path(src, m - k, start + k, n - k, out)?;
        out.push(range_hash(src, start, k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]) between sizes `first` and `second`.
pub fn consistency_proof(src: &impl NodeSource, first: u64, second: u64) -> Result<Vec<NodeHash>, MerkleError> {
    if first == 0 || first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    let mut proof = Vec::new();
    subproof(src, first, 0, second, true, &mut proof)?;
    Ok(proof)
}

fn subproof(
    src: &impl NodeSource,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<NodeHash>,
) -> Result<(), MerkleError> {
    if m == n {
        if !whole {
            out.push(range_hash(src, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, k, whole, out)?;
        out.push(range_hash(src, start + k, n - k)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(range_hash(src, start, k)?);
    }
    Ok(())
}
